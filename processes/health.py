"""The worker's liveness and readiness (issue 23), on ``FNO_HEALTH_ADDRESS``
(``host:port``; unset: none), for an orchestrator's probes:

- ``GET /live`` — 200 while the worker's event loop turns (its checks ran within
  ``LIVE_WITHIN``); 503 otherwise: restart it. A wedged loop cannot answer at all, which
  a probe with a timeout reads the same way.
- ``GET /ready`` — 200 when every check passed at the last round (every
  ``CHECK_EVERY``): the worker is polling its task queue, Temporal answers
  (``temporal_unreachable``), the case store is at the schema this code needs
  (``case_store_out_of_date``: ``make migrate``) and, with ``FNO_WORLD_URL``, the
  outside systems' endpoint answers ``/healthz`` (``world_unreachable``); else 503 with
  the failing checks' codes (``{"status": "not ready", "why": [...]}``), never an
  error's text.

Served by uvicorn in the worker's own event loop (a Starlette app of two routes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

HEALTH_ADDRESS_ENV = "FNO_HEALTH_ADDRESS"
CHECK_EVERY = 5.0  # seconds between rounds of checks
CHECK_TIMEOUT = 5.0  # a check taking longer has failed
LIVE_WITHIN = 30.0  # the last round this recent: alive

Check = Callable[[], Awaitable[bool]]


@dataclass
class Health:
    """The checks (a name, the code said when it fails) and their last round."""

    checks: dict[str, Check]
    polling: bool = False  # set while the worker runs
    failing: list[str] = field(default_factory=lambda: ["not_started"])
    last_round: float = 0.0

    async def one_round(self) -> None:
        async def passes(check: Check) -> bool:
            try:
                return await asyncio.wait_for(check(), CHECK_TIMEOUT)
            except Exception:  # a check that raises or hangs has failed
                return False

        results = await asyncio.gather(*(passes(c) for c in self.checks.values()))
        failing = [code for code, ok in zip(self.checks, results, strict=True) if not ok]
        if not self.polling:
            failing.insert(0, "not_polling")
        self.failing = failing
        self.last_round = time.monotonic()

    async def keep_checking(self) -> None:
        while True:
            await self.one_round()
            await asyncio.sleep(CHECK_EVERY)

    def alive(self) -> bool:
        return self.last_round > 0 and time.monotonic() - self.last_round < LIVE_WITHIN


def health_app(health: Health) -> Starlette:
    async def live(_: Request) -> JSONResponse:
        ok = health.alive()
        return JSONResponse({"status": "alive" if ok else "not alive"}, 200 if ok else 503)

    async def ready(_: Request) -> JSONResponse:
        if health.alive() and not health.failing:
            return JSONResponse({"status": "ready"})
        why = health.failing if health.alive() else ["not_alive", *health.failing]
        return JSONResponse({"status": "not ready", "why": why}, 503)

    return Starlette(routes=[Route("/live", live), Route("/ready", ready)])


class _ServerLeavingSignals(uvicorn.Server):
    """uvicorn's server without its signal handlers: SIGINT and SIGTERM stay the
    worker's (``processes.worker.run_until_signalled`` stops it gracefully)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_health(
    health: Health, address: tuple[str, int], log: structlog.stdlib.BoundLogger
) -> None:
    """Check and serve until cancelled."""
    config = uvicorn.Config(
        health_app(health),
        host=address[0],
        port=address[1],
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _ServerLeavingSignals(config)
    checking = asyncio.create_task(health.keep_checking())
    log.info("health endpoint", port=address[1])
    try:
        await server.serve()
    finally:
        checking.cancel()
