"""The HTTP API's metrics (issue 23), with ``prometheus-client``: the names and labels
of ``models.metrics``, in a registry of their own, served on the process's
``FNO_METRICS_ADDRESS`` (``serve``) — a port of its own, never a route of the public
app. Counters and a histogram only; their labels are route templates, methods, status
codes, intake statuses and decision kinds, never a path as requested nor anything a
caller typed."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from models.metrics import DECISIONS_REFUSED, HTTP_REQUESTS, HTTP_SECONDS, INTAKE_EVENTS
from runtime.metrics import metrics_address

REGISTRY = CollectorRegistry()

http_requests = Counter(
    HTTP_REQUESTS.name, HTTP_REQUESTS.help, HTTP_REQUESTS.labels, registry=REGISTRY
)
http_seconds = Histogram(
    HTTP_SECONDS.name, HTTP_SECONDS.help, HTTP_SECONDS.labels, registry=REGISTRY
)
intake_events = Counter(
    INTAKE_EVENTS.name, INTAKE_EVENTS.help, INTAKE_EVENTS.labels, registry=REGISTRY
)
decisions_refused = Counter(
    DECISIONS_REFUSED.name, DECISIONS_REFUSED.help, DECISIONS_REFUSED.labels, registry=REGISTRY
)


def serve(env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """Serve the registry on ``FNO_METRICS_ADDRESS`` (a daemon thread); the address, or
    None when unset. ``MetricsConfigError`` for a malformed one; ``OSError`` for a port
    in use."""
    address = metrics_address(env)
    if address is not None:
        start_http_server(address[1], addr=address[0], registry=REGISTRY)
    return address
