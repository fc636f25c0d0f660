"""The daily reconciliation's gap finding, for the activity ``reconcile_notifications``
(``activities.notifications``).

``find_gaps`` reads the case store: daily files missing, out of sequence or
incomplete since the anchor; convictions without a notification in flight; overdue
notifications. It raises the alerts and asks the PNC to re-send a file.
``start_and_check`` then goes to Temporal: it starts what is missing, and checks that
each open notification still has a running workflow.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.notification_gateways import PncFeed
from activities.notification_starts import input_for, start_notification
from models.reconciliation import (
    AlertView,
    FeedAnchor,
    ReconcileFindings,
    ReconcileRequest,
    StartReport,
)
from store.notifications import NotificationStore

log = structlog.get_logger("fno.notifications")

# A conviction registered this long ago with no workflow is a gap (the intake died
# between recording the file and starting its notifications).
START_GRACE = timedelta(minutes=10)
# A started notification is checked for a running workflow once this old.
CHECK_AFTER = timedelta(hours=1)
FILE_KINDS = ["missing_file", "count_mismatch", "out_of_sequence"]
NOTIFICATION_KINDS = ["not_started", "overdue"]


def _alerted(view: AlertView | None) -> list[AlertView]:
    if view is None:
        return []
    log.warning(
        "notification alert",
        alert=view.kind,
        key=view.key,  # not the detail: the alert's row holds it, read with access control
        file_sequence=view.file_sequence,
        notification_id=view.notification_id,
    )
    return [view]


def find_gaps(store: NotificationStore, feed: PncFeed, req: ReconcileRequest) -> ReconcileFindings:
    """Files missing, out of sequence or incomplete; convictions not notified. Raises
    the alerts (a log line each, the first time), asks the PNC for re-sends (once a
    day per file), and says which notifications to start and which to check."""
    as_of, p = req.as_of, req.policy
    found = ReconcileFindings(as_of=as_of)
    present: set[str] = set()
    accepted = store.accepted_keys()
    files = store.all_files()
    anchor = req.anchor or (
        FeedAnchor(sequence=files[0].sequence, file_date=files[0].file_date) if files else None
    )
    found.files_ingested = len(files)

    def raise_(key: str, kind: str, detail: str, **kw: Any) -> None:
        present.add(key)
        found.new_alerts.extend(_alerted(store.raise_alert(key, kind, detail, at=as_of, **kw)))

    def resend(sequence: int, day: date | None, why: str, alert_key: str) -> None:
        if alert_key in accepted:
            return  # a person accepted it (the PNC has no such file): stop asking
        feed.request_file_resend(
            f"resend:{sequence}:{as_of.date().isoformat()}", sequence, day, why
        )
        found.resends_requested.append(sequence)

    if anchor is not None:
        # The file for day D is due by ``daily_file_due_hour`` on D+1 (UTC).
        last_due = (as_of - timedelta(hours=p.daily_file_due_hour)).date() - timedelta(days=1)
        by_seq = {f.sequence: f for f in files}
        day = anchor.file_date
        while day <= last_due:
            seq = anchor.sequence + (day - anchor.file_date).days
            found.files_expected += 1
            if seq not in by_seq:
                key = f"missing_file:{seq}"
                due = datetime.combine(day + timedelta(days=1), datetime.min.time())
                raise_(
                    key,
                    "missing_file",
                    f"daily file {seq} ({day.isoformat()}) not received by "
                    f"{due:%Y-%m-%d} {p.daily_file_due_hour:02d}:00 UTC; re-send asked "
                    "of the PNC",
                    file_sequence=seq,
                )
                found.missing_sequences.append(seq)
                resend(seq, day, "not received", key)
            day += timedelta(days=1)
        for f in files:
            expected_seq = anchor.sequence + (f.file_date - anchor.file_date).days
            if f.sequence >= anchor.sequence and f.sequence != expected_seq:
                raise_(
                    f"out_of_sequence:{f.sequence}",
                    "out_of_sequence",
                    f"daily file {f.sequence} is dated {f.file_date.isoformat()}, the date "
                    f"of file {expected_seq}: a sequence number skipped or reused",
                    file_sequence=f.sequence,
                )
                found.out_of_sequence.append(f.sequence)
    for f in files:
        if not f.complete:
            key = f"count_mismatch:{f.sequence}"
            raise_(
                key,
                "count_mismatch",
                f"daily file {f.sequence} declares {f.declared_count} records, "
                f"{f.records_ingested} were read and {f.rejected} rejected; re-send asked "
                "of the PNC",
                file_sequence=f.sequence,
            )
            found.incomplete_sequences.append(f.sequence)
            resend(f.sequence, f.file_date, "incomplete", key)

    for row in store.unstarted(limit=1000):
        found.to_start.append(input_for(row, p))
        if row.registered_at < as_of - START_GRACE:
            raise_(
                f"not_started:{row.notification_id}",
                "not_started",
                f"conviction from daily file {row.file_sequence} registered "
                f"{row.registered_at:%Y-%m-%d %H:%M} with no notification in flight: "
                "started now",
                file_sequence=row.file_sequence,
                notification_id=row.notification_id,
            )
    for row in store.overdue(as_of):
        found.overdue_notifications += 1
        raise_(
            f"overdue:{row.notification_id}",
            "overdue",
            f"notification to {row.country} not sent by its deadline "
            f"{row.due_at:%Y-%m-%d %H:%M} UTC (the end of the 28 days beginning with the UK "
            "day it was recorded)",
            file_sequence=row.file_sequence,
            notification_id=row.notification_id,
        )
    found.to_check = store.open_notifications(as_of - CHECK_AFTER)
    store.resolve_cleared(FILE_KINDS + NOTIFICATION_KINDS, present, as_of)
    found.open_alerts = len(store.alerts())
    log.info(
        "notifications reconciled",
        files_expected=found.files_expected,
        files_ingested=found.files_ingested,
        missing=len(found.missing_sequences),
        incomplete=len(found.incomplete_sequences),
        out_of_sequence=len(found.out_of_sequence),
        to_start=len(found.to_start),
        overdue=found.overdue_notifications,
        new_alerts=len(found.new_alerts),
        open_alerts=found.open_alerts,
    )
    return found


async def start_and_check(
    store: NotificationStore, req: ReconcileRequest, found: ReconcileFindings
) -> StartReport:
    """Start the notifications found without a workflow; check that each open one
    still has a running workflow, and start again one that ended without an
    outcome (terminated): its steps' keys make sure nothing is sent twice."""
    client = activity.client()
    task_queue = activity.info().task_queue
    report = StartReport()
    started: list[str] = []
    for inp in found.to_start:
        if await start_notification(client, inp, task_queue):
            report.started += 1
        else:
            report.already_running += 1
        started.append(inp.notification_id)
    await asyncio.to_thread(store.mark_started, started, req.as_of)
    present: set[str] = set()
    for notification_id in found.to_check:
        status = await _status(client, notification_id)
        if status == WorkflowExecutionStatus.RUNNING:
            continue
        row = await asyncio.to_thread(store.record, notification_id)
        if row is None or row.closed_at is not None:
            continue
        key = f"workflow_ended:{notification_id}"
        present.add(key)
        how = status.name.lower() if status else "missing"
        view = await asyncio.to_thread(
            store.raise_alert,
            key,
            "workflow_ended",
            f"notification workflow {how} without an outcome: started again",
            at=req.as_of,
            file_sequence=row.file_sequence,
            notification_id=notification_id,
        )
        report.new_alerts.extend(_alerted(view))
        report.ended_without_outcome.append(notification_id)
        await start_notification(client, input_for(row, req.policy), task_queue)
    await asyncio.to_thread(store.resolve_cleared, ["workflow_ended"], present, req.as_of)
    return report


async def _status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status
