"""Cases whose history the current workers cannot replay (issue 16), on the dev server.

A real worker runs a case; then a worker whose ``EncounterWorkflow`` is different code
(another class registered under the same workflow type, on the case's task queue) is
the only one left — as after a deployment that broke replay. Running and closed, such
a case is listed as stuck with ``why="cannot_replay"``; reading it answers 409 (HTTP),
409 (the web page) or exit status 3 (``fno show``) with the reason code, never a 500;
nothing is logged as a consultation, since nothing was read; and once workers that can
replay it run again, it reads and moves again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.worker import Worker

from access.errors import CANNOT_REPLAY
from access.stuck import ClosedProbe, StuckCase, stuck_cases
from models.case import Outcome, Stage
from models.policy import compressed_policy
from sim.world_file import ReplySpec, SubjectSpec
from tests.support import api_client, bearer, custody_event, eventually, harness, until
from tests.support_cli import api, fno, signed_in
from tests.support_web import browserless, live_server, sign_in

pytestmark = pytest.mark.devserver

READER = bearer("caseworker", "Sam Jones", X_Reason="unreadable case test")


@workflow.defn(name="EncounterWorkflow", sandboxed=False)
class IncompatibleEncounter:
    """Not the encounter's code: it starts with a timer where the encounter's history
    has its first steps, so no history of a real encounter replays on it."""

    @workflow.run
    async def run(self, _input: Any) -> None:
        await workflow.sleep(timedelta(days=1))

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {}


@asynccontextmanager
async def incompatible_worker(h: Any) -> AsyncIterator[Worker]:
    async with Worker(h.client, task_queue=h.task_queue, workflows=[IncompatibleEncounter]) as w:
        yield w


@asynccontextmanager
async def fno_user(h: Any, tmp_path: Any) -> AsyncIterator[dict[str, str]]:
    """``fno`` as Sam Jones (caseworker), signed in to the HTTP API on a local port."""
    async with live_server(api(h)) as url:
        yield await signed_in(
            tmp_path, url, f"sam-{uuid.uuid4().hex[:8]}", "Sam Jones", "caseworker"
        )


async def stuck_row(h: Any, case_id: str, **kw: Any) -> StuckCase | None:
    rows = await stuck_cases(h.client, now=datetime.now(UTC), **kw)
    return next((r for r in rows if r.case_id == case_id), None)


def personal_data(event: Any) -> list[str]:
    s = event.subject
    return [s.family_name, s.given_names, str(s.date_of_birth), s.pnc_id, s.place_of_birth]


def consultations(h: Any, case_id: str) -> list[Any]:
    return [
        e for e in h.store.access_log(case_id) if e.action == "consultation" and e.role != "system"
    ]


async def test_a_running_case_that_cannot_replay_is_stuck_and_its_reads_answer_409(
    dev_env, tmp_path
):
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2), run_worker=False) as h:
        event = custody_event(nationality="FR")
        h.world(event, SubjectSpec(replies={"FR": ReplySpec(after_days=None)}))
        async with h.running():
            handle = await h.start(event)
            await until(handle, lambda s: s.checks["FR"].reply_due_at is not None)

        async with incompatible_worker(h):
            # Its next timer fires, the workflow task fails to replay, Temporal retries it.
            row = await eventually(
                lambda: stuck_row(h, handle.id), what="the case listed as cannot_replay"
            )
            assert row.why == CANNOT_REPLAY, row
            async with api_client(h.client, h.store) as http:
                read = await http.get(f"/cases/{handle.id}", headers=READER)
                listed = await http.get("/stuck-cases", params={"probe_closed": 0}, headers=READER)
                # A decision to it is not sent (it would wait for a task that never ends).
                decided = await http.post(
                    f"/cases/{handle.id}/decisions",
                    json={
                        "reason": "unreadable case test",
                        "decision": {"kind": "resume_after_fault"},
                    },
                    headers=READER,
                )
            async with fno_user(h, tmp_path) as env:
                shown_code, shown, _ = await fno(
                    env, "show", handle.id, "--json", "--reason", "test"
                )

        assert row.last_error and row.last_error.startswith("[TMPRL1100]")
        assert row.since is not None and row.closed_at is None
        assert read.status_code == 409, read.text
        body = read.json()
        assert (body["case_id"], body["why"], body["listed_as_stuck"]) == (
            handle.id,
            CANNOT_REPLAY,
            True,
        )
        assert body["closed_at"] is None and body["error"].startswith("[TMPRL1100]")
        assert [r["why"] for r in listed.json() if r["case_id"] == handle.id] == [CANNOT_REPLAY]
        assert decided.status_code == 409 and decided.json()["why"] == CANNOT_REPLAY
        assert shown_code == 3
        assert json.loads(shown)["why"] == CANNOT_REPLAY
        assert consultations(h, handle.id) == []  # nothing was read: no consultation
        for text in (read.text, listed.text, row.model_dump_json()):
            assert not [p for p in personal_data(event) if p in text]

        # Workers that replay it again: the case takes up its next step and reads again.
        async with h.running():
            await eventually(
                lambda: _not_stuck(h, handle.id), within=180, what="the case moving again"
            )
            async with api_client(h.client, h.store) as http:
                again = await http.get(f"/cases/{handle.id}", headers=READER)
    assert again.status_code == 200 and again.json()["case_id"] == handle.id
    assert len(consultations(h, handle.id)) == 1


async def _not_stuck(h: Any, case_id: str) -> bool:
    described = await h.client.get_workflow_handle(case_id).describe()
    task = described.raw_description.pending_workflow_task
    return task.attempt <= 1 and await stuck_row(h, case_id) is None


async def test_a_closed_case_that_cannot_replay_is_listed_and_its_reads_answer_409(
    dev_env, tmp_path
):
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2), run_worker=False) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        async with h.running():
            handle = await h.start(event)
            assert (await handle.result()).outcome is Outcome.NO_TRACE

        async with incompatible_worker(h):
            row = await eventually(
                lambda: stuck_row(h, handle.id, closed=ClosedProbe()),
                what="the closed case listed as cannot_replay",
            )
            # The worker's periodic scan (no ClosedProbe) replays no closed case.
            unprobed = await stuck_row(h, handle.id)
            async with api_client(h.client, h.store) as http:
                read = await http.get(f"/cases/{handle.id}", headers=READER)
                listed = await http.get("/stuck-cases", headers=READER)
            async with browserless(h.client, h.store) as web:
                await sign_in(web, "sam")
                page = await web.get(f"/web/cases/{handle.id}", params={"purpose": "test"})
            async with fno_user(h, tmp_path) as env:
                shown_code, shown, _ = await fno(
                    env, "show", handle.id, "--json", "--reason", "test"
                )
                stuck_code, stuck_out, stuck_err = await fno(env, "cases", "--stuck", "--json")

        assert row.why == CANNOT_REPLAY and row.closed_at is not None, row
        assert row.last_error and row.last_error.startswith("[TMPRL1100]")
        assert unprobed is None
        assert read.status_code == 409
        body = read.json()
        assert (body["case_id"], body["why"], body["listed_as_stuck"]) == (
            handle.id,
            CANNOT_REPLAY,
            True,
        )
        assert body["closed_at"] is not None
        assert [r["why"] for r in listed.json() if r["case_id"] == handle.id] == [CANNOT_REPLAY]
        assert page.status_code == 409
        assert shown_code == 3 and json.loads(shown)["why"] == CANNOT_REPLAY
        assert stuck_code == 0, stuck_err
        [cli_row] = [r for r in json.loads(stuck_out) if r["case_id"] == handle.id]
        assert cli_row["why"] == CANNOT_REPLAY and cli_row["closed_at"] is not None
        assert consultations(h, handle.id) == []
        for text in (read.text, listed.text, stuck_out, row.model_dump_json()):
            assert not [p for p in personal_data(event) if p in text]

        # With the encounter's own code back, the closed case reads and is not listed.
        async with h.running():
            async with api_client(h.client, h.store) as http:
                again = await http.get(f"/cases/{handle.id}", headers=READER)
            after = await stuck_row(h, handle.id, closed=ClosedProbe())
    assert again.status_code == 200 and again.json()["stage"] == Stage.CLOSED.value
    assert after is None
    assert len(consultations(h, handle.id)) == 1


def test_a_replay_error_is_kept_to_its_first_line_without_payload_data():
    from access.errors import is_replay_failure, safe_error

    core = (
        "[TMPRL1100] Nondeterminism error: Timer machine does not handle this event: "
        "HistoryEvent(id: 5, UpsertWorkflowSearchAttributes)"
    )
    assert is_replay_failure(core) and not is_replay_failure("Encoded failure")
    assert safe_error(core + "\n  stack line 1\n  stack line 2") == core
    cut = safe_error("[TMPRL1100] Nondeterminism error: Payload { data: [75, 111] }")
    assert "75" not in cut and cut.startswith("[TMPRL1100]")
    assert len(safe_error("[TMPRL1100] " + "x" * 1000)) == 300
