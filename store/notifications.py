"""The case store's side of notifications out: the daily files received, one record per
notification (conviction × state of nationality) with its progress, and the alerts
the reconciliation raises. Same database as ``store.cases`` (migration 0002).

No personal data in these tables: a notification is known by its ID (an HMAC of the
conviction), its country and its dates. The conviction itself — the person, the
court, the offences — is a ``document`` (kind ``pnc_conviction_record``), stored
once, its collection written to the access log. Only convictions with a notification
duty are kept: the rest of a daily file is counted, never stored.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SqlField
from sqlmodel import Session, SQLModel, col, select

from models.notification import (
    AlertView,
    ParsedDailyFile,
    conviction_document_id,
    notification_countries,
    notification_id_for,
)
from store.cases import AccessLogEntry, Document

# Who collects a conviction from the daily file, in the access log.
PNC_FEED = "PNC daily activity file"
AUTO = "reconciliation"


class DailyFile(SQLModel, table=True):
    """One row per daily activity file received (the latest accepted version)."""

    __tablename__ = "daily_file"
    sequence: int = SqlField(primary_key=True, sa_column_kwargs={"autoincrement": False})
    file_date: date = SqlField(index=True)
    declared_count: int
    records_ingested: int
    rejected: int = 0
    convictions: int = 0
    notifications: int = 0
    digest: str = SqlField(max_length=64)
    receipts: int = 1
    first_received_at: datetime
    last_received_at: datetime
    source: str = SqlField(default="", max_length=120)
    complete: bool = True


class NotificationRecord(SQLModel, table=True):
    """One notification: a conviction to one state of nationality, and how far it got."""

    __tablename__ = "notification_record"
    notification_id: str = SqlField(primary_key=True, max_length=60)
    conviction_key: str = SqlField(index=True, max_length=40)
    country: str = SqlField(index=True, max_length=2)
    force: str | None = SqlField(default=None, max_length=40)
    file_sequence: int = SqlField(index=True)
    conviction_document_id: str = SqlField(max_length=200)
    recorded_at: datetime
    due_at: datetime = SqlField(index=True)
    registered_at: datetime
    started_at: datetime | None = None
    sent_at: datetime | None = None
    sent_late: bool = False
    channel_ref: str | None = SqlField(default=None, max_length=80)
    acknowledged_at: datetime | None = None
    chasers: int = 0
    escalations: int = 0
    escalated_at: datetime | None = None
    closed_at: datetime | None = SqlField(default=None, index=True)
    outcome: str | None = SqlField(default=None, max_length=200)


class NotificationAlert(SQLModel, table=True):
    """A gap the reconciliation found: open until the cause is gone, or a person accepts it."""

    __tablename__ = "notification_alert"
    id: int | None = SqlField(default=None, primary_key=True)
    alert_key: str = SqlField(unique=True, max_length=200)
    kind: str = SqlField(index=True, max_length=40)
    detail: str
    file_sequence: int | None = None
    notification_id: str | None = SqlField(default=None, max_length=60)
    raised_at: datetime = SqlField(index=True)
    last_seen_at: datetime
    resolved_at: datetime | None = SqlField(default=None, index=True)
    resolved_by: str | None = SqlField(default=None, max_length=120)
    resolution: str | None = None

    def view(self) -> AlertView:
        return AlertView(
            key=self.alert_key,
            kind=self.kind,
            detail=self.detail,
            file_sequence=self.file_sequence,
            notification_id=self.notification_id,
            raised_at=self.raised_at,
        )


IngestStatus = Literal["ingested", "already_ingested", "completed", "conflict"]


class IngestOutcome(BaseModel):
    status: IngestStatus
    sequence: int
    file_date: date
    declared_count: int
    records_read: int
    rejected: int
    convictions: int
    notifications_new: int
    complete: bool
    missing_before: list[int] = Field(default_factory=list)
    detail: str = ""


class CountryCounts(BaseModel):
    """Notifications to one state (or all: country ``*``), by where they stand."""

    country: str
    notifications: int = 0
    not_started: int = 0
    sending: int = 0
    sent: int = 0
    awaiting_ack: int = 0
    acknowledged: int = 0
    escalated: int = 0
    overdue: int = 0
    sent_late: int = 0
    closed_otherwise: int = 0


NotificationStatus = Literal[
    "not_started", "sending", "awaiting_ack", "acknowledged", "escalated", "overdue", "closed"
]


class NotificationStore:
    """Notifications out in the case store (the engine of ``CaseStore``, schema current)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- intake ----------------------------------------------------------------------
    def ingest(
        self,
        parsed: ParsedDailyFile,
        *,
        secret: str,
        due_days: float,
        day_seconds: float,
        source: str,
        now: datetime,
    ) -> IngestOutcome:
        """Record the file and a notification per conviction × duty state, in one
        transaction. The same file again changes nothing; a complete version of a file
        first received incomplete adds what was missing; different content for a
        complete file is a conflict (refused, and an alert)."""
        for attempt in range(2):
            try:
                return self._ingest(parsed, secret, due_days, day_seconds, source, now)
            except IntegrityError:  # a concurrent delivery of the same file won
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _ingest(
        self,
        parsed: ParsedDailyFile,
        secret: str,
        due_days: float,
        day_seconds: float,
        source: str,
        now: datetime,
    ) -> IngestOutcome:
        h = parsed.header
        complete = parsed.records_read == h.record_count and not parsed.rejected

        def outcome(status: IngestStatus, new: int, detail: str = "") -> IngestOutcome:
            return IngestOutcome(
                status=status,
                sequence=h.sequence,
                file_date=h.file_date,
                declared_count=h.record_count,
                records_read=parsed.records_read,
                rejected=len(parsed.rejected),
                convictions=len(parsed.convictions),
                notifications_new=new,
                complete=complete,
                missing_before=self.missing_before(h.sequence),
                detail=detail,
            )

        with Session(self.engine) as s:
            row = s.get(DailyFile, h.sequence)
            if row is not None and row.digest == parsed.digest:
                row.receipts += 1
                row.last_received_at = now
                s.add(row)
                s.commit()
                return outcome("already_ingested", 0, "this file was already ingested")
            if row is not None and row.complete:
                return outcome(
                    "conflict",
                    0,
                    f"file {h.sequence} was already ingested complete with different content",
                )
            new = 0
            notifications = 0
            for record in parsed.convictions:
                countries = notification_countries(record.nationalities)
                if not countries:
                    continue  # no duty: not kept (data minimisation)
                key = record.conviction_key(secret)
                doc_id = conviction_document_id(key)
                ids = [notification_id_for(key, c) for c in countries]
                notifications += len(ids)
                if s.get(Document, doc_id) is None:
                    s.add(
                        Document(
                            id=doc_id,
                            case_id=ids[0],
                            kind="pnc_conviction_record",
                            content=json.dumps(
                                {"file_sequence": h.sequence, **record.model_dump(mode="json")}
                            ),
                        )
                    )
                for nid, country in zip(ids, countries, strict=True):
                    if s.get(NotificationRecord, nid) is not None:
                        continue
                    new += 1
                    s.add(
                        NotificationRecord(
                            notification_id=nid,
                            conviction_key=key,
                            country=country,
                            force=record.force,
                            file_sequence=h.sequence,
                            conviction_document_id=doc_id,
                            recorded_at=record.recorded_at,
                            due_at=record.recorded_at + timedelta(seconds=due_days * day_seconds),
                            registered_at=now,
                        )
                    )
                    s.add(
                        AccessLogEntry(
                            act_key=f"collection:{nid}",
                            actor=PNC_FEED,
                            role="system",
                            action="collection",
                            case_id=nid,
                            document_id=doc_id,
                            justification=f"conviction of a national of {country} recorded on "
                            f"the PNC (daily file {h.sequence}): to be notified to {country}",
                        )
                    )
            status: IngestStatus = "ingested"
            if row is None:
                row = DailyFile(
                    sequence=h.sequence,
                    file_date=h.file_date,
                    declared_count=h.record_count,
                    records_ingested=parsed.records_read,
                    digest=parsed.digest,
                    first_received_at=now,
                    last_received_at=now,
                )
            else:
                status = "completed" if complete else "ingested"
                row.receipts += 1
                row.last_received_at = now
                row.file_date = h.file_date
                row.declared_count = h.record_count
                row.digest = parsed.digest
                row.records_ingested = max(row.records_ingested, parsed.records_read)
            row.rejected = len(parsed.rejected)
            row.convictions = max(row.convictions, len(parsed.convictions))
            row.notifications = max(row.notifications, notifications)
            row.source = source[:120]
            row.complete = complete
            s.add(row)
            s.commit()
        return outcome(status, new)

    def missing_before(self, sequence: int) -> list[int]:
        """Sequences between the first file received and ``sequence`` not received."""
        with Session(self.engine) as s:
            have = set(s.exec(select(DailyFile.sequence)))
        if not have:
            return []
        return [n for n in range(min(have), sequence) if n not in have]

    # --- notifications ------------------------------------------------------------------
    def unstarted(self, sequence: int | None = None, limit: int = 1000) -> list[NotificationRecord]:
        query = select(NotificationRecord).where(col(NotificationRecord.started_at).is_(None))
        if sequence is not None:
            query = query.where(NotificationRecord.file_sequence == sequence)
        query = query.order_by(col(NotificationRecord.registered_at)).limit(limit)
        with Session(self.engine) as s:
            return list(s.exec(query))

    def record(self, notification_id: str) -> NotificationRecord | None:
        with Session(self.engine) as s:
            return s.get(NotificationRecord, notification_id)

    def update(self, notification_id: str, **changes: Any) -> None:
        """Set fields of a notification's record; a field already set to a moment is
        kept (a repeated step does not move it)."""
        with Session(self.engine) as s:
            row = s.get(NotificationRecord, notification_id)
            if row is None:
                raise KeyError(f"no notification record {notification_id!r}")
            for name, value in changes.items():
                current = getattr(row, name)
                if isinstance(current, datetime) and name.endswith("_at"):
                    continue
                setattr(row, name, value)
            s.add(row)
            s.commit()

    def mark_started(self, ids: list[str], at: datetime) -> None:
        if not ids:
            return
        with Session(self.engine) as s:
            for row in s.exec(
                select(NotificationRecord).where(col(NotificationRecord.notification_id).in_(ids))
            ):
                if row.started_at is None:
                    row.started_at = at
                    s.add(row)
            s.commit()

    def open_notifications(self, started_before: datetime, limit: int = 5000) -> list[str]:
        """Started, not closed: each should have a running workflow."""
        query = (
            select(NotificationRecord.notification_id)
            .where(
                col(NotificationRecord.started_at).is_not(None),
                col(NotificationRecord.started_at) < started_before,
                col(NotificationRecord.closed_at).is_(None),
            )
            .order_by(col(NotificationRecord.started_at))
            .limit(limit)
        )
        with Session(self.engine) as s:
            return list(s.exec(query))

    def overdue(self, now: datetime) -> list[NotificationRecord]:
        """Not sent by the statutory deadline, and not closed."""
        query = select(NotificationRecord).where(
            col(NotificationRecord.sent_at).is_(None),
            col(NotificationRecord.closed_at).is_(None),
            col(NotificationRecord.due_at) < now,
        )
        with Session(self.engine) as s:
            return list(s.exec(query))

    def notifications(
        self,
        *,
        now: datetime,
        country: str | None = None,
        status: NotificationStatus | None = None,
        limit: int = 100,
    ) -> list[NotificationRecord]:
        """Notifications, newest first, by country and status."""
        n = NotificationRecord
        query = select(n)
        if country:
            query = query.where(n.country == country)
        open_ = col(n.closed_at).is_(None)
        if status == "not_started":
            query = query.where(col(n.started_at).is_(None))
        elif status == "sending":
            query = query.where(col(n.started_at).is_not(None), col(n.sent_at).is_(None), open_)
        elif status == "awaiting_ack":
            query = query.where(col(n.sent_at).is_not(None), open_)
        elif status == "acknowledged":
            query = query.where(col(n.acknowledged_at).is_not(None))
        elif status == "escalated":
            query = query.where(n.escalations > 0, open_)
        elif status == "overdue":
            query = query.where(col(n.sent_at).is_(None), open_, col(n.due_at) < now)
        elif status == "closed":
            query = query.where(col(n.closed_at).is_not(None))
        query = query.order_by(col(n.registered_at).desc(), col(n.notification_id)).limit(limit)
        with Session(self.engine) as s:
            return list(s.exec(query))

    def counts(self, now: datetime) -> list[CountryCounts]:
        """Per country, then the total (country ``*``): the supervisors' figures."""
        n = NotificationRecord
        open_ = col(n.closed_at).is_(None)

        def count_if(*conditions: Any) -> Any:
            return func.sum(case((and_(*conditions), 1), else_=0))

        query = select(  # type: ignore[call-overload]
            n.country,
            func.count(),
            count_if(col(n.started_at).is_(None)),
            count_if(col(n.started_at).is_not(None), col(n.sent_at).is_(None), open_),
            count_if(col(n.sent_at).is_not(None)),
            count_if(col(n.sent_at).is_not(None), col(n.acknowledged_at).is_(None), open_),
            count_if(col(n.acknowledged_at).is_not(None)),
            count_if(n.escalations > 0, open_),
            count_if(col(n.sent_at).is_(None), open_, col(n.due_at) < now),
            count_if(n.sent_late == True),  # noqa: E712
            count_if(col(n.closed_at).is_not(None), col(n.acknowledged_at).is_(None)),
        ).group_by(n.country)
        fields = list(CountryCounts.model_fields)[1:]
        rows: list[CountryCounts] = []
        with Session(self.engine) as s:
            for country, *values in s.exec(query):
                rows.append(
                    CountryCounts(
                        country=country,
                        **{f: int(v or 0) for f, v in zip(fields, values, strict=True)},
                    )
                )
        rows.sort(key=lambda r: r.country)
        total = CountryCounts(country="*")
        for r in rows:
            for f in fields:
                setattr(total, f, getattr(total, f) + getattr(r, f))
        return [*rows, total]

    # --- files ---------------------------------------------------------------------------
    def files(self, limit: int = 100) -> list[DailyFile]:
        with Session(self.engine) as s:
            return list(
                s.exec(select(DailyFile).order_by(col(DailyFile.sequence).desc()).limit(limit))
            )

    def all_files(self) -> list[DailyFile]:
        with Session(self.engine) as s:
            return list(s.exec(select(DailyFile).order_by(col(DailyFile.sequence))))

    # --- alerts ----------------------------------------------------------------------------
    def raise_alert(
        self,
        key: str,
        kind: str,
        detail: str,
        *,
        at: datetime,
        file_sequence: int | None = None,
        notification_id: str | None = None,
    ) -> AlertView | None:
        """Open an alert; None when it is already open, or a person accepted it."""
        with Session(self.engine) as s:
            row = s.exec(
                select(NotificationAlert).where(NotificationAlert.alert_key == key)
            ).first()
            if row is not None:
                if row.resolved_at is not None and row.resolved_by != AUTO:
                    return None
                reopened = row.resolved_at is not None
                row.detail = detail
                row.last_seen_at = at
                if reopened:
                    row.raised_at, row.resolved_at, row.resolved_by = at, None, None
                    row.resolution = None
                s.add(row)
                s.commit()
                return row.view() if reopened else None
            row = NotificationAlert(
                alert_key=key,
                kind=kind,
                detail=detail,
                file_sequence=file_sequence,
                notification_id=notification_id,
                raised_at=at,
                last_seen_at=at,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:  # raised at the same moment by another run
                s.rollback()
                return None
            return row.view()

    def resolve_cleared(self, kinds: list[str], present: set[str], at: datetime) -> int:
        """Resolve open alerts of ``kinds`` whose cause is gone (key not in ``present``)."""
        n = 0
        with Session(self.engine) as s:
            for row in s.exec(
                select(NotificationAlert).where(
                    col(NotificationAlert.kind).in_(kinds),
                    col(NotificationAlert.resolved_at).is_(None),
                )
            ):
                if row.alert_key in present:
                    continue
                row.resolved_at, row.resolved_by = at, AUTO
                row.resolution = "cause no longer present"
                s.add(row)
                n += 1
            s.commit()
        return n

    def accepted_keys(self) -> set[str]:
        """Keys of the alerts a person accepted (not raised again)."""
        query = select(NotificationAlert.alert_key).where(
            col(NotificationAlert.resolved_by).is_not(None), NotificationAlert.resolved_by != AUTO
        )
        with Session(self.engine) as s:
            return set(s.exec(query))

    def alerts(
        self, *, include_resolved: bool = False, limit: int = 500
    ) -> list[NotificationAlert]:
        query = select(NotificationAlert)
        if not include_resolved:
            query = query.where(col(NotificationAlert.resolved_at).is_(None))
        query = query.order_by(col(NotificationAlert.raised_at), col(NotificationAlert.id)).limit(
            limit
        )
        with Session(self.engine) as s:
            return list(s.exec(query))

    def accept_alert(
        self, alert_id: int, *, actor: str, role: str, reason: str, at: datetime
    ) -> None:
        """A person accepts an open alert (e.g. a record the PNC will not re-send); it
        is not raised again. The decision goes to the access log."""
        if not reason.strip():
            raise PermissionError("state why the alert is accepted")
        with Session(self.engine) as s:
            row = s.get(NotificationAlert, alert_id)
            if row is None:
                raise KeyError(f"no alert {alert_id}")
            if row.resolved_at is not None:
                raise ValueError(f"alert {alert_id} is already resolved ({row.resolution})")
            row.resolved_at, row.resolved_by, row.resolution = at, actor, reason
            s.add(row)
            s.add(
                AccessLogEntry(
                    act_key=f"alert-accepted:{alert_id}",
                    actor=actor,
                    role=role,
                    action="decision",
                    case_id=row.notification_id or f"daily-file-{row.file_sequence}",
                    justification=f"notification alert {row.alert_key} accepted: {reason}",
                )
            )
            s.commit()
