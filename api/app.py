"""HTTP API over the same operations as ``fno``.

Who calls, in which role and why, travels in headers: ``X-Actor``, ``X-Role`` and
``X-Reason`` (the purpose of a read, which is logged). Real authentication of these
headers belongs in front of this service (see the README).

    GET  /cases/{case_id}             the case's state and timeline (needs X-Reason, or
                                      X-Client with a configured default purpose)
    POST /cases/{case_id}/decisions   a decision: 200 with the new stage, 409 refused
    GET  /audit?case_id=…|actor=…&since=…   the access log (supervisors)
    GET  /health, /ready              liveness; ready only when Temporal answers
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from temporalio.client import Client

from access.service import (
    AccessRefused,
    CaseNotFound,
    DecisionRefused,
    Reader,
    audit,
    read_case,
    send_decision,
)
from activities.store import CaseStore
from models.decisions import DecisionRequest, DecisionResult

ActorH = Annotated[str, Header(alias="X-Actor", min_length=1, max_length=120)]
RoleH = Annotated[str, Header(alias="X-Role", min_length=1, max_length=40)]
ReasonH = Annotated[str | None, Header(alias="X-Reason", max_length=2000)]


ClientH = Annotated[str | None, Header(alias="X-Client", max_length=120)]


def create_app(
    connect: Callable[[], Awaitable[Client]],
    store: CaseStore,
    default_reasons: dict[str, str] | None = None,
) -> FastAPI:
    """The app. ``default_reasons`` maps a calling system (``X-Client``) to the purpose
    of its reads when it sends no ``X-Reason`` (``FNO_CLIENT_REASONS``, JSON)."""
    defaults = dict(default_reasons or {})
    client: dict[str, Client] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client["temporal"] = await connect()
        yield

    app = FastAPI(title="FNO casework", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(AccessRefused)
    async def _refused(_: Any, exc: AccessRefused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(CaseNotFound)
    async def _missing(_: Any, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        try:
            await client["temporal"].service_client.check_health()
        except Exception as exc:
            raise HTTPException(503, f"Temporal not reachable: {exc}") from None
        return {"status": "ready"}

    @app.get("/cases/{case_id}")
    async def get_case(
        case_id: str,
        actor: ActorH,
        role: RoleH,
        reason: ReasonH = None,
        caller: ClientH = None,
    ) -> Any:
        reason = reason or (defaults.get(caller) if caller else None)
        state = await read_case(
            client["temporal"], store, case_id, Reader(actor=actor, role=role, reason=reason)
        )
        return JSONResponse(state.model_dump(mode="json"))

    @app.post("/cases/{case_id}/decisions")
    async def post_decision(case_id: str, req: DecisionRequest) -> DecisionResult:
        try:
            return await send_decision(client["temporal"], case_id, req)
        except DecisionRefused as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/audit")
    async def get_audit(
        actor: ActorH,
        role: RoleH,
        case_id: Annotated[str | None, Query()] = None,
        of_actor: Annotated[str | None, Query(alias="actor")] = None,
        since: Annotated[date | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        since_at = datetime.combine(since, time.min).astimezone() if since else None
        rows = audit(
            store,
            Reader(actor=actor, role=role, reason=None),
            case_id=case_id,
            actor=of_actor,
            since=since_at,
        )
        return [r.model_dump(mode="json") for r in rows]

    return app


def main() -> None:
    """``python -m api.app``: serve on FNO_HTTP_PORT (default 8000)."""
    import json
    import os

    import uvicorn

    from runtime.config import Settings, connect
    from runtime.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    reasons = json.loads(os.environ.get("FNO_CLIENT_REASONS", "{}"))
    app = create_app(connect, CaseStore.current(settings.database_url), reasons)
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("FNO_HTTP_PORT", "8000")), log_config=None
    )


if __name__ == "__main__":
    main()
