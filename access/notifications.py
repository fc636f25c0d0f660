"""Notifications out, for ``fno`` and the HTTP API: taking in the PNC's daily activity
files, and what supervisors see (counts, notifications, files, alerts) — each read
allowed by the need-to-know policy first (``access.policy``: notifications out are for
caseworkers, senior caseworkers and supervisors; the figures for supervisors and the
Director too; only a senior caseworker accepts an alert).

    ingest_daily_file(client, store, raw, ...)       the caller checks the sender's scope
    notification_counts(store, principal, now) -> NotificationSummary
    daily_files(store, principal, limit=100) -> [DailyFile]
    notifications(store, principal, *, now, country=None, status=None, limit=100)
    alerts(store, principal, include_resolved=False) -> [AlertRow]
    accept_alert(store, principal, alert_id, reason, now=None)

``ingest_daily_file`` records the file and its convictions in the case store in one
transaction, then starts one ``NotificationWorkflow`` per conviction × EU state of
nationality. Both halves are idempotent: the same file again records nothing new and
starts nothing twice (workflow IDs come from the conviction), and a crash between
them is repaired by sending the file again or by the next reconciliation.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel, Field
from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from access.errors import AccessRefused
from access.policy import Capability, may, require
from activities.notification_starts import input_for, start_notification
from identity.principal import Principal
from models.daily_file import DailyFileError, RejectedLine, parse_daily_file
from models.notification import NotificationKind, first_notification_id, notification_kind
from models.notification_policy import NotificationPolicy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from store.notification_reports import CountryCounts, NotificationStatus
from store.notification_tables import DailyFile, NotificationAlert, NotificationRecord
from store.notifications import IngestOutcome, NotificationStore

log = structlog.get_logger("fno.notifications")

MAX_FILE_BYTES = 64 * 1024 * 1024
START_CONCURRENCY = 20


class IngestReport(IngestOutcome):
    started: int = 0
    alerts: list[str] = Field(default_factory=list)
    rejected_lines: list[RejectedLine] = Field(
        default_factory=list, description="Line numbers and reasons (never the content)."
    )

    def line(self) -> str:
        return self.model_dump_json()


async def ingest_daily_file(
    client: Client,
    store: NotificationStore,
    raw: bytes,
    *,
    task_queue: str,
    policy: NotificationPolicy,
    secret: str,
    source: str,
    now: datetime | None = None,
) -> IngestReport:
    """Take one daily activity file. Raises ``DailyFileError`` when it has no valid
    header (nothing is taken); a bad record line is counted as rejected, and the file
    then stays *incomplete* (alert, and a re-send asked by the reconciliation)."""
    if len(raw) > MAX_FILE_BYTES:
        raise DailyFileError(f"larger than {MAX_FILE_BYTES} bytes")
    parsed = await asyncio.to_thread(parse_daily_file, raw)
    at = now or datetime.now(UTC)
    outcome = await asyncio.to_thread(
        store.ingest,
        parsed,
        secret=secret,
        due_days=policy.notify_within_days,
        day_seconds=policy.day_seconds,
        source=source,
        now=at,
    )
    report = IngestReport(**outcome.model_dump(), rejected_lines=parsed.rejected[:100])
    seq = outcome.sequence
    raised: list[tuple[str, str, str, int]] = []
    if outcome.status == "conflict":
        raised.append(
            (
                f"file_conflict:{seq}:{parsed.digest[:12]}",
                "file_conflict",
                f"daily file {seq} received again with different content; not taken",
                seq,
            )
        )
    else:
        report.started = await start_unstarted(
            client, store, task_queue=task_queue, policy=policy, sequence=seq, now=at
        )
        if not outcome.complete:
            raised.append(
                (
                    f"count_mismatch:{seq}",
                    "count_mismatch",
                    f"daily file {seq} declares {outcome.declared_count} records, "
                    f"{outcome.records_read} were read and {outcome.rejected} rejected",
                    seq,
                )
            )
        for missing in outcome.missing_before:
            raised.append(
                (
                    f"missing_file:{missing}",
                    "missing_file",
                    f"daily file {missing} not received (file {seq} arrived after it)",
                    missing,
                )
            )
    for key, kind, detail, sequence in raised:
        view = await asyncio.to_thread(
            store.raise_alert, key, kind, detail, at=at, file_sequence=sequence
        )
        if view is not None:
            log.warning("notification alert", alert=kind, key=key, detail=detail)
            report.alerts.append(key)
    log.info(
        "daily file received",
        sequence=seq,
        file_date=outcome.file_date.isoformat(),
        status=outcome.status,
        declared=outcome.declared_count,
        read=outcome.records_read,
        rejected=outcome.rejected,
        convictions=outcome.convictions,
        notifications_new=outcome.notifications_new,
        started=report.started,
        complete=outcome.complete,
    )
    return report


async def start_unstarted(
    client: Client,
    store: NotificationStore,
    *,
    task_queue: str,
    policy: NotificationPolicy,
    sequence: int | None = None,
    now: datetime | None = None,
) -> int:
    """Start every registered notification (of a file) that has no workflow yet."""
    rows = await asyncio.to_thread(store.unstarted, sequence, 100_000)
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def one(inp: Any) -> bool:
        async with gate:
            return await start_notification(client, inp, task_queue)

    results = await asyncio.gather(*(one(input_for(r, policy)) for r in rows))
    await asyncio.to_thread(
        store.mark_started, [r.notification_id for r in rows], now or datetime.now(UTC)
    )
    return sum(results)


# --- what supervisors see ----------------------------------------------------------------
class NotificationSummary(BaseModel):
    """The figures of notifications out: per state and in total (``*``), the files,
    the open alerts. No personal data."""

    as_of: datetime
    by_country: list[CountryCounts]
    total: CountryCounts
    files_received: int
    files_incomplete: int
    last_file_sequence: int | None
    last_file_date: str | None
    open_alerts: int


def notification_summary(store: NotificationStore, now: datetime) -> NotificationSummary:
    counts = store.counts(now)
    files = store.files(limit=1)
    every = store.all_files()
    return NotificationSummary(
        as_of=now,
        by_country=counts[:-1],
        total=counts[-1],
        files_received=len(every),
        files_incomplete=sum(1 for f in every if not f.complete),
        last_file_sequence=files[0].sequence if files else None,
        last_file_date=files[0].file_date.isoformat() if files else None,
        open_alerts=len(store.alerts()),
    )


def _may_see(principal: Principal) -> None:
    if not may(principal, Capability.FIGURES):
        require(principal, Capability.NOTIFICATIONS)


def notification_counts(
    store: NotificationStore, principal: Principal, now: datetime
) -> NotificationSummary:
    """Notifications out by state of nationality and in total — sent, acknowledged,
    awaiting acknowledgement, escalated, overdue (not sent within 28 days), sent late —
    with the daily files received and the open alerts: the supervisors' figures (``fno
    notifications summary``, ``GET /notifications/summary``, the dashboard)."""
    _may_see(principal)
    return notification_summary(store, now)


def daily_files(
    store: NotificationStore, principal: Principal, limit: int = 100
) -> list[DailyFile]:
    """The daily activity files received, newest first."""
    require(principal, Capability.NOTIFICATIONS)
    return store.files(limit)


class NotificationRow(BaseModel):
    """One notification as listed: the store's record, with its kind (a conviction, or
    an amendment or deletion of one) and the first notification a change follows."""

    notification_id: str
    kind: NotificationKind
    amends_notification_id: str | None
    conviction_key: str
    country: str
    force: str | None
    file_sequence: int
    conviction_document_id: str
    recorded_at: datetime
    due_at: datetime = Field(description="The statutory deadline (UK calendar).")
    registered_at: datetime
    started_at: datetime | None
    sent_at: datetime | None
    sent_late: bool
    channel_ref: str | None
    acknowledged_at: datetime | None
    chasers: int
    escalations: int
    escalated_at: datetime | None
    closed_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, r: NotificationRecord) -> NotificationRow:
        kind = notification_kind(r.conviction_document_id)
        return cls(
            **r.model_dump(),
            kind=kind,
            amends_notification_id=first_notification_id(r.conviction_key, r.country, kind),
        )


def notifications(
    store: NotificationStore,
    principal: Principal,
    *,
    now: datetime,
    country: str | None = None,
    status: NotificationStatus | None = None,
    limit: int = 100,
) -> list[NotificationRow]:
    """Notifications, newest first: IDs, kinds, states and dates (no personal data)."""
    require(principal, Capability.NOTIFICATIONS)
    rows = store.notifications(now=now, country=country, status=status, limit=limit)
    return [NotificationRow.of(r) for r in rows]


def alerts(
    store: NotificationStore, principal: Principal, include_resolved: bool = False
) -> list[AlertRow]:
    """Open alerts (with ``include_resolved``, resolved ones too), oldest first."""
    require(principal, Capability.NOTIFICATIONS)
    return [AlertRow.of(a) for a in store.alerts(include_resolved=include_resolved)]


def accept_alert(
    store: NotificationStore,
    principal: Principal,
    alert_id: int,
    reason: str,
    now: datetime | None = None,
) -> None:
    """A senior caseworker accepts an open alert: it is not raised again; the decision
    goes to the access log with the proven person. ``KeyError``: no such alert;
    ``ValueError``: already resolved; ``AccessRefused``: no reason."""
    require(principal, Capability.ACCEPT_ALERTS)
    if len(reason.strip()) < 3:
        raise AccessRefused("State why the alert is accepted (at least 3 characters).")
    store.accept_alert(
        alert_id,
        actor=principal.name,
        role=principal.role,
        reason=reason.strip(),
        at=now or datetime.now(UTC),
        subject=principal.subject,
    )


class AlertRow(BaseModel):
    id: int
    key: str
    kind: str
    detail: str
    file_sequence: int | None
    notification_id: str | None
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None

    @classmethod
    def of(cls, a: NotificationAlert) -> AlertRow:
        assert a.id is not None
        return cls(
            id=a.id,
            key=a.alert_key,
            kind=a.kind,
            detail=a.detail,
            file_sequence=a.file_sequence,
            notification_id=a.notification_id,
            raised_at=a.raised_at,
            resolved_at=a.resolved_at,
            resolved_by=a.resolved_by,
            resolution=a.resolution,
        )


async def reconciliation_health(
    client: Client, now: datetime, policy: NotificationPolicy
) -> str | None:
    """Why the reconciliation itself is not watching, or None: the watcher is watched
    (a schedule deleted, paused, or not run for a day and a half)."""
    handle: ScheduleHandle = client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return (
                "the reconciliation schedule does not exist (start a worker, or run "
                "python -m processes.reconciliation_schedule)"
            )
        raise
    if described.schedule.state.paused:
        return f"the reconciliation schedule is paused ({described.schedule.state.note or ''})"
    actions = described.info.recent_actions
    last = max((a.started_at for a in actions), default=None)
    since = last or described.info.created_at
    if since is not None and now - since > policy.days(1.5) and now - since > timedelta(minutes=2):
        return f"the reconciliation has not run since {since:%Y-%m-%d %H:%M} UTC"
    return None
