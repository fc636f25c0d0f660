"""The Temporal Schedule of the daily notifications reconciliation.

    python -m processes.reconciliation_schedule        (or: make schedules)

Creates the schedule ``fno-notification-reconciliation`` if the namespace lacks it,
or brings its spec, action and policy up to date (a paused schedule stays paused).
Writes nothing when they already are; an update carries the conflict token of the
description it was built from, so a pause or note an operator writes meanwhile is
never undone (the server drops the update; it is made again over the fresh state).
Safe to run again; every worker does it at start-up (``FNO_RECONCILE_SCHEDULE=off``
turns that off, e.g. for workers that should not own it). Connects like the worker
(``TEMPORAL_*``, ``FNO_*``).

Statutory policy: daily at ``reconcile_at_hour`` (07:00 UTC), an hour after a day's
file is due; a run missed while the cluster was down is caught up within a day.
Compressed policy (demos): every simulated day, at least every minute.
``FNO_DAILY_FILE_ANCHOR=SEQUENCE@YYYY-MM-DD`` names a file the PNC really sent (the
first after go-live): every later day must have its file. Without it, the first
file received is the anchor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import UpdateScheduleRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from models.notification_policy import NotificationPolicy, notification_policy
from models.policy import DAY
from models.reconciliation import (
    RECONCILIATION_PREFIX,
    RECONCILIATION_SCHEDULE_ID,
    RECONCILIATION_WORKFLOW,
    FeedAnchor,
    ReconcileInput,
)
from runtime.config import Settings, connect
from runtime.logs import configure_logging, get_logger
from runtime.shutdown import run_and_exit

MIN_INTERVAL = timedelta(minutes=1)
# How long a worker's start-up waits for its update to be taken in.
UPDATE_WITHIN = timedelta(seconds=30)


def reconciliation_schedule(
    task_queue: str, policy: NotificationPolicy, anchor: FeedAnchor | None = None
) -> Schedule:
    if policy.day_seconds >= DAY:
        spec = ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(policy.reconcile_at_hour)])],
            time_zone_name="UTC",
        )
        timeout = timedelta(hours=12)
    else:
        every = max(timedelta(seconds=policy.day_seconds), MIN_INTERVAL)
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
        timeout = every * 10
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILIATION_WORKFLOW,
            ReconcileInput(policy=policy, anchor=anchor),
            id=RECONCILIATION_PREFIX,
            task_queue=task_queue,
            execution_timeout=timeout,
            static_summary="Daily reconciliation of notifications out",
            static_details="Missing, out-of-sequence or incomplete PNC daily files; "
            "convictions without a notification in flight. No personal data here.",
        ),
        spec=spec,
        policy=SchedulePolicy(catchup_window=timedelta(days=1)),
        state=ScheduleState(
            note="Notifications out: every conviction of an EU national reaches the home state."
        ),
    )


async def ensure_reconciliation_schedule(
    client: Client,
    *,
    task_queue: str,
    policy: NotificationPolicy,
    anchor: FeedAnchor | None = None,
) -> Literal["created", "updated", "unchanged"]:
    """Create the schedule, or bring its spec, action and policy up to date, never
    undoing a pause, a resume or a note an operator wrote meanwhile."""
    schedule = reconciliation_schedule(task_queue, policy, anchor)
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    return await bring_up_to_date(client, RECONCILIATION_SCHEDULE_ID, schedule)


class ScheduleNotUpdatedError(RuntimeError):
    """The update was sent but not seen taken in (or kept being superseded) in time."""


async def bring_up_to_date(
    client: Client,
    schedule_id: str,
    wanted: Schedule,
    *,
    within: timedelta = UPDATE_WITHIN,
) -> Literal["updated", "unchanged"]:
    """Write ``wanted``'s spec, action and policy to the schedule if they differ from
    what it has, with the state (paused, note) it has: nothing is written when they
    are the same.

    Read-modify-write, made safe with the description's conflict token. The SDK's
    ``ScheduleHandle.update`` sends none (temporalio 1.35: one describe, then an
    ``UpdateScheduleRequest`` without ``conflict_token``, no retry on conflict), and an
    update replaces the whole state, so it would write back the state it read over a
    pause that landed meanwhile. With the token, the server drops the update if
    anything changed the schedule since the describe (a pause, an unpause, a note,
    another worker's update) — silently: the RPC succeeds. So after writing, wait
    until the schedule has moved on from that token, then compare again; a dropped
    update is written again over the fresh description."""
    handle = client.get_schedule_handle(schedule_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within.total_seconds()
    wrote = False
    description = await handle.describe()
    while await differences(client, description.schedule, wanted):
        if loop.time() > deadline:
            raise ScheduleNotUpdatedError(
                f"schedule {schedule_id}: still out of date after {within}"
                " (its state or another worker's update kept changing it)"
            )
        token = description.raw_description.conflict_token
        await client.workflow_service.update_schedule(
            UpdateScheduleRequest(
                namespace=client.namespace,
                schedule_id=schedule_id,
                # Schedule._to_proto: the SDK's own encoding (codec, user metadata).
                schedule=await dataclasses.replace(
                    wanted, state=description.schedule.state
                )._to_proto(client),
                conflict_token=token,
                identity=client.identity,
                request_id=str(uuid.uuid4()),
            ),
            retry=True,
        )
        wrote = True
        # The scheduler takes the update (or the change that supersedes it) in when it
        # next runs: until then a describe still answers ``token``.
        while (description := await handle.describe()).raw_description.conflict_token == token:
            if loop.time() > deadline:
                raise ScheduleNotUpdatedError(
                    f"schedule {schedule_id}: update sent, not taken in after {within}"
                )
            await asyncio.sleep(0.1)
    return "updated" if wrote else "unchanged"


async def differences(client: Client, current: Schedule, wanted: Schedule) -> list[str]:
    """Which of spec, action and policy of ``current`` (as described) differ from
    ``wanted`` (as built). Compared in forms the server's answer does not disturb: the
    specs as protos (the SDK's dataclasses hold lists on one side, tuples on the
    other), the action's payloads decoded (they are encrypted, differently every time)."""
    found = []
    if current.spec._to_proto() != wanted.spec._to_proto():
        found.append("spec")
    if current.policy != wanted.policy:
        found.append("policy")
    try:
        same_action = await _action_view(client, current.action) == await _action_view(
            client, wanted.action
        )
    except Exception:  # undecodable (a codec key gone, say): written again with today's
        same_action = False
    if not same_action:
        found.append("action")
    return found


async def _action_view(client: Client, action: Any) -> tuple[Any, ...]:
    if not isinstance(action, ScheduleActionStartWorkflow):
        return (type(action).__name__,)
    converter = client.data_converter

    async def values(items: Sequence[Any]) -> list[Any]:
        """Payloads (described) or values (built) as the plain values they carry."""
        payloads = [
            i if isinstance(i, Payload) else (await converter.encode([i]))[0] for i in items
        ]
        return await converter.decode(payloads) if payloads else []

    memo = dict(action.memo or {})
    metadata = [action.static_summary, action.static_details]
    return (
        action.workflow,
        action.id,
        action.task_queue,
        action.execution_timeout,
        action.run_timeout,
        action.task_timeout,
        action.retry_policy,
        action.priority,
        sorted((p.key.name, str(p.value)) for p in action.typed_search_attributes),
        await values(action.args),
        dict(zip(memo, await values(list(memo.values())), strict=True)),
        [None if m is None else (await values([m]))[0] for m in metadata],
    )


def anchor_from_env(env: dict[str, str] | None = None) -> FeedAnchor | None:
    text = (os.environ if env is None else env).get("FNO_DAILY_FILE_ANCHOR", "").strip()
    return FeedAnchor.parse(text) if text else None


def schedule_enabled(env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("FNO_RECONCILE_SCHEDULE", "on")
    return value.strip().lower() not in ("off", "0", "false", "no")


async def ensure_at_startup(client: Client, settings: Settings, log: Any) -> None:
    """The worker's start-up: the schedule created or brought up to date, logged. A
    failure (no permission on the namespace, say) is logged loudly and the worker
    goes on: its cases must not wait for it."""
    if not schedule_enabled():
        log.info("reconciliation schedule left alone", setting="FNO_RECONCILE_SCHEDULE=off")
        return
    try:
        done = await ensure_reconciliation_schedule(
            client,
            task_queue=settings.task_queue,
            policy=notification_policy(settings.policy),
            anchor=anchor_from_env(),
        )
    except Exception as err:
        log.error(
            "reconciliation schedule not set up: missing daily files would go unseen",
            schedule_id=RECONCILIATION_SCHEDULE_ID,
            error_type=type(err).__name__,
        )
        return
    log.info("reconciliation schedule", schedule_id=RECONCILIATION_SCHEDULE_ID, result=done)


async def main() -> int:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    log = get_logger("fno.schedules")
    settings = Settings.from_env()
    client = await connect()
    done = await ensure_reconciliation_schedule(
        client,
        task_queue=settings.task_queue,
        policy=notification_policy(settings.policy),
        anchor=anchor_from_env(),
    )
    log.info("reconciliation schedule", schedule_id=RECONCILIATION_SCHEDULE_ID, result=done)
    return 0


if __name__ == "__main__":
    run_and_exit(main)
