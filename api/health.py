"""``GET /health`` (liveness) and ``GET /ready`` (ready only when Temporal answers)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from api.deps import temporal

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> dict[str, str]:
    try:  # the client too: before start-up has connected, not ready either
        await temporal(request).service_client.check_health()
    except Exception as exc:
        raise HTTPException(503, f"Temporal not reachable: {exc}") from None
    return {"status": "ready"}
