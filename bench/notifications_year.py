"""A year of PNC daily activity files with one in three lost in transit — the failure
behind the 75,000 convictions never notified in 2012-19 (seed 004) — through the real
intake, reconciliation and notification workflows on Temporal's time-skipping server.

    python -m bench.notifications_year [--days 365] [--drop 0.333] [--truncate 0.02]
                                       [--eu-per-day 0.75] [--seed 2019] [--json]

Every simulated day: at 02:00 UTC the PNC produces the day before's file and sends it
with any re-send it was asked for; each delivery is dropped (``--drop``), cut short
(``--truncate``) or arrives; what arrives is ingested. At 07:00 UTC the scheduled
reconciliation runs (started directly here: the time-skipping server runs no
Schedules): it sees a missing or incomplete file an hour after it was due and asks
the PNC to send it again; the notifications run between, with the statutory policy,
against the simulated ECRIS. After the last day, days go on until every file is in
and every notification closed. It prints the figures and checks them: every gap seen
within a day of the file being due, every file finally taken whole, every conviction
notified to each EU state of nationality exactly once.

Volumes are scaled down (``--eu-per-day``; the real feed carries ~80 convictions of
EU nationals a day) so that the year runs in well under a minute.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from access.notifications import ingest_daily_file
from activities.core import CoreActivities
from activities.notifications import NotificationActivities
from bench.notifications_year_figures import YearFigures
from models.notification_policy import NotificationPolicy
from models.reconciliation import FeedAnchor, ReconcileInput
from models.search import SEARCH_ATTRIBUTES
from runtime.codec import CodecKeys, data_converter
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.embedded import test_server_path
from runtime.logs import configure_logging
from runtime.shutdown import run_and_exit
from sim.notifications import (
    DailyFileFactory,
    NotificationSimulator,
    NotificationWorld,
    Transfer,
)
from store.cases import CaseStore
from store.notifications import NotificationStore
from workflows import WORKFLOWS
from workflows.reconciliation import NotificationReconciliationWorkflow

PRODUCED_AT_HOUR = 2  # the PNC sends the day before's file at 02:00 UTC
FIRST_SEQUENCE = 1
MAX_EXTRA_DAYS = 60


@asynccontextmanager
async def _worker(
    client: Client, task_queue: str, sim: NotificationSimulator, case_store: CaseStore
) -> AsyncIterator[Worker]:
    store = NotificationStore(case_store.engine)
    activities = [
        *CoreActivities(case_store).all(),
        *NotificationActivities(sim, sim, store, case_store).all(),
    ]
    with ThreadPoolExecutor(16) as pool:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=activities,
            activity_executor=pool,
        ) as worker:
            yield worker


async def simulate(
    env: WorkflowEnvironment,
    folder: Path,
    *,
    days: int = 365,
    drop_rate: float = 1 / 3,
    truncate_rate: float = 0.02,
    eu_per_day: float = 0.75,
    seed: int = 2019,
) -> YearFigures:
    """Run the year on ``env`` (time-skipping) with a case store under ``folder``."""
    started = time.monotonic()
    case_store = CaseStore.migrated(f"sqlite:///{folder / 'notifications-year.db'}")
    store = NotificationStore(case_store.engine)
    policy = NotificationPolicy()
    sim = NotificationSimulator(case_store.engine, NotificationWorld(seed=seed))
    task_queue = f"notifications-year-{uuid.uuid4().hex[:8]}"
    client = env.client
    t0 = await env.get_current_time()
    files = DailyFileFactory(
        seed=seed,
        first_sequence=FIRST_SEQUENCE,
        first_date=t0.date(),
        eu_convictions_per_day=eu_per_day,
        other_convictions_per_day=4,
        other_records_per_day=6,
    )
    anchor = FeedAnchor(sequence=FIRST_SEQUENCE, file_date=files.first_date)
    transfer = Transfer(seed=seed, drop_rate=drop_rate, truncate_rate=truncate_rate)
    last_seq = FIRST_SEQUENCE + days - 1

    attempts: dict[int, int] = {}
    first_ok: dict[int, date] = {}  # sequence -> day it was first taken whole
    gap_due: dict[int, datetime] = {}  # sequence -> when it was due (first delivery failed)
    detected: dict[int, datetime] = {}
    dropped = truncated = deliveries = 0
    resends_seen: set[str] = set()
    reconciliations: list[str] = []

    async def sleep_until(moment: datetime) -> None:
        now = await env.get_current_time()
        if moment > now:
            await env.sleep(moment - now)

    def due_at(seq: int) -> datetime:
        day = files.file_date(seq) + timedelta(days=1)
        return datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            hours=policy.daily_file_due_hour
        )

    async def deliver(seq: int, now: datetime) -> None:
        nonlocal dropped, truncated, deliveries
        attempts[seq] = attempts.get(seq, 0) + 1
        deliveries += 1
        content = files.file(seq)
        arrived = transfer.deliver(content, seq, attempts[seq])
        if arrived is None:
            dropped += 1
        else:
            if arrived != content:
                truncated += 1
            report = await ingest_daily_file(
                client,
                store,
                arrived,
                task_queue=task_queue,
                policy=policy,
                secret=LOCAL_SUBJECT_KEY_SECRET,
                source="pnc transfer (simulated)",
                now=now,
            )
            if report.complete and seq not in first_ok:
                first_ok[seq] = now.date()
        if seq not in first_ok and attempts[seq] == 1:
            gap_due[seq] = due_at(seq)

    extra = 0
    async with _worker(client, task_queue, sim, case_store):
        day = 1
        while True:
            base = datetime.combine(
                files.first_date + timedelta(days=day), datetime.min.time(), UTC
            )
            await sleep_until(base + timedelta(hours=PRODUCED_AT_HOUR))
            now = await env.get_current_time()
            seq = FIRST_SEQUENCE + day - 1  # the PNC goes on after the year, as it does
            await deliver(seq, now)
            for key, asked in sim.resends_requested():
                if key in resends_seen:
                    continue
                resends_seen.add(key)
                if asked not in first_ok:
                    await deliver(asked, now)
            await sleep_until(base + timedelta(hours=policy.reconcile_at_hour))
            workflow_id = f"reconciliation-notifications-{day}-{task_queue}"
            reconciliations.append(workflow_id)
            handle = await client.start_workflow(
                NotificationReconciliationWorkflow.run,
                ReconcileInput(policy=policy, anchor=anchor),
                id=workflow_id,
                task_queue=task_queue,
            )
            with env.auto_time_skipping_disabled():  # the clock moves only by our sleeps
                report = await handle.result()
            at = report.findings.as_of
            for gap in report.findings.missing_sequences + report.findings.incomplete_sequences:
                detected.setdefault(gap, at)
            if seq >= last_seq:
                extra += 1
                year_in = all(s in first_ok for s in range(FIRST_SEQUENCE, last_seq + 1))
                if (year_in and not _open(store, at, last_seq)) or extra > MAX_EXTRA_DAYS:
                    break
            day += 1
        # Nothing left running (the next day's notifications) to hold the test server's
        # clock: ended while the worker still runs, so no step is cut off half-way.
        for row in store.notifications(now=await env.get_current_time(), limit=1_000_000):
            if row.closed_at is None:
                try:
                    await client.get_workflow_handle(row.notification_id).terminate(
                        reason="simulation over"
                    )
                except Exception:  # closed meanwhile
                    pass

    final = await env.get_current_time()
    every = store.notifications(now=final, limit=1_000_000)
    rows = [r for r in every if r.file_sequence <= last_seq]  # the year's files
    sent = sim.per_subject("notification_sent")
    sent_once = {r.notification_id: sent.get(r.notification_id, 0) for r in rows}
    eu = sum(files.eu_convictions_in(s) for s in range(FIRST_SEQUENCE, last_seq + 1))
    expected = sum(files.notifications_in(s) for s in range(FIRST_SEQUENCE, last_seq + 1))
    delays = [(r.sent_at - r.recorded_at) / timedelta(days=1) for r in rows if r.sent_at]
    year_gaps = [s for s in gap_due if s <= last_seq]
    detection = [
        (detected[s] - gap_due[s]) / timedelta(hours=1) for s in year_gaps if s in detected
    ]
    lost_for = [
        (first_ok[s] - files.file_date(s)).days - 1 for s in year_gaps if s in first_ok
    ]  # days beyond the normal delivery
    incomplete_when_due = sum(1 for s in gap_due if transfer.outcome(s, 1) == "truncated")
    figures = YearFigures(
        days=days,
        drop_rate=drop_rate,
        truncate_rate=truncate_rate,
        files_produced=days,
        deliveries=deliveries,
        dropped_in_transit=dropped,
        truncated_in_transit=truncated,
        files_missing_when_due=len(year_gaps) - incomplete_when_due,
        files_incomplete_when_due=incomplete_when_due,
        gaps_detected=len(detection),
        gaps_detected_within_a_day=sum(1 for h in detection if 0 <= h <= 24),
        max_hours_from_due_to_detection=max(detection, default=0.0),
        resend_requests=sim.count("daily_file_resend_requested"),
        files_ingested_complete=sum(
            1 for f in store.all_files() if f.complete and f.sequence <= last_seq
        ),
        days_after_the_year_to_close_everything=extra,
        eu_convictions=eu,
        dual_nationals_notified_twice=len(rows) - len({r.conviction_key for r in rows}),
        notifications_expected=expected,
        notifications_registered=len(rows),
        notifications_sent=sum(1 for r in rows if r.sent_at),
        notifications_sent_exactly_once=sum(1 for n in sent_once.values() if n == 1),
        notifications_acknowledged=sum(1 for r in rows if r.acknowledged_at),
        notifications_open=sum(1 for r in rows if r.closed_at is None),
        # By each notification's own statutory deadline (end of the 28th UK day).
        sent_within_28_days=sum(1 for r in rows if r.sent_at and r.sent_at <= r.due_at),
        max_days_recorded_to_sent=max(delays, default=0.0),
        max_days_file_lost=max(lost_for, default=0),
        wall_seconds=time.monotonic() - started,
    )
    case_store.engine.dispose()
    return figures


def _open(store: NotificationStore, now: datetime, last_seq: int) -> bool:
    """Any notification of the year's files still open?"""
    return any(
        r.file_sequence <= last_seq
        for status in ("not_started", "sending", "awaiting_ack")
        for r in store.notifications(now=now, status=status, limit=100_000)  # type: ignore[arg-type]
    )


async def register_search_attributes(client: Client) -> None:
    """The product's search attributes on the test server (it cannot list them first)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(int(k.indexed_value_type))
                for k in SEARCH_ATTRIBUTES
            },
        )
    )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications_year", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--drop", type=float, default=1 / 3, help="share of deliveries lost")
    parser.add_argument("--truncate", type=float, default=0.02, help="share cut short")
    parser.add_argument("--eu-per-day", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    configure_logging("console")
    logging.getLogger().setLevel(logging.ERROR)  # the figures, not a line per step
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(CodecKeys.generate()),
        test_server_existing_path=str(test_server_path()),
    )
    async with env:
        await register_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as folder:
            figures = await simulate(
                env,
                Path(folder),
                days=args.days,
                drop_rate=args.drop,
                truncate_rate=args.truncate,
                eu_per_day=args.eu_per_day,
                seed=args.seed,
            )
    print(figures.model_dump_json(indent=2) if args.json else figures.lines())
    problems = figures.problems()
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    run_and_exit(lambda: main(sys.argv[1:]))
