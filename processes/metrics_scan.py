"""The worker's gauges (issue 23), counted from Temporal's visibility every
``FNO_METRICS_SCAN_SECONDS`` (60 by default; 0: none) and set on the SDK's metric meter,
served with the rest on the worker's Prometheus endpoint (``runtime.metrics``).

One walk over the open cases' search attributes (kind, stage, awaiting roles, next
deadline — none of them personal data) gives every gauge: open cases by kind and stage,
overdue ones by kind (the next deadline passed), cases awaiting each role, and the days
left before the statutory deadline of the unsent notification closest to it. A label
set seen before and gone now is set to 0, so a stage emptied reads 0, not its last
count. A scan that fails counts ``fno_metrics_scan_failures_total`` and leaves the
gauges as they were; the next one tries again.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from temporalio.client import Client
from temporalio.common import MetricMeter

from models import search
from models.case import Stage
from models.metrics import (
    CASES_OPEN,
    CASES_OVERDUE,
    NOTIFICATION_DAYS_LEFT,
    SCAN_FAILURES,
    TASKS_AWAITING,
    Metric,
)
from models.notification_policy import NotificationPolicy

SCAN_ENV = "FNO_METRICS_SCAN_SECONDS"
KINDS = ("encounter", "casework", "notification")
OPEN_CASES = (
    "ExecutionStatus = 'Running' AND "
    f"{search.CASE_KIND.name} IN ({', '.join(repr(k) for k in KINDS)})"
)
UNSENT = (Stage.NOTIFICATION_TO_SEND.name, Stage.NOTIFICATION_ESCALATED.name)
DAY = timedelta(days=1)
# With no notification unsent, nothing is due sooner than a new one's statutory span.
NO_NOTIFICATION_DUE_DAYS = NotificationPolicy().notify_within_days


@dataclass
class Snapshot:
    """What one walk over the open cases found (counts by label values)."""

    open: Counter[tuple[str, ...]] = field(default_factory=Counter)  # (kind, stage)
    overdue: Counter[str] = field(default_factory=Counter)  # kind
    awaiting: Counter[str] = field(default_factory=Counter)  # role
    notification_days_left: float = NO_NOTIFICATION_DUE_DAYS


async def snapshot(client: Client, now: datetime) -> Snapshot:
    found = Snapshot()
    closest: timedelta | None = None
    async for w in client.list_workflows(OPEN_CASES):
        attrs = w.typed_search_attributes
        kind = attrs.get(search.CASE_KIND) or "unknown"
        stage = attrs.get(search.STAGE) or "UNKNOWN"
        found.open[(kind, stage)] += 1
        due = attrs.get(search.NEXT_DEADLINE)
        if due is not None and due < now:
            found.overdue[kind] += 1
        for role in attrs.get(search.AWAITING_ROLE) or []:
            found.awaiting[role] += 1
        if kind == "notification" and stage in UNSENT and due is not None:
            left = due - now
            closest = left if closest is None else min(closest, left)
    if closest is not None:
        found.notification_days_left = closest / DAY
    return found


Labels = tuple[str, ...]


class Gauges:
    """The gauges on ``meter``, remembering the label sets each has been given."""

    def __init__(self, meter: MetricMeter) -> None:
        self.meter = meter
        self.seen: dict[str, set[Labels]] = {}

    def set_counts(self, metric: Metric, counts: dict[Labels, int]) -> None:
        gauge = self.meter.create_gauge(metric.name, metric.help)
        seen = self.seen.setdefault(metric.name, set())
        for values in sorted(seen | set(counts)):
            labels: dict[str, str | int | float | bool] = dict(
                zip(metric.labels, values, strict=True)
            )
            gauge.set(counts.get(values, 0), labels)
        seen |= set(counts)

    def show(self, found: Snapshot) -> None:
        self.set_counts(CASES_OPEN, dict(found.open))
        self.set_counts(CASES_OVERDUE, {(k,): n for k, n in found.overdue.items()})
        self.set_counts(TASKS_AWAITING, {(r,): n for r, n in found.awaiting.items()})
        days = NOTIFICATION_DAYS_LEFT
        self.meter.create_gauge_float(days.name, days.help).set(found.notification_days_left)


def scan_seconds() -> float:
    return float(os.environ.get(SCAN_ENV, "60"))


async def keep_gauges(
    client: Client, meter: MetricMeter, every_seconds: float, log: structlog.stdlib.BoundLogger
) -> None:
    """Until cancelled: a snapshot every ``every_seconds``, set on ``meter``."""
    gauges = Gauges(meter)
    failures = meter.create_counter(SCAN_FAILURES.name, SCAN_FAILURES.help)
    while True:
        try:
            gauges.show(await snapshot(client, datetime.now().astimezone()))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a visibility outage must never stop the worker
            failures.add(1)
            log.warning("metrics scan failed", error_type=type(err).__name__)
        await asyncio.sleep(every_seconds)
