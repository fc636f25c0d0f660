"""The ``fno`` command itself, run as a process against the real dev server while a
worker runs the cases (compressed policy: a day lasts a fifth of a second)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from access.errors import AccessRefused
from access.listing import CaseFilter, visibility_query
from models.case import Stage
from models.policy import Policy
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import custody_event, harness, patient_policy, until

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


def consultations(h, case_id: str) -> int:
    return sum(1 for e in h.store.access_log(case_id) if e.action == "consultation")


async def test_fno_lists_shows_and_decides_on_real_cases(dev_env, tmp_path):
    """Each ``fno`` is a process that takes about a second to start (more on a loaded
    machine), and the test runs a dozen one after the other: with the statutory shape
    at 0.2 s a day, the ICE tasking ended and was polled (no decision awaited meanwhile)
    and the French case's 20 working days and two chasers took it out of
    AWAITING_COUNTRY_REPLY within a few starts. The patient policy keeps every wait the
    test must not see end at minutes; the test polls for the state each command needs."""
    force = f"t{uuid.uuid4().hex[:8]}"
    # Before any case starts: every case of the test is opened on or after this day.
    today = datetime.now(UTC).date().isoformat()
    async with harness(dev_env, tmp_path, policy=patient_policy(), run_worker=False) as h:
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
                            after_days=0.01,
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
            casework = h.client.get_workflow_handle(casework_id)
            tasked = await until(
                casework,
                lambda s: s.stage is Stage.ICE_TASKING and "subject_located" in s.awaiting,
            )
            await until(
                h.client.get_workflow_handle(waiting.case_id()),
                lambda s: s.checks["FR"].reply_due_at is not None,
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
            # The refusal reaches the timeline by a signal after the update was refused.
            unchanged = await until(
                casework, lambda s: any(e.kind == "refusal" for e in s.timeline), what="refusal"
            )
            help_code, help_out, _ = await fno(env, "decide", casework_id, "--help")
            ok_code, _, ok_err = await fno(
                env,
                "decide",
                casework_id,
                "subject_located",
                "case_owner=Sam Jones",
                "--reason",
                "arrested on warrant",
            )
            located = await until(
                casework, lambda s: "detention" in s.awaiting, what="detention awaited"
            )
            reads = consultations(h, casework_id)
            no_reason_code, _, no_reason_err = await fno(env, "show", casework_id)
            reads_after_refused_read = consultations(h, casework_id)
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
    # Refused (exit status 1, the reason on stderr): the case is where it was, still
    # awaiting the decision it awaited, and the refusal is on its timeline.
    assert refused_code == 1 and refused_err.strip()
    assert unchanged.stage is tasked.stage and unchanged.awaiting == tasked.awaiting
    assert unchanged.deportation_decision is None
    assert help_code == 0 and "subject_located" in help_out and "case_owner" in help_out
    assert ok_code == 0, ok_err
    assert located.case_owner == "Sam Jones" and located.located
    # A read without a purpose: refused (exit status 2) and nothing written to the log.
    assert no_reason_code == 2 and no_reason_err.strip()
    assert reads >= 1 and reads_after_refused_read == reads  # the reads before were logged
    assert after_code == 0, after_err
    assert [r["case_id"] for r in owned] == [casework_id]
    timeline = json.loads(after_out)["timeline"]
    by_sam = [(e["kind"], e.get("actor")) for e in timeline if e.get("actor") == "Sam Jones"]
    assert by_sam == [("refusal", "Sam Jones"), ("decision", "Sam Jones")]
    [decided] = [e for e in timeline if e["kind"] == "decision"]
    assert decided["data"]["decision"]["kind"] == "subject_located"
    assert decided["data"]["decision"]["case_owner"] == "Sam Jones"
    assert decided["reason"] == "arrested on warrant"


async def test_fno_lists_cases_whose_deadline_passed_unattended(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    policy = Policy(day_seconds=0.2, eu_reply_working_days=1)
    async with harness(dev_env, tmp_path, policy=policy, run_worker=False) as h:
        late = custody_event(nationality="FR", force=force)
        h.world(late, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
        async with h.running():
            handle = await h.start(late)
            requested = await until(handle, lambda s: s.checks["FR"].reply_due_at is not None)
        due = requested.checks["FR"].reply_due_at
        # No worker now: the reply deadline passes and nobody acts on it.
        env = os.environ | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        }
        overdue = await listed(env, "--force", force, "--overdue", expect=1)
        code, out, err = await fno(env, "cases", "--stuck", "--overdue-minutes", "0", "--json")
        listed_at = datetime.now(UTC)
    assert [r["case_id"] for r in overdue] == [late.case_id()]
    assert code == 0, err
    [stuck] = [r for r in json.loads(out) if r["case_id"] == late.case_id()]
    # Listed for its deadline (``since``: the reply's, passed), not for a failing step.
    assert stuck["stage"] == "AWAITING_COUNTRY_REPLY" and stuck["last_error"] is None
    assert due - timedelta(seconds=1) <= datetime.fromisoformat(stuck["since"]) < listed_at


async def test_a_step_failing_for_long_is_listed_as_stuck_with_its_error(dev_env, tmp_path):
    from access.stuck import stuck_cases
    from sim.world_file import FaultSpec, WorldFile

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
    # The failing step by its activity type (the reason has no field of its own), and
    # the error the simulator raised, as it raised it.
    assert "request_acro_check" in case.why.split()
    assert case.last_error == "simulated acro outage" and case.since is not None


def test_failing_time_follows_the_retry_schedule():
    from access.stuck import failing_time

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
    with pytest.raises(AccessRefused):
        visibility_query(CaseFilter(force="x' OR 'a'='a"), now)
