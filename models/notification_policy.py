"""The policy of notifications out: the general policy with its deadlines, chasers,
escalation and the daily file's due hour (all durations in days)."""

from __future__ import annotations

from pydantic import Field

from models.policy import Policy


class NotificationPolicy(Policy):
    """The general policy, with the durations of notifications out (in days)."""

    # EU(FR) Act 2020 s.1: notified within 28 days of the conviction being recorded.
    notify_within_days: float = Field(default=28, gt=0)
    # The home state's acknowledgement: asked for soon after sending, then daily.
    ack_due_days: float = Field(default=3, gt=0, description="Before the first chaser.")
    ack_chaser_interval_days: float = Field(default=3, gt=0)
    ack_max_chasers: int = Field(default=3, ge=0)
    ack_poll_schedule_days: list[float] = Field(default_factory=lambda: [1 / 24, 6 / 24])
    ack_poll_days: float = Field(default=1, gt=0)
    # Unacknowledged this long after recording: a senior caseworker decides, a week
    # before the deadline; again every ``re_escalate_days`` while it stays open.
    escalate_after_days: float = Field(default=21, gt=0)
    re_escalate_days: float = Field(default=7, gt=0)
    # The PNC's file for a day is due by this hour (UTC) the next day; the
    # reconciliation runs daily at ``reconcile_at_hour`` (UTC).
    daily_file_due_hour: int = Field(default=6, ge=0, le=23)
    reconcile_at_hour: int = Field(default=7, ge=0, le=23)


def notification_policy(policy: Policy) -> NotificationPolicy:
    """The notification policy that goes with a general one (same name, same day)."""
    if isinstance(policy, NotificationPolicy):
        return policy
    return NotificationPolicy(**policy.model_dump())
