"""``GET /health`` (liveness) and ``GET /ready`` (ready only when Temporal answers and
the case store is at the schema this code needs: ``make migrate``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request

from api.deps import temporal
from runtime.logs import get_logger
from store.migrate import require_current

log = get_logger("fno.api")
router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> dict[str, str]:
    try:  # the client too: before start-up has connected, not ready either
        await (await temporal(request)).service_client.check_health()
    except Exception as exc:
        # The fault's type to the log; the answer says only what is not ready.
        log.warning("not ready", why="temporal_unreachable", error=type(exc).__name__)
        raise HTTPException(
            503, "not ready: Temporal is not reachable from this service yet; try again"
        ) from None
    try:
        await asyncio.to_thread(require_current, request.app.state.store.engine)
    except Exception as exc:
        log.warning("not ready", why="case_store_out_of_date", error=type(exc).__name__)
        raise HTTPException(
            503,
            "not ready: the case store is unreachable or not at this release's schema: "
            "run `make migrate` (python -m store.migrate upgrade) with this FNO_DATABASE_URL",
        ) from None
    return {"status": "ready"}
