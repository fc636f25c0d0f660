"""What supervisors see of notifications out in the store: notifications by country
and status, and the figures per state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, and_, case, func
from sqlmodel import Session, col, select

from store.notification_tables import NotificationRecord


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


class NotificationReports:
    """The reports part of ``NotificationStore``."""

    engine: Engine

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
