"""Search attributes set at the start by intake, and upserted only when they change.

A case started by intake (the HTTP API, the starter, ``fno``) carries its kind, stage,
nationality and force from the moment it exists — listed even while no worker runs —
and the case then upserts only the attributes that change: one history event and one
visibility write fewer per case (three upserts down to two on the "no trace" path).
Cases started before this (no attributes at the start) keep upserting them all, so
their recorded histories replay unchanged (tests/test_replay.py).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from access.stuck import stuck_cases
from models import search
from models.case import Outcome, Stage, opening_stage
from models.policy import compressed_policy
from sim.world_file import ReplySpec, SubjectSpec
from tests.support import custody_event, eventually, harness, state_of, until

UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED


# The SDK's own upsert beside a patch marker (the front door's verdict on the start).
PATCHES = "TemporalChangeVersion"


def upserts(history: WorkflowHistory) -> list[dict[str, Any]]:
    """The attribute names each upsert event of the case's own carries (not the SDK's
    ``TemporalChangeVersion`` upsert of a patch marker)."""
    fields = [
        dict(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in history.events
        if e.event_type == UPSERT
    ]
    return [f for f in fields if set(f) != {PATCHES}]


def patches_only(event: Any) -> bool:
    """An upsert of the SDK's patch attribute alone."""
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    return set(fields.indexed_fields) == {PATCHES}


def test_the_opening_stage_follows_what_the_countries_need():
    complete = custody_event(nationality="PL")
    assert opening_stage(complete) is Stage.AWAITING_COUNTRY_REPLY
    # Poland needs both parents' names.
    assert opening_stage(custody_event(nationality="PL", mother_name=None)) is (
        Stage.AWAITING_IDENTITY_DATA
    )
    # A country lived in that needs a field the event lacks (France: place of birth).
    assert opening_stage(
        custody_event(nationality="DE", other_countries=["FR"], place_of_birth=None)
    ) is (Stage.AWAITING_IDENTITY_DATA)
    attrs = search.opening_search_attributes(complete)
    assert attrs.get(search.CASE_KIND) == "encounter"
    assert attrs.get(search.STAGE) == "AWAITING_COUNTRY_REPLY"
    assert attrs.get(search.NATIONALITY) == "PL"
    assert attrs.get(search.FORCE) == complete.force
    # Nothing that identifies the person.
    assert {p.key.name for p in attrs} == {"FnoCaseKind", "FnoStage", "FnoNationality", "FnoForce"}


async def test_a_case_from_intake_upserts_only_what_changes(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.001)}))
        handle = await h.start(event, via_intake=True)
        # (A handle of a case started by intake does not skip time by itself.)
        state = await until(handle, lambda s: s.stage is Stage.CLOSED, skip=ts_env)
        assert state.outcome is Outcome.NO_TRACE
        history = await handle.fetch_history()
        # Not at the opening (the start set it): awaiting the reply (the deadline),
        # and closing (stage, outcome, deadline gone).
        changed = upserts(history)
        assert len(changed) == 2, changed
        assert set(changed[0]) == {"FnoNextDeadline"}
        assert set(changed[1]) >= {"FnoStage", "FnoOutcome", "FnoNextDeadline"}
        own = [e for e in history.events if e.event_type == UPSERT and not patches_only(e)]
        first_upsert = own[0].event_id
        first_activity = next(e.event_id for e in history.events if e.event_type == SCHEDULED)
        assert first_activity < first_upsert
        state = await state_of(handle)
        assert state.search_attributes_at_start is True
        assert state.stage is Stage.CLOSED


async def test_a_case_started_without_attributes_still_upserts_them_all(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.001)}))
        handle = await h.start(event)
        assert (await handle.result()).outcome is Outcome.NO_TRACE
        changed = upserts(await handle.fetch_history())
        assert len(changed) == 3
        assert "FnoCaseKind" in changed[0] and "FnoStage" in changed[0]


