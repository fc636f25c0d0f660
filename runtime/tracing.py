"""Traces (issue 23): OpenTelemetry across the HTTP intake, the workflow's start, the
workflows and their activities, and the calls to the outside systems. Off by default.

``FNO_TRACING=otlp`` exports spans over OTLP/HTTP, configured by OpenTelemetry's own
variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_EXPORTER_OTLP_CERTIFICATE``…); ``off`` or unset, none. A process calls
``configure_tracing`` once at its start; then ``connect`` adds Temporal's
``TracingInterceptor`` (client and worker: the trace follows a start into the workflow
and its activities), ``server.app`` instruments the HTTP API and the worker the
outside systems' HTTP client.

Spans carry IDs (workflow, run, activity), types, route templates, methods and status
codes. The parts of a URL that may hold what a caller typed or a subject's data (the
path as requested, its query; an outside system's query holds the PNC ID it is asked
about) are redacted before the span is exported (``redact_server_span``,
``redact_client_span``): a span names the route, never the request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

TRACING_ENV = "FNO_TRACING"
REDACTED = "[redacted]"
# Span attributes of an incoming request that hold the path or query as requested.
SERVER_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.query", "url.full")
CLIENT_URL_ATTRIBUTES = ("http.url", "url.full")

_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """``FNO_TRACING`` is neither ``otlp`` nor ``off``: the process refuses to start."""


def configure_tracing(
    service: str,
    env: Mapping[str, str] | None = None,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """The process's tracer provider (None: tracing off). ``exporter``: spans to it at
    once (the tests' in-memory exporter), whatever ``FNO_TRACING`` says."""
    global _provider
    env = os.environ if env is None else env
    mode = env.get(TRACING_ENV, "").strip().lower() or "off"
    if exporter is None and mode == "off":
        _provider = None
        return None
    if exporter is None and mode != "otlp":
        raise TracingConfigError(
            f"{TRACING_ENV}={mode!r}: set it to otlp (spans over OTLP/HTTP to "
            "OTEL_EXPORTER_OTLP_ENDPOINT) or off"
        )
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider = provider
    return provider


def tracer_provider() -> TracerProvider | None:
    """The provider ``configure_tracing`` set (None: tracing off)."""
    return _provider


def temporal_interceptors() -> list[Any]:
    """Temporal's tracing interceptor when tracing is on (for ``connect``)."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer=_provider.get_tracer("fno.temporal"))]


def redact_server_span(span: Any, scope: Mapping[str, Any]) -> None:
    """The incoming request's path and query out of its span (FastAPI's
    ``server_request_hook``); the route template is set by the instrumentation."""
    _redact(span, SERVER_URL_ATTRIBUTES)


def redact_client_span(span: Any, request: Any) -> None:
    """An outgoing request's span keeps the service's scheme, host and path, never its
    query (HTTPX's ``request_hook``)."""
    url = getattr(request, "url", None)
    if url is None or not span.is_recording():
        return
    parts = urlsplit(str(url))
    for key in CLIENT_URL_ATTRIBUTES:
        span.set_attribute(key, f"{parts.scheme}://{parts.netloc}{parts.path}")


def _redact(span: Any, keys: tuple[str, ...]) -> None:
    if not span.is_recording():
        return
    present = getattr(span, "attributes", None) or {}
    for key in keys:
        if key in present:
            span.set_attribute(key, REDACTED)


def instrument_outside_calls() -> None:
    """The outside systems' HTTP client traced (the worker's adapters; httpx)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=_provider, request_hook=redact_client_span)
