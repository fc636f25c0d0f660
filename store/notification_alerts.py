"""The reconciliation's alerts in the notification store: raised once, resolved when
their cause is gone, or accepted by a person (then never raised again)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.reconciliation import AlertView
from store.cases import AccessLogEntry
from store.notification_tables import NotificationAlert

# ``resolved_by`` of an alert the reconciliation resolved itself (its cause is gone).
AUTO = "reconciliation"


class NotificationAlerts:
    """The alerts part of ``NotificationStore``."""

    engine: Engine

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
        self,
        alert_id: int,
        *,
        actor: str,
        role: str,
        reason: str,
        at: datetime,
        subject: str | None = None,
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
                    subject=subject,
                    action="decision",
                    case_id=row.notification_id or f"daily-file-{row.file_sequence}",
                    justification=f"notification alert {row.alert_key} accepted: {reason}",
                )
            )
            s.commit()
