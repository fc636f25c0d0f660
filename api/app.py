"""HTTP API over the same operations as ``fno``.

Who calls, in which role and why, travels in headers: ``X-Actor``, ``X-Role`` and
``X-Reason`` (the purpose of a read, which is logged). Real authentication of these
headers belongs in front of this service (see the README).

    POST /custody-events              a custody event (X-API-Key): 201 new case, 200 the
                                      same event again, 409 conflicting, 422 invalid
    GET  /cases/{case_id}             the case's state and timeline (needs X-Reason, or
                                      X-Client with a configured default purpose); 409
                                      when it cannot be read now (``why``: cannot_replay…)
    GET  /stuck-cases                 cases not moving or that cannot be read, with why
    POST /cases/{case_id}/decisions   a decision: 200 with the new stage, 409 refused
    GET  /audit?case_id=…|actor=…&since=…   the access log (supervisors)
    GET  /health, /ready              liveness; ready only when Temporal answers
    POST /codec/decode, /codec/encode the codec server for the Temporal Web UI and CLI
                                      (``api.codec_server``: a token, and every decode logged)
    GET  /web/…                       the caseworkers' and supervisors' web app (``web.app``),
                                      when ``FNO_WEB_USERS_FILE`` is set; ``/`` leads to it
    POST /daily-files, GET /daily-files, /notifications/summary, /notifications,
    /notification-alerts              notifications out (``api.notifications``)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from access.decisions import send_decision
from access.errors import AccessRefused, CaseNotFound, CaseUnreadable, DecisionRefused
from access.listing import start_of_day
from access.reading import Reader, audit, read_case
from access.stuck import ClosedProbe, stuck_cases
from models.decisions import DecisionRequest, DecisionResult
from models.event import INTAKE, MAX_EVENT_BYTES, CustodyEvent
from models.policy import Policy
from starter import start_case
from store.cases import CaseStore
from store.notifications import NotificationStore

ActorH = Annotated[str, Header(alias="X-Actor", min_length=1, max_length=120)]
RoleH = Annotated[str, Header(alias="X-Role", min_length=1, max_length=40)]
ReasonH = Annotated[str | None, Header(alias="X-Reason", max_length=2000)]


ClientH = Annotated[str | None, Header(alias="X-Client", max_length=120)]
ApiKeyH = Annotated[str | None, Header(alias="X-API-Key", max_length=200)]


@dataclass
class Intake:
    """How custody events become cases: where, under which policy, and who may send."""

    task_queue: str
    policy: Policy
    subject_key_secret: str
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> integrator's name


def load_api_keys(env: dict[str, str]) -> dict[str, str]:
    """``FNO_API_KEYS`` (JSON object key -> integrator) or ``FNO_API_KEYS_FILE`` (same, a file)."""
    if env.get("FNO_API_KEYS_FILE"):
        with open(env["FNO_API_KEYS_FILE"], encoding="utf-8") as f:
            return dict(json.load(f))
    return dict(json.loads(env.get("FNO_API_KEYS", "{}")))


def create_app(
    connect: Callable[[], Awaitable[Client]],
    store: CaseStore,
    default_reasons: dict[str, str] | None = None,
    intake: Intake | None = None,
    codec_server: FastAPI | None = None,
    web: FastAPI | None = None,
) -> FastAPI:
    """The app. ``default_reasons`` maps a calling system (``X-Client``) to the purpose
    of its reads when it sends no ``X-Reason`` (``FNO_CLIENT_REASONS``, JSON).
    ``codec_server`` (``api.codec_server.create_codec_app``) is served at ``/codec``,
    ``web`` (``web.app.create_web_app``) at ``/web``."""
    defaults = dict(default_reasons or {})
    client: dict[str, Client] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client["temporal"] = await connect()
        yield

    app = FastAPI(title="FNO casework", version="0.1.0", lifespan=lifespan)
    if codec_server is not None:
        app.mount("/codec", codec_server)
    if web is not None:
        app.mount("/web", web)

        @app.get("/", include_in_schema=False)
        async def to_web() -> RedirectResponse:
            return RedirectResponse("/web/", status_code=307)

    @app.exception_handler(AccessRefused)
    async def _refused(_: Any, exc: AccessRefused) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.exception_handler(CaseNotFound)
    async def _missing(_: Any, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(CaseUnreadable)
    async def _unreadable(_: Any, exc: CaseUnreadable) -> JSONResponse:
        # 409, not 5xx: the service is up and the case exists, but its state cannot be
        # read until workers that replay its history run; a 5xx would have proxies
        # retry it or count this replica unhealthy.
        return JSONResponse(exc.as_dict(), status_code=409)

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

    @app.post(
        "/custody-events",
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/CustodyEvent"}}
                },
            }
        },
        responses={
            200: {"description": "The same event was already received: the existing case."},
            201: {"description": "A new case was started."},
            401: {"description": "Unknown or missing API key."},
            409: {"description": "Same force and custody reference, different content."},
            413: {"description": "The event is larger than the limit (64 KiB)."},
            422: {"description": "Invalid event: every field error is listed."},
        },
    )
    async def post_custody_event(request: Request, api_key: ApiKeyH = None) -> JSONResponse:
        """A custody event from an integrator: one case per event, idempotently."""
        if intake is None:
            raise HTTPException(503, "intake is not configured on this service")
        integrator = intake.api_keys.get(api_key or "")
        if integrator is None:
            return JSONResponse(
                {
                    "detail": "Unknown or missing API key: send the X-API-Key issued to your "
                    "custody system."
                },
                status_code=401,
            )
        raw = await request.body()
        if len(raw) > MAX_EVENT_BYTES:
            return JSONResponse(
                {
                    "detail": f"custody event too large: {len(raw)} bytes, the limit is "
                    f"{MAX_EVENT_BYTES}"
                },
                status_code=413,
            )
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": f"not JSON: {exc}", "type": "json"}]},
                status_code=422,
            )
        try:
            event = CustodyEvent.model_validate(body, context=INTAKE)
        except ValidationError as exc:
            errors = [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return JSONResponse({"detail": errors}, status_code=422)
        result = await start_case(
            client["temporal"],
            event,
            task_queue=intake.task_queue,
            policy=intake.policy,
            subject_key_secret=intake.subject_key_secret,
            integrator=integrator,
        )
        status = {"started": 201, "already_received": 200, "conflict": 409}[result.status]
        return JSONResponse(
            {
                "case_id": result.case_id,
                "status": result.status,
                "detail": result.detail,
                "link": f"/cases/{result.case_id}",
            },
            status_code=status,
        )

    def openapi() -> dict[str, Any]:
        # The custody event is read by hand (to validate it with the intake checks),
        # so its JSON Schema is added to the published document here.
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        event = CustodyEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event.pop("$defs", {}))
        components["CustodyEvent"] = event
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/stuck-cases")
    async def get_stuck(
        failing_minutes: Annotated[float, Query(ge=0)] = 30,
        overdue_minutes: Annotated[float, Query(ge=0)] = 60,
        probe_closed: Annotated[int, Query(ge=0, le=500)] = ClosedProbe.limit,
        closed_within_hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24,
    ) -> list[dict[str, Any]]:
        """Cases not moving: a step failing for long, a deadline passed unattended, a
        history the workers cannot replay; and of the ``probe_closed`` cases closed most
        recently (within ``closed_within_hours``), those whose state cannot be read."""
        rows = await stuck_cases(
            client["temporal"],
            now=datetime.now().astimezone(),
            failing_for=timedelta(minutes=failing_minutes),
            overdue_by=timedelta(minutes=overdue_minutes),
            notifications=NotificationStore(store.engine),
            closed=ClosedProbe(within=timedelta(hours=closed_within_hours), limit=probe_closed),
        )
        return [r.model_dump(mode="json") for r in rows]

    # ":path": a custody reference is kept as sent and may hold "/" ("CU/7/2026").
    @app.get("/cases/{case_id:path}")
    async def get_case(
        case_id: str,
        actor: ActorH,
        role: RoleH,
        reason: ReasonH = None,
        caller: ClientH = None,
    ) -> Any:
        reason = reason or (defaults.get(caller) if caller else None)
        try:
            state = await read_case(
                client["temporal"], store, case_id, Reader(actor=actor, role=role, reason=reason)
            )
        except RPCError as err:  # Temporal did not answer (no worker polling, …)
            return JSONResponse(
                {
                    "detail": f"Case {case_id} cannot be read right now: Temporal did not "
                    f"answer ({err.message}).",
                    "case_id": case_id,
                    "why": "no_answer",
                },
                status_code=503,
            )
        return JSONResponse(state.model_dump(mode="json"))

    @app.post("/cases/{case_id:path}/decisions")
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
        since_at = start_of_day(since) if since else None
        rows = audit(
            store,
            Reader(actor=actor, role=role, reason=None),
            case_id=case_id,
            actor=of_actor,
            since=since_at,
        )
        return [r.model_dump(mode="json") for r in rows]

    from api.notifications import notifications_router

    app.include_router(notifications_router(lambda: client["temporal"], store, intake))
    return app


def main() -> None:
    """``python -m api.app``: serve on FNO_HTTP_PORT (default 8000)."""
    import os
    import sys

    import uvicorn

    from api.codec_server import (
        CodecTokenError,
        create_codec_app,
        install_log_redaction,
        load_tokens,
        token_authenticator,
    )
    from runtime.codec import CodecConfigError, CodecKeys, EncryptionCodec
    from runtime.config import Settings, connect, temporal_connect_config
    from runtime.logs import configure_logging
    from web.app import (
        WebConfigError,
        create_web_app,
        once,
        session_authenticator,
        web_config_from_env,
    )
    from web.app import install_log_redaction as redact_web_queries

    settings = Settings.from_env()
    configure_logging(settings.log_format)
    env = dict(os.environ)
    namespace = temporal_connect_config(env).get("namespace") or "default"
    # Keys, tokens and the web app's users first: a missing or malformed one stops
    # start-up here, loudly.
    try:
        keys = CodecKeys.from_env(env)
        tokens = load_tokens(env)
        web_config = web_config_from_env(
            env, namespace=namespace, day_seconds=settings.policy.day_seconds
        )
    except (CodecConfigError, CodecTokenError, WebConfigError) as err:
        print(f"Refused to start: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    reasons = json.loads(os.environ.get("FNO_CLIENT_REASONS", "{}"))
    intake = Intake(
        task_queue=settings.task_queue,
        policy=settings.policy,
        subject_key_secret=settings.subject_key_secret,
        api_keys=load_api_keys(env),
    )
    store = CaseStore.current(settings.database_url)
    authenticators = [token_authenticator(tokens)]
    if web_config is not None:  # a web session decodes too (see api.codec_server)
        authenticators.append(session_authenticator(web_config))
    codec_app = create_codec_app(
        EncryptionCodec(keys),
        store,
        authenticators,
        cors_origins=[
            o.strip() for o in env.get("FNO_CODEC_CORS_ORIGINS", "").split(",") if o.strip()
        ],
        default_reason=env.get("FNO_CODEC_DEFAULT_REASON") or None,
        namespace=namespace,
    )
    install_log_redaction()
    redact_web_queries()
    shared = once(connect)  # one Temporal client for the API and the web app
    web = create_web_app(shared, store, web_config) if web_config is not None else None
    app = create_app(shared, store, reasons, intake, codec_server=codec_app, web=web)
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ.get("FNO_HTTP_PORT", "8000")), log_config=None
    )


if __name__ == "__main__":
    main()
