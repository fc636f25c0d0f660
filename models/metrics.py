"""The product's own metrics (issue 23): their names, kinds and labels, in one place
for the code that emits them, the alert rules and the dashboard (``deploy/``; a test
checks both against this table).

No label carries personal data: case kinds, stage and outcome codes, roles, decision
kinds, HTTP route templates (never a path as requested) and status codes. Case IDs are
not labels either (one series per case would grow without bound).

Where each is emitted:

- the **worker**, through the Temporal SDK's metric meter (``workflow.metric_meter()``
  in workflows: not emitted again when a workflow task is replayed), on the SDK's
  Prometheus endpoint beside the SDK's own runtime metrics (``FNO_METRICS_ADDRESS``,
  ``runtime.metrics``);
- the **HTTP API**, with ``prometheus-client`` (``server.metrics``), on its own port
  (``FNO_METRICS_ADDRESS`` of that process), never on the public app.

Counters are exported with Prometheus's ``_total`` suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: MetricKind
    labels: tuple[str, ...]
    help: str
    process: Literal["worker", "api"]

    @property
    def exported(self) -> str:
        """The name Prometheus sees (counters with ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


# The worker: emitted by the case workflows as they move.
CASES_OPENED = Metric("fno_cases_opened", "counter", ("kind",), "Cases opened, by kind.", "worker")
CASES_CLOSED = Metric(
    "fno_cases_closed",
    "counter",
    ("kind", "outcome"),
    "Cases closed, by kind and outcome (a reopened case closing again counts again).",
    "worker",
)
# The worker: counted from Temporal's visibility every FNO_METRICS_SCAN_SECONDS.
CASES_OPEN = Metric(
    "fno_cases_open", "gauge", ("kind", "stage"), "Open cases, by kind and stage.", "worker"
)
CASES_OVERDUE = Metric(
    "fno_cases_overdue",
    "gauge",
    ("kind",),
    "Open cases whose next deadline has passed, by kind.",
    "worker",
)
TASKS_AWAITING = Metric(
    "fno_tasks_awaiting",
    "gauge",
    ("role",),
    "Open cases awaiting a decision of a role, by role (a case awaiting two roles counts "
    "for each).",
    "worker",
)
NOTIFICATION_DAYS_LEFT = Metric(
    "fno_notification_deadline_days_left",
    "gauge",
    (),
    "Days left before the statutory deadline of the open notification closest to it "
    "(negative: past it; absent when none is open).",
    "worker",
)
SCAN_FAILURES = Metric(
    "fno_metrics_scan_failures",
    "counter",
    (),
    "Visibility scans behind the gauges that failed (the gauges keep their last values).",
    "worker",
)
# The worker: the stuck-case watch (FNO_STUCK_SCAN_MINUTES).
CASES_STUCK = Metric(
    "fno_cases_stuck",
    "gauge",
    (),
    "Cases not moving at the last stuck-case scan (a step failing, a deadline "
    "unattended, ended without an outcome, a history past its alert).",
    "worker",
)
# The stuck listing's reason code of a case whose history is past its alert
# (``access.stuck_rows``), counted apart by the worker's watch.
HISTORY_LARGE_CODE = "history_large"
CASES_HISTORY_LARGE = Metric(
    "fno_cases_history_large",
    "gauge",
    (),
    "Open cases whose history is past FNO_HISTORY_ALERT_EVENTS at the last stuck-case "
    "scan (counted in fno_cases_stuck too).",
    "worker",
)

# The HTTP API.
HTTP_REQUESTS = Metric(
    "fno_http_requests",
    "counter",
    ("route", "method", "status"),
    "HTTP requests answered, by route template, method and status code.",
    "api",
)
HTTP_SECONDS = Metric(
    "fno_http_request_seconds",
    "histogram",
    ("route", "method"),
    "Time to answer, by route template and method.",
    "api",
)
INTAKE_EVENTS = Metric(
    "fno_intake_events",
    "counter",
    ("status",),
    "Custody events taken in: started, already_received, or refused (an invalid event, "
    "a caller without the right), by status.",
    "api",
)
DECISIONS_REFUSED = Metric(
    "fno_decisions_refused",
    "counter",
    ("kind",),
    "Decisions refused by a case (its rules, its stage, the caller), by decision kind.",
    "api",
)

METRICS: tuple[Metric, ...] = (
    CASES_OPENED,
    CASES_CLOSED,
    CASES_OPEN,
    CASES_OVERDUE,
    TASKS_AWAITING,
    NOTIFICATION_DAYS_LEFT,
    SCAN_FAILURES,
    CASES_STUCK,
    CASES_HISTORY_LARGE,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    INTAKE_EVENTS,
    DECISIONS_REFUSED,
)
