"""The ``fno`` command itself, run as a process against the real dev server while a
worker runs the cases (compressed policy: a day lasts a fifth of a second)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime

import pytest

from access.service import AccessRefused, CaseFilter, visibility_query
from activities.simulator import ConvictionSpec, ReplySpec, SubjectSpec
from models.policy import compressed_policy
from tests.support import custody_event, harness, until

pytestmark = pytest.mark.devserver


async def fno(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.fno",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def listed(env, *filters: str, expect: int, within: float = 30.0) -> list[dict]:
    """``fno cases --json`` until the visibility store shows ``expect`` rows."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        code, out, err = await fno(env, "cases", "--json", *filters)
        assert code == 0, err
        rows = json.loads(out)
        if len(rows) == expect or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.5)


async def test_fno_lists_shows_and_decides_on_real_cases(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2), run_worker=False) as h:
        async with h.running():
            no_trace = custody_event(nationality="DE", force=force)
            serious = custody_event(nationality="PL", force=force)
            waiting = custody_event(nationality="FR", force=force)
            h.world(no_trace, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
            h.world(
                serious,
                SubjectSpec(
                    replies={
                        "PL": ReplySpec(
                            after_days=1,
                            convictions=[ConvictionSpec(offence="GBH")],
                            certificate_purpose="immigration_deportation",
                        )
                    },
                    located_after_days=None,
                ),
            )
            h.world(waiting, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
            first, *_ = [await h.start(event) for event in (no_trace, serious, waiting)]
            closed = await first.result()
            state = await until(
                h.client.get_workflow_handle(serious.case_id()), lambda s: s.casework_id is not None
            )
            casework_id = state.casework_id
            await until(
                h.client.get_workflow_handle(casework_id), lambda s: "subject_located" in s.awaiting
            )

            env = os.environ | {
                "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                "TEMPORAL_NAMESPACE": dev_env.client.namespace,
                "FNO_DATABASE_URL": str(h.store.engine.url),
                "FNO_HOME": str(tmp_path),
                "FNO_ACTOR": "Sam Jones",
                "FNO_ROLE": "caseworker",
            }
            everything = await listed(env, "--force", force, expect=4)
            by_nationality = await listed(env, "--force", force, "--nationality", "PL", expect=2)
            no_trace_rows = await listed(env, "--force", force, "--outcome", "NO_TRACE", expect=1)
            casework_rows = await listed(env, "--force", force, "--kind", "casework", expect=1)
            mine = await listed(env, "--force", force, "--mine", expect=1)
            awaiting_reply = await listed(
                env, "--force", force, "--stage", "AWAITING_COUNTRY_REPLY", expect=1
            )
            today = datetime.now(UTC).date().isoformat()
            none_before = await listed(
                env, "--force", force, "--opened-before", "2000-01-01", expect=0
            )
            after = await listed(
                env,
                "--force",
                force,
                "--opened-after",
                today,
                "--sort",
                "deadline",
                "--page-size",
                "2",
                expect=2,
            )

            shown_code, shown, _ = await fno(
                env, "show", casework_id, "--json", "--reason", "CLI test"
            )
            refused_code, _, refused_err = await fno(
                env, "decide", casework_id, "deportation", "decision=deport", "--reason", "too soon"
            )
            help_code, help_out, _ = await fno(env, "decide", casework_id, "--help")
            ok_code, ok_out, ok_err = await fno(
                env,
                "decide",
                casework_id,
                "subject_located",
                "case_owner=Sam Jones",
                "--reason",
                "arrested on warrant",
            )
            no_reason_code, _, no_reason_err = await fno(env, "show", casework_id)
            after_code, after_out, after_err = await fno(
                env, "show", casework_id, "--json", "--reason", "CLI test"
            )

        owned = await listed(env, "--force", force, "--owner", "Sam Jones", expect=1)

    assert closed.outcome.name == "NO_TRACE"
    assert {r["case_id"] for r in everything} == {
        no_trace.case_id(),
        serious.case_id(),
        waiting.case_id(),
        casework_id,
    }
    assert {r["case_id"] for r in by_nationality} == {serious.case_id(), casework_id}
    assert [r["case_id"] for r in no_trace_rows] == [no_trace.case_id()]
    assert [r["case_id"] for r in casework_rows] == [casework_id]
    assert [r["case_id"] for r in mine] == [casework_id]
    assert [r["case_id"] for r in awaiting_reply] == [waiting.case_id()]
    assert none_before == [] and len(after) == 2
    assert shown_code == 0 and json.loads(shown)["awaiting"] == ["subject_located"]
    assert refused_code == 1
    assert "deportation decision is not expected" in refused_err
    assert help_code == 0 and "subject_located" in help_out and "case_owner" in help_out
    assert ok_code == 0, ok_err
    assert "Accepted" in ok_out
    assert no_reason_code == 2 and "State the purpose" in no_reason_err
    assert after_code == 0, after_err
    assert [r["case_id"] for r in owned] == [casework_id]
    timeline = json.loads(after_out)["timeline"]
    kinds = [(e["kind"], e.get("actor")) for e in timeline]
    assert ("refusal", "Sam Jones") in kinds and ("decision", "Sam Jones") in kinds


async def test_fno_lists_cases_whose_deadline_passed_unattended(dev_env, tmp_path):
    from models.policy import Policy

    force = f"t{uuid.uuid4().hex[:8]}"
    policy = Policy(day_seconds=0.2, eu_reply_working_days=1)
    async with harness(dev_env, tmp_path, policy=policy, run_worker=False) as h:
        late = custody_event(nationality="FR", force=force)
        h.world(late, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
        async with h.running():
            handle = await h.start(late)
            await until(handle, lambda s: s.checks["FR"].reply_due_at is not None)
        # No worker now: the reply deadline passes and nobody acts on it.
        env = os.environ | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        }
        overdue = await listed(env, "--force", force, "--overdue", expect=1)
        code, out, err = await fno(env, "cases", "--stuck", "--overdue-minutes", "0", "--json")
    assert [r["case_id"] for r in overdue] == [late.case_id()]
    assert code == 0, err
    [stuck] = [r for r in json.loads(out) if r["case_id"] == late.case_id()]
    assert stuck["why"].startswith("deadline passed at")


async def test_a_step_failing_for_long_is_listed_as_stuck_with_its_error(dev_env, tmp_path):
    from datetime import timedelta

    from access.service import stuck_cases
    from activities.simulator import FaultSpec, WorldFile

    world = WorldFile(faults=FaultSpec(rate=1.0, systems=["acro"]))  # ACRO is down
    async with harness(dev_env, tmp_path, world=world) as h:
        event = custody_event(nationality="DE")
        handle = await h.start(event)
        for _ in range(60):
            found = [
                c
                for c in await stuck_cases(
                    h.client, now=datetime.now(UTC), failing_for=timedelta(seconds=1)
                )
                if c.case_id == handle.id
            ]
            if found:
                break
            await asyncio.sleep(0.5)
    [case] = found
    assert case.why.startswith("request_acro_check failing for about")
    assert case.last_error == "simulated acro outage"


def test_failing_time_follows_the_retry_schedule():
    from datetime import timedelta

    from access.service import failing_time

    assert failing_time(1) == timedelta(0)
    assert failing_time(4) == timedelta(seconds=1 + 2 + 4)
    # Doubling up to 256 s, then capped at five minutes.
    assert failing_time(17) == timedelta(seconds=511 + 7 * 300)


def test_filters_become_a_quoted_visibility_query():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    query = visibility_query(
        CaseFilter(
            stage="ICE_TASKING",
            nationality="PL",
            awaiting_role="caseworker",
            overdue=True,
            opened_after=now,
            running_only=True,
        ),
        now,
    )
    assert query == (
        "FnoStage = 'ICE_TASKING' AND FnoNationality = 'PL' AND FnoAwaitingRole = 'caseworker' "
        "AND FnoNextDeadline < '2026-11-22T12:00:00+00:00' "
        "AND StartTime >= '2026-11-22T12:00:00+00:00' AND ExecutionStatus = 'Running'"
    )
    with pytest.raises(AccessRefused, match="may not contain quotes"):
        visibility_query(CaseFilter(force="x' OR 'a'='a"), now)
