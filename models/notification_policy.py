"""The policy of notifications out: the general policy with its deadlines, chasers,
escalation and the daily file's due hour (all durations in days), and the statutory
deadline of one notification (``notification_due``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field

from models.policy import DAY, Policy

# The UK date decides the statutory deadline (GMT in winter, BST in summer).
UK_TIME_ZONE = "Europe/London"


class NotificationPolicy(Policy):
    """The general policy, with the durations of notifications out (in days)."""

    # EU(FR) Act 2020 s.1(5): notified before the end of the 28 days beginning with the
    # day the conviction is recorded (``notification_due``).
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

    def notification_due(self, recorded_at: datetime) -> datetime:
        """The statutory deadline of a conviction recorded at ``recorded_at``."""
        return notification_due(recorded_at, self.notify_within_days, self.day_seconds)


@lru_cache(maxsize=1)
def _uk() -> ZoneInfo:
    # Loaded on first use, outside any workflow: the starters compute the deadline and
    # pass it in the workflow's input (the sandbox need not read time-zone data).
    return ZoneInfo(UK_TIME_ZONE)


def notification_due(recorded_at: datetime, within_days: float, day_seconds: float) -> datetime:
    """The moment a notification is due by, in UTC.

    With real days (``day_seconds`` 86,400): the end of the last of the ``within_days``
    days *beginning with* the UK date of ``recorded_at`` — that day counts — i.e. the
    start (00:00 Europe/London) of UK day D + ``within_days``. A conviction recorded at
    23:30 on 10 June (BST) is due by the end of 7 July, UK time: 23:00 UTC on 7 July.
    A fractional ``within_days`` counts as the next whole day.

    With a compressed clock (tests, demos: a "day" of seconds) there is no calendar
    to count in: ``recorded_at + within_days`` scaled days, as before."""
    if recorded_at.tzinfo is None:
        raise ValueError("recorded_at needs a time zone")
    if day_seconds != DAY:
        return recorded_at + timedelta(seconds=within_days * day_seconds)
    uk = _uk()
    first_day = recorded_at.astimezone(uk).date()
    day_after_last = first_day + timedelta(days=math.ceil(within_days))
    # Midnight always exists in London (the clocks change at 01:00 UTC).
    return datetime.combine(day_after_last, time(0), tzinfo=uk).astimezone(UTC)


def notification_policy(policy: Policy) -> NotificationPolicy:
    """The notification policy that goes with a general one (same name, same day)."""
    if isinstance(policy, NotificationPolicy):
        return policy
    return NotificationPolicy(**policy.model_dump())
