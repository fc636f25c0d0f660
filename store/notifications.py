"""The case store's side of notifications out: the daily files received, one record per
notification (conviction × state of nationality) with its progress, and the alerts
the reconciliation raises. Same database as ``store.cases`` (migration 0002).

No personal data in these tables: a notification is known by its ID (an HMAC of the
conviction), its country and its dates. The conviction itself — the person, the
court, the offences — is a ``document`` (kind ``pnc_conviction_record``), stored
once, its collection written to the access log. Only convictions with a notification
duty are kept: the rest of a daily file is counted, never stored.

``NotificationStore`` is the one object callers use. Here: taking in a daily file and
a notification's progress; its tables are in ``store.notification_tables``, its
reports (listings, figures per state) in ``store.notification_reports`` and its
alerts in ``store.notification_alerts``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.daily_file import ConvictionAmendment, ParsedDailyFile
from models.notification import (
    CHANGE_KINDS,
    change_document_id,
    conviction_document_id,
    notification_countries,
    notification_id_for,
)
from models.notification_policy import notification_due
from store.cases import AccessLogEntry, Document
from store.notification_alerts import NotificationAlerts
from store.notification_reports import NotificationReports
from store.notification_tables import DailyFile, NotificationRecord

# Who collects a conviction from the daily file, in the access log.
PNC_FEED = "PNC daily activity file"


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
    changes: int = 0  # convictions amended or deleted (s.1(7))
    complete: bool
    missing_before: list[int] = Field(default_factory=list)
    detail: str = ""


class NotificationStore(NotificationReports, NotificationAlerts):
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
                changes=len(parsed.changes),
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
                new += _register(
                    s,
                    Registration(
                        ids=ids,
                        countries=countries,
                        conviction_key=key,
                        force=record.force,
                        sequence=h.sequence,
                        document_id=doc_id,
                        document_kind="pnc_conviction_record",
                        content=record.model_dump(mode="json"),
                        recorded_at=record.recorded_at,
                        due_at=notification_due(record.recorded_at, due_days, day_seconds),
                        what="conviction",
                    ),
                    now,
                )
            for change in parsed.changes:
                n_new, n_all = self._register_change(
                    s, change, h.sequence, secret, due_days, day_seconds, now
                )
                new += n_new
                notifications += n_all
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

    def _register_change(
        self,
        s: Session,
        change: ConvictionAmendment,
        sequence: int,
        secret: str,
        due_days: float,
        day_seconds: float,
        now: datetime,
    ) -> tuple[int, int]:
        """A conviction amended or deleted (s.1(7)): a notification of it to every state
        the conviction was notified to, and to any state of nationality with a duty the
        record now names; its own deadline from the day the change was recorded; its
        identity the change's own record (the same change again registers nothing).
        (new notifications, notifications the change calls for)."""
        key = change.conviction_key(secret)
        kind = CHANGE_KINDS[change.change]
        firsts = s.exec(
            select(NotificationRecord.country)
            .where(
                NotificationRecord.conviction_key == key,
                NotificationRecord.conviction_document_id == conviction_document_id(key),
            )
            .order_by(col(NotificationRecord.registered_at), col(NotificationRecord.country))
        )
        countries = list(dict.fromkeys([*firsts, *notification_countries(change.nationalities)]))
        if not countries:
            return 0, 0  # never notified, no duty now: not kept
        change_key = change.change_key(secret)
        doc_id = change_document_id(change_key, kind)
        ids = [notification_id_for(change_key, c) for c in countries]
        new = _register(
            s,
            Registration(
                ids=ids,
                countries=countries,
                # The conviction's key: what links the change to its first notification.
                conviction_key=key,
                force=change.force,
                sequence=sequence,
                document_id=doc_id,
                document_kind=f"pnc_conviction_{kind}",
                content=change.model_dump(mode="json"),
                recorded_at=change.recorded_at,
                due_at=notification_due(change.recorded_at, due_days, day_seconds),
                what=f"{kind} of a conviction",
            ),
            now,
        )
        return new, len(ids)

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

    # --- files ---------------------------------------------------------------------------
    def files(self, limit: int = 100) -> list[DailyFile]:
        with Session(self.engine) as s:
            return list(
                s.exec(select(DailyFile).order_by(col(DailyFile.sequence).desc()).limit(limit))
            )

    def all_files(self) -> list[DailyFile]:
        with Session(self.engine) as s:
            return list(s.exec(select(DailyFile).order_by(col(DailyFile.sequence))))


@dataclass
class Registration:
    """Notifications of one PNC record (a conviction, or its amendment or deletion) to
    ``countries``, with ``ids``; the record kept once as ``document_id``."""

    ids: list[str]
    countries: list[str]
    conviction_key: str
    force: str | None
    sequence: int
    document_id: str
    document_kind: str
    content: dict[str, Any]
    recorded_at: datetime
    due_at: datetime
    what: str  # "conviction", "amendment of a conviction", …


def _register(s: Session, r: Registration, now: datetime) -> int:
    """Keep the record and register each notification not yet registered, its
    collection logged; how many are new."""
    if s.get(Document, r.document_id) is None:
        s.add(
            Document(
                id=r.document_id,
                case_id=r.ids[0],
                kind=r.document_kind,
                content=json.dumps({"file_sequence": r.sequence, **r.content}),
            )
        )
    new = 0
    for nid, country in zip(r.ids, r.countries, strict=True):
        if s.get(NotificationRecord, nid) is not None:
            continue
        new += 1
        s.add(
            NotificationRecord(
                notification_id=nid,
                conviction_key=r.conviction_key,
                country=country,
                force=r.force,
                file_sequence=r.sequence,
                conviction_document_id=r.document_id,
                recorded_at=r.recorded_at,
                due_at=r.due_at,
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
                document_id=r.document_id,
                justification=f"{r.what} of a national of {country} recorded on the PNC "
                f"(daily file {r.sequence}): to be notified to {country}",
            )
        )
    return new
