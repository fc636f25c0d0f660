"""HTTP API over the same operations as ``fno``: the JSON API, an application of its own.

Every route needs a proven caller (``api.deps``) but ``/health``, ``/ready``, the local
issuer's own routes and the API's documentation: a person's bearer token (``Authorization:
Bearer``, from the identity provider or the local issuer), or a system's credential.
Name and role come from the token, never from headers; ``X-Reason`` states the purpose
of a read (logged).

    POST /custody-events              a custody event (a custody system): 201 new case, 200
                                      the same event again, 409 conflicting, 422 invalid
    POST /custody-events/{case_id}/amendments   a correction of it (``api.custody_amendments``)
    GET  /cases?stage=…&force=…       cases by search attributes (``fno cases``' filter)
    GET  /cases/{case_id}             the case's state and timeline (needs X-Reason, or a
                                      credential with a default purpose); 409 when it
                                      cannot be read now (``why``: cannot_replay…)
    GET  /stuck-cases                 cases not moving or that cannot be read, with why
    POST /cases/{case_id}/decisions   a decision: 200 with the new stage, 409 refused,
                                      429 the case busy with others (Retry-After)
    POST /cases/{case_id}/reopen      a closed casework case reopened (``api.reopen``)
    POST/GET /cases/{case_id}/notes, /attachments[/{att}]   staff notes and attachments
                                      (``api.case_files``)
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

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.service import RPCError

from access.errors import AccessRefused, CaseBusy, CaseNotFound, CaseUnreadable
from access.intake import Intake
from api import (
    acro_replies,
    audit,
    auth,
    cases,
    custody_amendments,
    custody_events,
    decisions,
    health,
    inbox,
    me,
    notifications,
    reopen,
    stuck,
)
from api.case_files import router as case_file_routes
from api.certificates import router as certificate_routes
from api.openapi import install_docs, install_openapi
from identity.config import Identity
from models.json_input import bounded_errors
from runtime.logs import get_logger
from store.cases import CaseStore

log = get_logger("fno.api")


async def _refused(_: Any, exc: AccessRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _missing(_: Any, exc: CaseNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _unreadable(_: Any, exc: CaseUnreadable) -> JSONResponse:
    # 409, not 5xx: the service is up and the case exists, but its state cannot be
    # read until workers that replay its history run; a 5xx would have proxies
    # retry it or count this replica unhealthy.
    return JSONResponse(exc.as_dict(), status_code=409)


async def _busy(_: Any, exc: CaseBusy) -> JSONResponse:
    # 429 with Retry-After, not 5xx: Temporal is up and took nothing; the case is taking
    # as many decisions at once as it may (access.decisions). Send it again later.
    return JSONResponse(
        {"detail": exc.detail, "why": "case_busy", "case_id": exc.case_id},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def temporal_unavailable(request: Request, exc: RPCError, what: str) -> JSONResponse:
    """503 when Temporal did not answer (a case whose workflow task keeps failing, the
    cluster unreachable): a code and what to do, never the error's own text (it goes to
    the log, with a reference the answer gives too)."""
    reference = uuid.uuid4().hex[:12]
    log.warning(
        "temporal did not answer",
        path=request.url.path,
        rpc_status=exc.status.name if exc.status is not None else None,
        reference=reference,
    )
    return JSONResponse(
        {
            "detail": f"{what}: Temporal did not answer. Try again in a minute; if it goes "
            f"on, tell your administrator (reference {reference}).",
            "why": "no_answer",
            "reference": reference,
        },
        status_code=503,
    )


async def _no_answer(request: Request, exc: RPCError) -> JSONResponse:
    return temporal_unavailable(request, exc, "Not done")


async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each field error's place, message and type, bounded, and never the
    input (FastAPI's own answer repeats it: a 50 MB body came back four times)."""
    return JSONResponse({"detail": bounded_errors(exc.errors())}, status_code=422)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """An unhandled fault: 500 with a reference, the exception's type in the log (never
    its text: it may quote a case)."""
    reference = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error", path=request.url.path, error=type(exc).__name__, reference=reference
    )
    return JSONResponse(
        {
            "detail": "Something went wrong on our side. Try again; if it goes on, tell your "
            f"administrator (reference {reference}).",
            "why": "internal_error",
            "reference": reference,
        },
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Validation errors without the input, and unhandled faults without their text:
    the JSON API's and the codec server's (``server.app`` installs them there)."""
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(Exception)(server_error)


def create_app(
    connect: Callable[[], Awaitable[Client]],
    store: CaseStore,
    *,
    identity: Identity | None = None,
    intake: Intake | None = None,
    docs: bool = True,
) -> FastAPI:
    """The JSON API. ``identity`` proves callers (``identity.config``): None, nobody is
    verified and every route that needs a caller answers 401. ``intake``
    (``access.intake.Intake``): None, this service takes no custody events or daily
    files (503). ``docs``: serve ``/docs``, ``/redoc`` (from bundled assets, no CDN) and
    ``/openapi.json``; off, none of them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.temporal = await connect()
        yield

    app = FastAPI(
        title="FNO casework",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.store = store
    app.state.identity = identity
    app.state.intake = intake
    app.exception_handler(AccessRefused)(_refused)
    app.exception_handler(CaseNotFound)(_missing)
    app.exception_handler(CaseUnreadable)(_unreadable)
    app.exception_handler(CaseBusy)(_busy)
    app.exception_handler(RPCError)(_no_answer)
    install_error_handlers(app)
    # issue 21 (h4): GET /cases/{id}/notes and /attachments before GET /cases/{id} (a
    # path: it would take them).
    app.include_router(case_file_routes)
    for resource in (
        health,
        me,
        custody_events,
        custody_amendments,
        stuck,
        cases,
        decisions,
        audit,
        notifications,
        inbox,  # issue 21 (h3): GET /inbox
        acro_replies,  # issue 22 (h2): POST /integrations/acro/replies
    ):
        app.include_router(resource.router)
    app.include_router(certificate_routes)  # issue 20 (h2): GET /certificates/{id}
    app.include_router(reopen.router)  # issue 21 (h4): POST /cases/{id}/reopen
    if identity is not None and identity.issuer is not None:
        app.include_router(auth.router)
    install_openapi(app)
    if docs:
        install_docs(app)
    return app
