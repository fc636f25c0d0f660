"""Where a process serves its Prometheus metrics (issue 23): ``FNO_METRICS_ADDRESS``,
``host:port`` (``0.0.0.0:9464`` in a container, ``127.0.0.1:9464`` beside a local
Prometheus). Unset: no metrics endpoint (the default: two processes on one host must
not compete for one port unless told).

The worker's endpoint is the Temporal SDK's own Prometheus exporter
(``worker_runtime``): the SDK's runtime metrics (task slots, schedule-to-start
latency, poll success, sticky cache, …, prefixed ``temporal_``) and the product's
worker metrics (``models.metrics``) emitted through the SDK's metric meter — the one
meter a workflow can count with that does not count again when a task is replayed.
The HTTP API serves ``prometheus-client``'s registry instead (``server.metrics``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

METRICS_ADDRESS_ENV = "FNO_METRICS_ADDRESS"


class MetricsConfigError(ValueError):
    """``FNO_METRICS_ADDRESS`` (or ``FNO_HEALTH_ADDRESS``) is not ``host:port``: the
    process refuses to start."""


def metrics_address(env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """``(host, port)`` of ``FNO_METRICS_ADDRESS``, or None when unset."""
    return listen_address(METRICS_ADDRESS_ENV, env)


def listen_address(name: str, env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """``(host, port)`` of the ``host:port`` in variable ``name``, or None when unset;
    ``MetricsConfigError`` saying what to set when it is not one."""
    env = os.environ if env is None else env
    value = env.get(name, "").strip()
    if not value:
        return None
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MetricsConfigError(
            f"{name}={value!r} is not host:port: set it to, for example, 0.0.0.0:9464 "
            "(every interface) or 127.0.0.1:9464 (this host only), or unset it"
        )
    return host, int(port_text)


def worker_runtime(env: Mapping[str, str] | None = None) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on ``FNO_METRICS_ADDRESS`` (None:
    unset, the SDK's default runtime and no endpoint). Counters end in ``_total`` and
    durations are in seconds, as Prometheus's conventions have them."""
    address = metrics_address(env)
    if address is None:
        return None
    host, port = address
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind, counters_total_suffix=True, durations_as_seconds=True
            ),
            global_tags={"service": "fno-worker"},
        )
    )
