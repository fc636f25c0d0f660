"""Notifications out: every UK conviction of an EU national reaches the home state.

The Police National Computer (PNC) sends ACRO a *daily activity file*: one file per
day, numbered in sequence, saying how many records it holds. Every conviction in it
of a national of a state with a notification duty (the EU member states, exchanged
through ECRIS — ``models/reference_data/countries.json``) becomes one notification
per state of nationality (a dual national is notified to each), sent before the end
of the ``notify_within_days`` (28) days beginning with the UK date the conviction was
recorded (EU(FR) Act 2020 s.1(5); ``models.notification_policy.notification_due``).
An amendment or deletion of a conviction in a later file is notified again (s.1(7)):
a notification of its own, kind ``amendment`` or ``deletion``, linked to the first.
From 2012 to 2019 about 75,000 were never sent because files went missing and
nobody noticed (seed 004); the reconciliation sees a missing file the day it is due.

The modules of notifications out:

- ``models/daily_file.py``: the PNC's file format and its parser;
- ``models/notification_policy.py``: deadlines, chasers and escalation;
- ``models/notification.py`` (here): who is notified, a notification's state and the
  payloads of its activities;
- ``models/reconciliation.py``: the daily reconciliation's findings and reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from models.case import CaseView, Outcome
from models.notification_policy import NotificationPolicy
from models.reference import countries
from models.steps import Step

NOTIFICATION_PREFIX = "notification-"
# The name Temporal stores for ``workflows.notification.NotificationWorkflow``: the
# activities start it by this name (they cannot import the workflow).
NOTIFICATION_WORKFLOW = "NotificationWorkflow"
# What a senior caseworker's escalation decision closes a notification with (the
# other action, ``keep_trying``, keeps it open).
ESCALATION_OUTCOMES = {
    "confirmed_by_other_means": Outcome.NOTIFICATION_CONFIRMED_OTHERWISE,
    "sent_by_other_channel": Outcome.NOTIFICATION_SENT_OTHER_CHANNEL,
    "not_required": Outcome.NOTIFICATION_NOT_REQUIRED,
}


def has_notification_duty(code: str) -> bool:
    """A conviction of a national of this state must be notified to it (EU states)."""
    c = countries().get(code)
    return c is not None and c.eu


def notification_countries(nationalities: list[str]) -> list[str]:
    """Every state of nationality with a notification duty, in the record's order."""
    return [c for c in dict.fromkeys(nationalities) if has_notification_duty(c)]


def notification_id_for(conviction_key: str, country: str) -> str:
    """The workflow ID of one notification: conviction × state of nationality."""
    return f"{NOTIFICATION_PREFIX}{conviction_key}-{country}"


def conviction_document_id(conviction_key: str) -> str:
    return f"conviction-{conviction_key}"


# What a notification tells the state: a conviction, or (s.1(7)) that a conviction
# already notified was amended or deleted on the PNC. A notification of an amendment
# or deletion is its own case, with its own deadline, linked to the first one.
NotificationKind = Literal["conviction", "amendment", "deletion"]
CHANGE_KINDS: dict[str, NotificationKind] = {"amended": "amendment", "deleted": "deletion"}


def change_document_id(change_key: str, kind: NotificationKind) -> str:
    """The store document of an amended or deleted conviction record."""
    return f"conviction-{kind}-{change_key}"


def notification_kind(conviction_document_id: str) -> NotificationKind:
    """The kind of a notification, from the document it is built from (the store's
    notification record keeps no other column for it)."""
    for kind in ("amendment", "deletion"):
        if conviction_document_id.startswith(f"conviction-{kind}-"):
            return kind  # type: ignore[return-value]
    return "conviction"


def first_notification_id(conviction_key: str, country: str, kind: NotificationKind) -> str | None:
    """The notification an amendment or deletion follows: the conviction's first one
    to the same state (same conviction key); None for a conviction's own."""
    return None if kind == "conviction" else notification_id_for(conviction_key, country)


# --- the notification case ---------------------------------------------------------------
class NotificationInput(BaseModel):
    """Start of one notification; ``state`` is set only when continuing as new. Carries
    no personal data: the conviction itself is a document in the case store."""

    notification_id: str
    conviction_key: str
    country: str
    force: str | None = None
    file_sequence: int
    recorded_at: datetime
    conviction_document_id: str
    policy: NotificationPolicy = Field(default_factory=NotificationPolicy)
    state: NotificationState | None = None
    # Issue 20 (h1); absent from inputs recorded before, whose cases keep the old rule.
    due_at: datetime | None = Field(
        default=None, description="The statutory deadline (``notification_due``)."
    )
    kind: NotificationKind = "conviction"
    amends_notification_id: str | None = None


class NotificationState(CaseView):
    policy: NotificationPolicy
    conviction_key: str
    country: str
    channel: str
    force: str | None = None
    file_sequence: int
    conviction_document_id: str
    recorded_at: datetime
    due_at: datetime = Field(description="Statutory deadline (``notification_due``).")
    kind: NotificationKind = "conviction"
    amends_notification_id: str | None = Field(
        default=None, description="The first notification an amendment or deletion follows."
    )
    message_document_id: str | None = None
    channel_ref: str | None = None
    sent_at: datetime | None = None
    sent_late: bool = False
    ack_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    chasers_sent: int = 0
    polls: int = 0
    last_polled_at: datetime | None = None
    escalate_at: datetime | None = None
    escalations: int = 0
    escalation_open: bool = False

    def first_escalation_at(self, opened_at: datetime, due_given: bool) -> datetime:
        """A week before the deadline — but never before the state has had its usual
        time to acknowledge (a conviction received late). A case started with its
        deadline in the input counts back from it; one started before (no deadline in
        its input) keeps ``recorded_at + escalate_after_days``, as it was recorded."""
        p = self.policy
        planned = (
            self.due_at - p.days(p.notify_within_days - p.escalate_after_days)
            if due_given
            else self.recorded_at + p.days(p.escalate_after_days)
        )
        return max(planned, opened_at + p.days(p.ack_due_days))

    def next_poll_at(self) -> datetime:
        """When the acknowledgement is asked for next: soon after sending, then daily."""
        p = self.policy
        assert self.last_polled_at is not None
        schedule = p.ack_poll_schedule_days
        interval = schedule[self.polls] if self.polls < len(schedule) else p.ack_poll_days
        return self.last_polled_at + p.days(interval)


NotificationInput.model_rebuild()


class NotificationResult(BaseModel):
    notification_id: str
    outcome: str


# --- activity steps ------------------------------------------------------------------------
class NotificationBuild(Step):
    conviction_document_id: str
    country: str
    channel: str
    recorded_at: datetime
    kind: NotificationKind = "conviction"
    amends_notification_id: str | None = None


class NotificationMessageRef(BaseModel):
    document_id: str
    digest: str


class NotificationSend(Step):
    country: str
    channel: str
    message_document_id: str
    due_at: datetime


class ChannelRef(BaseModel):
    ref: str


class AckPoll(BaseModel):
    case_id: str
    channel_ref: str
    country: str
    as_of: datetime


class AckResult(BaseModel):
    acknowledged_at: datetime | None = None


class NotificationChaser(Step):
    channel_ref: str
    country: str
    chaser_number: int


class NotificationEscalated(Step):
    escalation: int
    due_at: datetime


class NotificationClosed(Step):
    outcome: str
    closed_at: datetime
