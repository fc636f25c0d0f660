"""The Temporal Schedule of the safety net over ACRO replies pushed in (issue 22).

    python -m processes.acro_reconciliation_schedule

Creates the schedule ``fno-acro-reply-reconciliation`` if the namespace lacks it, or
brings its spec, action and policy up to date (a paused schedule stays paused; the
same conflict-token update as notifications out's schedule,
``processes.reconciliation_schedule.bring_up_to_date``). Safe to run again.

Statutory policy: daily at ``RECONCILE_AT_HOUR`` (05:00 UTC); a run missed while the
cluster was down is caught up within a day. Compressed policy (demos, tests): every
``reply_reconcile_days`` simulated days, at least a second apart, runs allowed to
overlap (one held up must not skip the next). Each run
(``workflows.acro_replies.AcroReplyReconciliationWorkflow``) reads ACRO's log of the
replies it sent (``AcroGateway.replies_sent``) once, fetches those of requests with no
reply delivered and delivers them; statutory runs one at a time.
``FNO_ACRO_RECONCILE_SCHEDULE=off`` leaves it alone at a worker's start-up.

``FNO_ACRO_RECONCILE_EVERY_SECONDS`` (an operator's choice, either policy) runs it every
so many wall-clock seconds instead (from one to a week's; runs may overlap, delivery being
idempotent): say every 6 hours (21600) where a day is too long for a lost reply to wait.
The bench sets it so that the safety net runs as often per case as a national year's
daily run does (``bench.phases``): on a compressed policy "every simulated day" is
every second, about 100 times a year's runs per case.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from models.policy import DAY, Policy
from models.replies import (
    ACRO_RECONCILIATION_PREFIX,
    ACRO_RECONCILIATION_SCHEDULE_ID,
    ACRO_RECONCILIATION_WORKFLOW,
    ReplyReconcileInput,
)
from processes.reconciliation_schedule import bring_up_to_date
from runtime.config import Settings, connect
from runtime.logs import configure_logging, get_logger
from runtime.shutdown import run_and_exit

RECONCILE_AT_HOUR = 5
MIN_RUN_INTERVAL = timedelta(seconds=1)
# A lost reply waits at most this long for the net: beyond it, a deadline comes first.
MAX_RUN_INTERVAL = timedelta(days=7)
EVERY_ENV = "FNO_ACRO_RECONCILE_EVERY_SECONDS"


class ScheduleSettingError(ValueError):
    """A setting of the safety net's schedule that cannot be used; says how to fix it."""


def run_interval(env: Mapping[str, str] | None = None) -> timedelta | None:
    """``FNO_ACRO_RECONCILE_EVERY_SECONDS`` as an interval, or None (the policy's
    cadence). A value that is not a number of seconds of at least 1 is refused."""
    text = (os.environ if env is None else env).get(EVERY_ENV, "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    low, high = MIN_RUN_INTERVAL.total_seconds(), MAX_RUN_INTERVAL.total_seconds()
    if not low <= seconds <= high:
        raise ScheduleSettingError(
            f"{EVERY_ENV}={text!r} is not a number of seconds from {low:g} to {high:g} "
            "(a day is 86400): set it to, for example, 21600 (every 6 hours), or unset it "
            "to run the safety net on the policy's cadence"
        )
    return timedelta(seconds=seconds)


def acro_reconciliation_schedule(
    task_queue: str, policy: Policy, every: timedelta | None = None
) -> Schedule:
    """The schedule: on the policy's cadence, or every ``every`` (``run_interval``)."""
    every_day = policy.reply_reconcile_days
    if every is None and policy.day_seconds >= DAY and every_day == 1:
        spec = ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(RECONCILE_AT_HOUR)])],
            time_zone_name="UTC",
        )
        timeout = timedelta(hours=12)
        overlap = ScheduleOverlapPolicy.SKIP
    else:
        # A run is one question to ACRO and a query of the store (the requests not
        # replied): compressed days may be shorter than the notifications' minute.
        if every is None:
            every = max(timedelta(seconds=policy.day_seconds * every_day), MIN_RUN_INTERVAL)
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
        timeout = max(every * 10, timedelta(minutes=10))
        # Runs seconds apart: one held up (its worker killed mid-run, its activity
        # waiting out a heartbeat timeout) must not skip the next (delivery is
        # idempotent, so two runs at once deliver a reply once).
        overlap = ScheduleOverlapPolicy.ALLOW_ALL
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ACRO_RECONCILIATION_WORKFLOW,
            ReplyReconcileInput(policy=policy),
            id=ACRO_RECONCILIATION_PREFIX,
            task_queue=task_queue,
            execution_timeout=timeout,
            static_summary="Safety net: outstanding ACRO checks asked of ACRO",
            static_details="Requests with no reply delivered; a reply found is delivered as "
            "a pushed one would be. Counts only, no personal data.",
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=overlap, catchup_window=timedelta(days=1)),
        state=ScheduleState(note="ACRO replies: a reply lost on its way in is found."),
    )


async def ensure_acro_reconciliation_schedule(
    client: Client, *, task_queue: str, policy: Policy, every: timedelta | None = None
) -> Literal["created", "updated", "unchanged"]:
    """Create the schedule, or bring it up to date without undoing an operator's pause."""
    schedule = acro_reconciliation_schedule(task_queue, policy, every)
    try:
        await client.create_schedule(ACRO_RECONCILIATION_SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    return await bring_up_to_date(client, ACRO_RECONCILIATION_SCHEDULE_ID, schedule)


def schedule_enabled(env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("FNO_ACRO_RECONCILE_SCHEDULE", "on")
    return value.strip().lower() not in ("off", "0", "false", "no")


async def ensure_at_startup(client: Client, settings: Settings, log: Any) -> None:
    """A worker's start-up: the schedule set up, logged; a failure is logged loudly and
    the worker goes on (its cases must not wait for it)."""
    if not schedule_enabled():
        log.info("acro reply schedule left alone", setting="FNO_ACRO_RECONCILE_SCHEDULE=off")
        return
    every = run_interval()  # a setting that cannot be used stops the start-up, saying why
    try:
        done = await ensure_acro_reconciliation_schedule(
            client, task_queue=settings.task_queue, policy=settings.policy, every=every
        )
    except Exception as err:
        log.error(
            "acro reply schedule not set up: a lost reply would wait for its deadline",
            schedule_id=ACRO_RECONCILIATION_SCHEDULE_ID,
            error_type=type(err).__name__,
        )
        return
    log.info("acro reply schedule", schedule_id=ACRO_RECONCILIATION_SCHEDULE_ID, result=done)


async def main() -> int:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    log = get_logger("fno.schedules")
    settings = Settings.from_env()
    client = await connect()
    done = await ensure_acro_reconciliation_schedule(
        client, task_queue=settings.task_queue, policy=settings.policy, every=run_interval()
    )
    log.info("acro reply schedule", schedule_id=ACRO_RECONCILIATION_SCHEDULE_ID, result=done)
    return 0


if __name__ == "__main__":
    run_and_exit(main)
