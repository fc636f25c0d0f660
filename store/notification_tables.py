"""The tables of notifications out (migration 0002): the daily files received, one
record per notification (conviction × state of nationality) with its progress, and
the alerts the reconciliation raises. No personal data in them (see
``store.notifications``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field as SqlField
from sqlmodel import SQLModel

from models.reconciliation import AlertView


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
