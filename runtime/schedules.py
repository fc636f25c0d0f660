"""The Temporal Schedule of the daily notifications reconciliation.

    python -m runtime.schedules        (or: make schedules)

Creates the schedule ``fno-notification-reconciliation`` if the namespace lacks it,
or brings its spec and action up to date (a paused schedule stays paused). Safe to
run again; every worker does it at start-up (``FNO_RECONCILE_SCHEDULE=off`` turns
that off, e.g. for workers that should not own it). Connects like the worker
(``TEMPORAL_*``, ``FNO_*``).

Statutory policy: daily at ``reconcile_at_hour`` (07:00 UTC), an hour after a day's
file is due; a run missed while the cluster was down is caught up within a day.
Compressed policy (demos): every simulated day, at least every minute.
``FNO_DAILY_FILE_ANCHOR=SEQUENCE@YYYY-MM-DD`` names a file the PNC really sent (the
first after go-live): every later day must have its file. Without it, the first
file received is the anchor.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

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
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from models.notification import (
    RECONCILIATION_PREFIX,
    RECONCILIATION_SCHEDULE_ID,
    FeedAnchor,
    NotificationPolicy,
    ReconcileInput,
    notification_policy,
)
from models.policy import DAY

if TYPE_CHECKING:
    from runtime.config import Settings

MIN_INTERVAL = timedelta(minutes=1)


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
            "NotificationReconciliationWorkflow",
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
) -> Literal["created", "updated"]:
    """Create the schedule, or update it in place (keeping its paused state)."""
    schedule = reconciliation_schedule(task_queue, policy, anchor)
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=current.description.schedule.state)
        )

    await client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID).update(keep_state)
    return "updated"


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
            error=str(err),
        )
        return
    log.info("reconciliation schedule", schedule_id=RECONCILIATION_SCHEDULE_ID, result=done)


async def main() -> int:
    from runtime.config import Settings, connect
    from runtime.logs import configure_logging, get_logger

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
    from runtime.shutdown import run_and_exit

    run_and_exit(main)