async def test_a_case_awaiting_the_officer_opens_at_that_stage(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL", father_name=None, mother_name=None)
        h.world(event, SubjectSpec(replies={"PL": ReplySpec(after_days=1)}))
        handle = await h.start(event, via_intake=True)
        state = await until(handle, lambda s: s.identity_data_requested, what="request")
        assert state.stage is Stage.AWAITING_IDENTITY_DATA is opening_stage(event)
        # The officer's deadline and awaited role changed; the stage did not.
        history = await handle.fetch_history()
        for names in upserts(history):
            assert "FnoStage" not in names, names


async def listed(client: Client, query: str, case_id: str) -> bool:
    """``case_id`` is among the workflows ``query`` lists (visibility catches up)."""

    async def found() -> bool:
        return any([w.id async for w in client.list_workflows(query) if w.id == case_id])

    return bool(await eventually(found, what=f"{case_id} listed by {query}"))


async def test_a_case_is_listed_by_stage_before_any_worker_runs(dev_env, tmp_path):
    policy = compressed_policy(0.5)
    async with harness(dev_env, tmp_path, policy=policy, run_worker=False) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event, via_intake=True)
        query = (
            "FnoCaseKind = 'encounter' AND FnoStage = 'AWAITING_COUNTRY_REPLY' "
            f"AND FnoNationality = 'DE' AND FnoForce = '{event.force}'"
        )
        assert await listed(dev_env.client, query, handle.id)
        described = await handle.describe()
        assert described.typed_search_attributes.get(search.STAGE) == "AWAITING_COUNTRY_REPLY"
        # A worker then takes it to its outcome; the attributes follow.
        async with h.running():
            assert (await handle.result()).outcome is Outcome.NO_TRACE
        closed = "FnoStage = 'CLOSED' AND FnoOutcome = 'NO_TRACE'"
        assert await listed(dev_env.client, closed, handle.id)


@workflow.defn(name="BrokenCaseForTest", sandboxed=False)
class BrokenCase:
    """A case whose own code fails at once: Temporal retries its workflow task for ever."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in the case's own code")


async def test_a_case_no_worker_takes_up_or_whose_code_fails_is_listed_as_stuck(dev_env, tmp_path):
    client = dev_env.client
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.5), run_worker=False) as h:
        event = custody_event(nationality="DE")
        waiting = await h.start(event, via_intake=True)
        # With no worker, the case is listed (attributes from the start) but not stuck
        # yet; half an hour later (the scan's default threshold) it is, with the reason.
        assert await listed(client, "FnoCaseKind = 'encounter'", waiting.id)
        now = datetime.now(UTC)
        assert waiting.id not in {s.case_id for s in await stuck_cases(client, now=now)}
        later = now + timedelta(minutes=31)
        rows = {s.case_id: s for s in await stuck_cases(client, now=later)}
        # Listed for its next step waiting since the start (no deadline: none is set
        # before a worker runs; no step failing: none has run).
        no_worker = rows[waiting.id]
        assert no_worker.stage == "AWAITING_COUNTRY_REPLY" and no_worker.last_error is None
        assert no_worker.since is not None and abs(no_worker.since - now) < timedelta(minutes=1)
        assert (await waiting.describe()).raw_description.pending_workflow_task.attempt == 1

        queue = f"tq-broken-{uuid.uuid4().hex[:8]}"
        kind = TypedSearchAttributes([SearchAttributePair(search.CASE_KIND, "test")])
        broken = await client.start_workflow(
            BrokenCase.run,
            id=f"broken-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            search_attributes=kind,
        )
        async with Worker(client, task_queue=queue, workflows=[BrokenCase]):
            for _ in range(100):
                described = await broken.describe()
                if described.raw_description.pending_workflow_task.attempt >= 2:
                    break
                await asyncio.sleep(0.1)
            rows = {s.case_id: s for s in await stuck_cases(client, now=later)}
        await broken.terminate(reason="test over")
        # Listed for its own workflow task failing again and again since it started
        # (it has no stage, no deadline and no step of its own).
        failing = rows[broken.id]
        assert failing.stage is None and failing.last_error is None
        assert failing.since is not None and abs(failing.since - now) < timedelta(minutes=1)
