"""The daily reconciliation of notifications out: what it runs with (the feed's anchor,
the policy) and what it finds and reports (alerts, files missing or incomplete,
notifications started)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from models.notification import NotificationInput
from models.notification_policy import NotificationPolicy

# The name Temporal stores for ``workflows.reconciliation``'s workflow: what the
# Schedule starts.
RECONCILIATION_WORKFLOW = "NotificationReconciliationWorkflow"
RECONCILIATION_SCHEDULE_ID = "fno-notification-reconciliation"
RECONCILIATION_PREFIX = "reconciliation-notifications"


class FeedAnchor(BaseModel):
    """A known (sequence, date) pair of the PNC's files: every later day must have its
    file. Without one, the first file ingested is the anchor."""

    sequence: int = Field(ge=1)
    file_date: date

    @classmethod
    def parse(cls, text: str) -> FeedAnchor:
        """``SEQUENCE@YYYY-MM-DD`` (``FNO_DAILY_FILE_ANCHOR``)."""
        seq, sep, day = text.partition("@")
        if not sep:
            raise ValueError(
                f"{text!r}: write the anchor as SEQUENCE@YYYY-MM-DD, e.g. 1@2026-01-01"
            )
        return cls(sequence=int(seq), file_date=date.fromisoformat(day))


class ReconcileInput(BaseModel):
    """What the scheduled reconciliation runs with (the Schedule's action argument)."""

    policy: NotificationPolicy = Field(default_factory=NotificationPolicy)
    anchor: FeedAnchor | None = None


class ReconcileRequest(BaseModel):
    as_of: datetime
    run_id: str = Field(description="The reconciliation's workflow ID: part of step keys.")
    policy: NotificationPolicy
    anchor: FeedAnchor | None = None


class AlertView(BaseModel):
    key: str
    kind: str
    detail: str
    file_sequence: int | None = None
    notification_id: str | None = None
    raised_at: datetime


class ReconcileFindings(BaseModel):
    as_of: datetime
    files_expected: int = 0
    files_ingested: int = 0
    missing_sequences: list[int] = Field(default_factory=list)
    incomplete_sequences: list[int] = Field(default_factory=list)
    out_of_sequence: list[int] = Field(default_factory=list)
    resends_requested: list[int] = Field(default_factory=list)
    overdue_notifications: int = 0
    to_start: list[NotificationInput] = Field(default_factory=list)
    to_check: list[str] = Field(default_factory=list)
    new_alerts: list[AlertView] = Field(default_factory=list)
    open_alerts: int = 0


class StartReport(BaseModel):
    started: int = 0
    already_running: int = 0
    ended_without_outcome: list[str] = Field(default_factory=list)
    new_alerts: list[AlertView] = Field(default_factory=list)


class ReconcileReport(BaseModel):
    findings: ReconcileFindings
    started: StartReport
