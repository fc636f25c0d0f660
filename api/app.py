"""HTTP API over the same operations as ``fno``: the JSON API, an application of its own.

Every route needs a proven caller (``api.deps``) but ``/health``, ``/ready``, the local
issuer's own routes and the API's documentation: a person's bearer token (``Authorization:
Bearer``, from the identity provider or the local issuer), or a system's credential.
Name and role come from the token, never from headers; ``X-Reason`` states the purpose
of a read (logged).

    POST /custody-events              a custody event (a custody system): 201 new case, 200
                                      the same event again, 409 conflicting, 422 invalid
    GET  /cases?stage=…&force=…       cases by search attributes (``fno cases``' filter)
    GET  /cases/{case_id}             the case's state and timeline (needs X-Reason, or a
                                      credential with a default purpose); 409 when it
                                      cannot be read now (``why``: cannot_replay…)
    GET  /stuck-cases                 cases not moving or that cannot be read, with why
    POST /cases/{case_id}/decisions   a decision: 200 with the new stage, 409 refused
    GET  /audit?case_id=…|actor=…&since=…   the access log (supervisors)
    GET  /health, /ready              liveness; ready only when Temporal answers
    GET  /me                          who the credential proves, and when it expires
    POST /daily-files, GET /daily-files, /notifications/summary, /notifications,
    /notification-alerts              notifications out (``api.notifications``)
    POST /auth/token, GET /auth/jwks.json, /.well-known/openid-configuration
                                      the local issuer, when on (``api.auth``)

One router per resource (``api.cases``, ``api.decisions``, ``api.custody_events``,
``api.audit``, ``api.stuck``, ``api.health``, ``api.me``, ``api.notifications``,
``api.auth``), flat
route functions over the dependencies in ``api.deps``. The HTTP process (``python -m
server.app``) mounts the codec server at ``/codec`` and the web app at ``/web`` beside
this (``server.app``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.service import RPCError

from access.errors import AccessRefused, CaseNotFound, CaseUnreadable
from access.intake import Intake
from api import audit, auth, cases, custody_events, decisions, health, me, notifications, stuck
from api.openapi import install_openapi
from identity.config import Identity
from store.cases import CaseStore


async def _refused(_: Any, exc: AccessRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _missing(_: Any, exc: CaseNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _unreadable(_: Any, exc: CaseUnreadable) -> JSONResponse:
    # 409, not 5xx: the service is up and the case exists, but its state cannot be
    # read until workers that replay its history run; a 5xx would have proxies
    # retry it or count this replica unhealthy.
    return JSONResponse(exc.as_dict(), status_code=409)


async def _no_answer(_: Any, exc: RPCError) -> JSONResponse:
    # Temporal did not answer in time (a case whose workflow task keeps failing, the
    # cluster unreachable): said so, as the reads do, never an unhandled 500.
    return JSONResponse(
        {"detail": f"Temporal did not answer ({exc.message}); try again.", "why": "no_answer"},
        status_code=503,
    )


def create_app(
    connect: Callable[[], Awaitable[Client]],
    store: CaseStore,
    *,
    identity: Identity | None = None,
    intake: Intake | None = None,
) -> FastAPI:
    """The JSON API. ``identity`` proves callers (``identity.config``): None, nobody is
    verified and every route that needs a caller answers 401. ``intake``
    (``access.intake.Intake``): None, this service takes no custody events or daily
    files (503)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.temporal = await connect()
        yield

    app = FastAPI(title="FNO casework", version="0.1.0", lifespan=lifespan)
    app.state.store = store
    app.state.identity = identity
    app.state.intake = intake
    app.exception_handler(AccessRefused)(_refused)
    app.exception_handler(CaseNotFound)(_missing)
    app.exception_handler(CaseUnreadable)(_unreadable)
    app.exception_handler(RPCError)(_no_answer)
    for resource in (health, me, custody_events, stuck, cases, decisions, audit, notifications):
        app.include_router(resource.router)
    if identity is not None and identity.issuer is not None:
        app.include_router(auth.router)
    install_openapi(app)
    return app
