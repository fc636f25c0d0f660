"""``fno`` end to end: each command a process, talking to the real HTTP API (uvicorn on a
local port, the tests' local issuer) on the real dev server while a worker runs the
cases (compressed policy: a day lasts a fifth of a second).

Each person signs in with ``fno login`` in a config directory of their own (their own
``XDG_CONFIG_HOME``), as two people on two machines would."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cli import session
from cli.render import AUTH_EXIT
from models.case import Stage
from models.policy import Policy
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    add_user,
    allocate,
    custody_event,
    eventually,
    harness,
    patient_policy,
    state_of,
    system_key,
    token,
    until,
)
from tests.support_cli import api, fno, person_env, signed_in
from tests.support_web import live_server

pytestmark = pytest.mark.devserver


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
    return sum(
        1 for e in h.store.access_log(case_id) if e.action == "consultation" and e.role != "system"
    )


async def test_sign_in_list_show_decide_audit_and_sign_out(dev_env, tmp_path):
    """The patient policy keeps every wait the test must not see end at minutes; the
    test polls for the state each command needs."""
    force = f"t{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date().isoformat()  # every case is opened on or after it
    async with harness(dev_env, tmp_path, policy=patient_policy(), run_worker=False) as h:
        async with h.running(), live_server(api(h)) as url:
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
            first, *_ = [await h.start(e, via_intake=True) for e in (no_trace, serious, waiting)]
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

            sam = await signed_in(tmp_path, url, "sam", "Sam Jones", "caseworker")
            sue = await signed_in(tmp_path, url, "sue", "Sue Park", "supervisor")
            who_code, who, who_err = await fno(sam, "whoami", "--json")

            everything = await listed(sam, "--force", force, expect=4)
            by_nationality = await listed(sam, "--force", force, "--nationality", "PL", expect=2)
            no_trace_rows = await listed(sam, "--force", force, "--outcome", "NO_TRACE", expect=1)
            casework_rows = await listed(sam, "--force", force, "--kind", "casework", expect=1)
            mine = await listed(sam, "--force", force, "--mine", expect=1)
            awaiting_reply = await listed(
                sam, "--force", force, "--stage", "AWAITING_COUNTRY_REPLY", expect=1
            )
            none_before = await listed(
                sam, "--force", force, "--opened-before", "2000-01-01", expect=0
            )
            after = await listed(
                sam, "--force", force, "--opened-after", today, "--sort", "deadline",
                "--page-size", "2", expect=2,
            )  # fmt: skip

            shown_code, shown, _ = await fno(sam, "show", casework_id, "--json", "--reason", "CLI")
            refused_code, _, refused_err = await fno(
                sam, "decide", casework_id, "deportation", "decision=deport", "--reason", "soon"
            )
            # The refusal is in the case store's log (the timeline shows it from there).
            unchanged = await state_of(casework)
            help_code, help_out, _ = await fno(sam, "decide", casework_id, "--help")
            ok_code, _, ok_err = await fno(
                sam, "decide", casework_id, "subject_located", "case_owner=Sam Jones",
                "--reason", "arrested on warrant",
            )  # fmt: skip
            await allocate(casework, "Sam Jones")  # issue 21: then a CC manager allocates
            located = await until(  # issue 21: the located checklist's first decision
                casework,
                lambda s: "offending_history_review" in s.awaiting,
                what="offending history review awaited",
            )
            reads = consultations(h, casework_id)
            no_reason_code, _, no_reason_err = await fno(sam, "show", casework_id)
            reads_after_refused_read = consultations(h, casework_id)
            after_code, after_out, after_err = await fno(
                sam, "show", casework_id, "--json", "--reason", "CLI test — détention"
            )
            # The tables (no --json) print from the same answers.
            tables = [
                await fno(sam, "show", casework_id, "--reason", "CLI table"),
                await fno(sam, "cases", "--force", force),
                await fno(sam, "cases", "--stuck", "--probe-closed", "0"),
                await fno(sam, "whoami"),
                await fno(sue, "audit", "--actor", "Sam Jones", "--since", today),
            ]
            not_supervisor, not_out, not_err = await fno(sam, "audit", casework_id)
            audit_code, audit_out, audit_err = await fno(sue, "audit", casework_id, "--json")
            by_actor_code, by_actor, _ = await fno(
                sue, "audit", "--actor", "Sam Jones", "--since", today, "--json"
            )
            owned = await listed(sam, "--force", force, "--owner", "Sam Jones", expect=1)

            token_file = session.token_path(sam)
            mode = stat.S_IMODE(token_file.stat().st_mode)
            out_code, _, _ = await fno(sam, "logout")
            gone_code, _, gone_err = await fno(sam, "show", casework_id, "--reason", "again")

    assert closed.outcome.name == "NO_TRACE"
    assert who_code == 0, who_err
    me = json.loads(who)
    assert (me["name"], me["role"]) == ("Sam Jones", "caseworker")
    assert {r["case_id"] for r in everything} == {
        no_trace.case_id(),
        serious.case_id(),
        waiting.case_id(),
        casework_id,
    }
    assert {r["case_id"] for r in by_nationality} == {serious.case_id(), casework_id}
    assert [r["case_id"] for r in no_trace_rows] == [no_trace.case_id()]
    assert [r["case_id"] for r in casework_rows] == [casework_id]
    assert [r["case_id"] for r in mine] == [casework_id]  # "mine": the token's role
    assert [r["case_id"] for r in awaiting_reply] == [waiting.case_id()]
    assert none_before == [] and len(after) == 2
    assert shown_code == 0 and json.loads(shown)["awaiting"] == ["subject_located"]
    # Refused by the case (exit status 1, the reason on stderr): still where it was.
    assert refused_code == 1 and refused_err.strip()
    assert unchanged.stage is tasked.stage and unchanged.awaiting == tasked.awaiting
    assert unchanged.deportation_decision is None
    # The kind by its form's title and its code; no deprecated field (case_owner) asked.
    assert help_code == 0 and "subject_located" in help_out and "Subject located" in help_out
    assert ok_code == 0, ok_err
    assert located.case_owner == "Sam Jones" and located.located
    # A read without a purpose: refused (exit status 2) and nothing written to the log.
    assert no_reason_code == AUTH_EXIT and no_reason_err.strip()
    assert reads >= 1 and reads_after_refused_read == reads
    assert after_code == 0, after_err
    assert [r["case_id"] for r in owned] == [casework_id]
    # Who decided is who signed in: the name came from the token, never from fno.
    timeline = json.loads(after_out)["timeline"]
    by_sam = [(e["kind"], e.get("role")) for e in timeline if e.get("actor") == "Sam Jones"]
    assert by_sam == [("refusal", "caseworker"), ("decision", "caseworker")]
    [decided] = [e for e in timeline if e["kind"] == "decision" and e.get("actor") == "Sam Jones"]
    assert decided["data"]["decision"]["kind"] == "subject_located"
    assert decided["reason"] == "arrested on warrant"
    # The access log: for supervisors only; it names the proven people, and the purpose
    # as typed (X-Reason sent as UTF-8).
    assert not_supervisor == AUTH_EXIT
    assert "arrested on warrant" not in not_out + not_err  # nothing of the log shown
    assert audit_code == 0, audit_err
    log = json.loads(audit_out)
    assert {(e["actor"], e["role"]) for e in log if e["action"] == "consultation"} == {
        ("Sam Jones", "caseworker")
    }
    assert any(e["justification"] == "CLI test — détention" for e in log)
    assert by_actor_code == 0
    assert casework_id in {e["case_id"] for e in json.loads(by_actor)}
    assert [code for code, _, _ in tables] == [0] * len(tables), [e for _, _, e in tables]
    assert casework_id in tables[0][1] and "Sam Jones" in tables[3][1]
    assert mode == 0o600
    assert out_code == 0 and not token_file.exists()
    assert gone_code == AUTH_EXIT and "fno login" in gone_err


async def test_a_token_from_elsewhere_and_a_refused_one(dev_env, tmp_path):
    """``fno login --token-stdin``: the API is asked who the token is for before it is
    kept; a token it refuses (expired, here) is not stored. A wrong password is exit 2."""
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        async with live_server(api(h)) as url:
            ann = person_env(tmp_path / "ann", url)
            good_code, _, good_err = await fno(
                ann, "login", "--token-stdin", stdin=token("senior_caseworker", "Ann Lee")
            )
            kept = json.loads(session.token_path(ann).read_text())
            who_code, who, _ = await fno(ann, "whoami", "--json")

            bob = person_env(tmp_path / "bob", url)
            expired = token("caseworker", "Bob Hall", lifetime=timedelta(seconds=-60))
            bad_code, _, bad_err = await fno(bob, "login", "--token-stdin", stdin=expired)

            add_user("cat", "Cat Wu", "caseworker", "right-password")
            cat = person_env(tmp_path / "cat", url)
            wrong_code, _, _ = await fno(
                cat, "login", "-u", "cat", "--password-stdin", stdin="wrong-password\n"
            )
    assert good_code == 0, good_err
    assert kept["api_url"] == url and kept["access_token"]
    assert who_code == 0 and json.loads(who)["role"] == "senior_caseworker"
    assert bad_code == AUTH_EXIT and bad_err.strip()
    assert not session.token_path(bob).exists()
    assert wrong_code == AUTH_EXIT and not session.token_path(cat).exists()


async def test_intake_and_overdue_cases_through_the_api(dev_env, tmp_path):
    """``fno intake`` with a custody system's key starts cases; a key for another force
    is refused for that event (exit 2); ``fno cases --overdue`` and ``--stuck`` list the
    case whose deadline passed with no worker to act on it."""
    force = f"t{uuid.uuid4().hex[:8]}"
    policy = Policy(day_seconds=0.2, eu_reply_working_days=1)
    async with harness(dev_env, tmp_path, policy=policy, run_worker=False) as h:
        late = custody_event(nationality="FR", force=force)
        h.world(late, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
        events = tmp_path / "events.jsonl"
        events.write_text(late.model_dump_json() + "\n")
        h.started.append(late.case_id())  # ended with the test (fno starts it)
        async with live_server(api(h)) as url:
            system = person_env(tmp_path / "custody", url)
            own = system | {"FNO_API_CLIENT_KEY": _key(system_key(forces=[force]))}
            other = system | {"FNO_API_CLIENT_KEY": _key(system_key(forces=["kent"]))}
            refused_code, refused_out, _ = await fno(other, "intake", str(events))
            async with h.running():
                started_code, started_out, started_err = await fno(own, "intake", str(events))
                again_code, again_out, _ = await fno(own, "intake", str(events))
                handle = h.client.get_workflow_handle(late.case_id())
                requested = await until(handle, lambda s: s.checks["FR"].reply_due_at is not None)
            # No worker now: the reply deadline passes and nobody acts on it.
            sam = await signed_in(tmp_path, url, "sam2", "Sam Jones", "caseworker")
            overdue = await listed(sam, "--force", force, "--overdue", expect=1)
            code, out, err = await fno(sam, "cases", "--stuck", "--overdue-minutes", "0", "--json")
            listed_at = datetime.now(UTC)
            # Ended by hand (an operator's terminate): listed as stuck with its code.
            await handle.terminate(reason="by hand")

            async def ended() -> list[dict] | None:
                code, out, err = await fno(sam, "cases", "--stuck", "--probe-closed", "0", "--json")
                assert code == 0, err
                rows = [r for r in json.loads(out) if r["case_id"] == late.case_id()]
                return rows if rows and rows[0]["code"] == "terminated" else None

            [terminated] = await eventually(ended, what="the terminated case listed")
    assert refused_code == AUTH_EXIT
    assert json.loads(refused_out)["status"] == "refused"
    assert started_code == 0, started_err
    assert json.loads(started_out) | {"detail": None} == {
        "status": "started",
        "case_id": late.case_id(),
        "detail": None,
    }
    assert again_code == 0 and json.loads(again_out)["status"] == "already_received"
    assert [r["case_id"] for r in overdue] == [late.case_id()]
    assert code == 0, err
    [stuck] = [r for r in json.loads(out) if r["case_id"] == late.case_id()]
    assert stuck["stage"] == "AWAITING_COUNTRY_REPLY" and stuck["last_error"] is None
    due = requested.checks["FR"].reply_due_at
    assert due - timedelta(seconds=1) <= datetime.fromisoformat(stuck["since"]) < listed_at
    assert terminated["last_error"] == "by hand"


def _key(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")
