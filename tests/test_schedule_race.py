"""A worker's start-up update of the reconciliation's Schedule against an operator's
pause, resume or note on the real dev server (issue 16).

The worker reads the Schedule (DescribeSchedule) and then writes it (UpdateSchedule);
here the operator acts in between, deterministically: the worker's connection answers
its first describe only after the operator's pause or resume has been sent. Whatever
the worker writes must not undo it. The worker has a connection of its own, as a
worker process would; the operator uses the session's client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleHandle, ScheduleState

from models.notification_policy import NotificationPolicy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID, FeedAnchor
from processes.reconciliation_schedule import (
    ensure_reconciliation_schedule,
    reconciliation_schedule,
)
from tests.support import CONVERTER

pytestmark = pytest.mark.devserver
# No worker polls it: the Schedules here are due a few times a day at most, so none
# starts a run a test would leave behind.
TASK_QUEUE = "schedule-race"
STATUTORY = NotificationPolicy()  # daily at 07:00 UTC
LATER = NotificationPolicy(reconcile_at_hour=9)
COMPRESSED = NotificationPolicy(name="compressed (6h days)", day_seconds=6 * 3600)
NOTE = "paused by an operator: PNC feed migration"


async def worker_client(dev_env) -> Client:
    return await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=CONVERTER,
    )


def operator_acts_after_first_describe(
    monkeypatch, worker: Client, act: Callable[[], Awaitable[None]]
) -> list[str]:
    """The worker's describes of the Schedule: the first is answered only after ``act``
    (the operator's change) has been sent, so it describes the Schedule as it was."""
    real = worker.workflow_service.describe_schedule
    calls: list[str] = []

    async def describe(req: Any, *args: Any, **kwargs: Any) -> Any:
        response = await real(req, *args, **kwargs)
        calls.append(req.schedule_id)
        if len(calls) == 1:
            await act()
        return response

    monkeypatch.setattr(worker.workflow_service, "describe_schedule", describe)
    return calls


async def settled_state(
    handle: ScheduleHandle, wanted: Callable[[ScheduleState], bool], within: float = 30.0
) -> ScheduleState:
    """The Schedule's state once ``wanted`` (the scheduler takes in a change when it next
    runs: on a busy machine a describe may briefly answer the state before it), or
    the last state seen after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = (await handle.describe()).schedule.state
        if wanted(state) or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("operator", ["pause", "unpause"])
async def test_an_operator_s_pause_or_resume_during_a_worker_s_update_is_not_undone(
    dev_env, monkeypatch, operator
):
    handle = dev_env.client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    worker = await worker_client(dev_env)
    created = await ensure_reconciliation_schedule(
        dev_env.client, task_queue=TASK_QUEUE, policy=STATUTORY
    )
    try:
        if operator == "unpause":
            await handle.pause(note="paused overnight")

        async def act() -> None:
            if operator == "pause":
                await handle.pause(note=NOTE)
            else:
                await handle.unpause(note=NOTE)

        describes = operator_acts_after_first_describe(monkeypatch, worker, act)
        # A new release: the reconciliation moves to 09:00 UTC.
        updated = await ensure_reconciliation_schedule(worker, task_queue=TASK_QUEUE, policy=LATER)
        paused = operator == "pause"
        state = await settled_state(handle, lambda s: s.paused == paused and s.note == NOTE)
        description = await handle.describe()
    finally:
        await handle.delete()
    assert (created, updated) == ("created", "updated")
    assert describes, "the worker never described the Schedule"
    # The operator's change stands ...
    assert (state.paused, state.note) == (paused, NOTE)
    # ... and the worker's new spec is in place.
    [calendar] = description.schedule.spec.calendars
    assert [r.start for r in calendar.hour] == [9]


@pytest.mark.parametrize(
    ("policy", "anchor"),
    [(STATUTORY, None), (COMPRESSED, None), (STATUTORY, FeedAnchor.parse("70@2026-01-05"))],
    ids=["daily-calendar", "compressed-interval", "with-anchor"],
)
async def test_a_worker_starting_with_an_unchanged_config_writes_nothing(
    dev_env, monkeypatch, policy, anchor
):
    handle = dev_env.client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    worker = await worker_client(dev_env)
    created = await ensure_reconciliation_schedule(
        dev_env.client, task_queue=TASK_QUEUE, policy=policy, anchor=anchor
    )
    try:
        await handle.pause(note=NOTE)
        before = await handle.describe()
        updates: list[Any] = []
        real_update = worker.workflow_service.update_schedule

        async def update(req: Any, *args: Any, **kwargs: Any) -> Any:
            updates.append(req)
            return await real_update(req, *args, **kwargs)

        monkeypatch.setattr(worker.workflow_service, "update_schedule", update)
        again = await ensure_reconciliation_schedule(
            worker, task_queue=TASK_QUEUE, policy=policy, anchor=anchor
        )
        after = await handle.describe()
    finally:
        await handle.delete()
    assert (created, again) == ("created", "unchanged")
    assert updates == []
    assert after.raw_description.conflict_token == before.raw_description.conflict_token
    assert after.schedule.state.paused and after.schedule.state.note == NOTE


async def test_a_changed_config_is_written_and_a_paused_schedule_stays_paused(dev_env):
    handle = dev_env.client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    await ensure_reconciliation_schedule(dev_env.client, task_queue=TASK_QUEUE, policy=STATUTORY)
    try:
        await handle.pause(note=NOTE)
        anchor = FeedAnchor.parse("3@2026-02-01")
        results = [
            await ensure_reconciliation_schedule(
                dev_env.client, task_queue=task_queue, policy=policy, anchor=anchor
            )
            for task_queue, policy in [(TASK_QUEUE, LATER), (f"{TASK_QUEUE}-2", COMPRESSED)]
        ]
        state = await settled_state(handle, lambda s: s.paused and s.note == NOTE)
        description = await handle.describe()
    finally:
        await handle.delete()
    assert results == ["updated", "updated"]
    assert state.paused and state.note == NOTE
    wanted = reconciliation_schedule(f"{TASK_QUEUE}-2", COMPRESSED, anchor)
    assert description.schedule.spec.intervals == wanted.spec.intervals
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.task_queue == f"{TASK_QUEUE}-2"
    [argument] = await dev_env.client.data_converter.decode(action.args)
    assert argument["anchor"]["sequence"] == 3 and argument["policy"]["day_seconds"] == 6 * 3600
