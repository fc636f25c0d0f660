"""The caseworkers' and supervisors' web app: server-rendered pages, mounted by the HTTP
process at ``/web`` (``server.app.create_app(..., web=...)``).

    GET  /web/                       home: the inbox (the dashboard for supervisors)
    GET  /web/login, POST /web/login sign in (users file, Argon2 password hashes)
    GET  /web/auth/login             with an identity provider: sign in there (OpenID
    GET  /web/auth/callback          Connect, ``web.oidc``), and come back with its answer
    POST /web/logout                 sign out
    GET  /web/inbox                  cases awaiting a decision from my role, overdue first
    GET  /web/cases                  search and filter, paginated
    GET  /web/cases/{id}             the case: stage, subject, deadlines, timeline, the
                                     access log (supervisors), the Temporal Web UI link,
                                     and the decisions it accepts now from my role
    POST /web/cases/{id}/decisions   a decision (CSRF token, a stated reason)
    GET  /web/dashboard              supervisors: counts, weeks, reply times, the funnel
    GET  /web/account                who I am, my role, my default purpose, my session

The routes are flat functions, one router per resource (``web.routes_account``,
``web.routes_inbox``, ``web.routes_cases``, ``web.routes_decisions``,
``web.routes_dashboard``, ``web.routes_provider``); what they share (the visit and its
user, the settings, the case store, the Temporal connection) they take as FastAPI
dependencies
(``web.visits``) from ``app.state.web``, which ``create_web_app`` sets.

Every operation goes through ``access`` (``access.reading``, ``access.decisions``) as
the signed-in user's ``Principal`` (``local:<username>``, their role and force; or,
with an identity provider, the person its access token proves), and the
need-to-know policy (``access.policy``) decides what each page shows: only readable
cases are listed, a case page opens only a readable case (a police officer's view of
their force's encounter is redacted), the decision forms are those the policy lets the
user make, the access log and the dashboard are for those who may audit and see the
figures. Reading a case is a consultation logged with its purpose (the user's or their
role's default purpose from the users file, or one they state); decisions are the
``decide`` update sent through the front door (``runtime.front_door.acting_as``, with
the user's ``actor_id``) and their refusals come back with the workflow's reason.
Templates autoescape everything they show; every form carries the session's CSRF token;
a supervisor gets no decision form and a decision POST the policy refuses is refused
here, before it reaches the case.

Logs carry no personal data: case IDs, decision kinds and roles only, and the
usernames of staff signing in (never a name typed that matches no user); query
strings of ``/web`` paths are removed from the HTTP access log (``RedactWebQueries``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from models.json_input import bounded_errors
from runtime.logs import get_logger
from store.cases import CaseStore
from web import (
    routes_account,
    routes_case_files,
    routes_cases,
    routes_dashboard,
    routes_decisions,
    routes_inbox,
    routes_provider,
    routes_reopen,
)
from web.config import (
    WebConfig,
    WebConfigError,
    session_authenticator,
    use_store,
    web_config_from_env,
)
from web.oidc import ProviderConfigError, provider_from_env
from web.rendering import environment
from web.security import SecurityHeaders, install_log_redaction
from web.visits import SignInFirst, WebState, answer_sign_in_first

__all__ = [
    "ProviderConfigError",
    "WebConfig",
    "WebConfigError",
    "create_web_app",
    "install_log_redaction",
    "once",
    "provider_from_env",
    "session_authenticator",
    "web_config_from_env",
]

HERE = Path(__file__).resolve().parent
log = get_logger("fno.web")

# What a page the app could not make says instead: a code, what to do, a reference to
# the log line (the fault's own text, which may be Temporal's or a provider's, is not
# shown: it helps nobody at the desk and tells an outsider about the inside).
_SERVER_ERRORS = {
    500: (
        "Something went wrong",
        "server_error",
        "This page could not be made: something went wrong on our side.",
    ),
    503: (
        "Service unavailable",
        "unavailable",
        "This page cannot be shown right now: a service it needs did not answer.",
    ),
}
_WHAT_TO_DO = (  # the error page's advice
    "Try again in a minute. If you were sending a decision, open the case first to see "
    "whether it was recorded before you send it again. If this goes on, tell your "
    "administrator and quote the reference below."
)


def anonymous_page(templates: Environment, tz: tzinfo, base: str, template: str, **ctx: Any) -> str:
    """``template`` rendered for nobody signed in (no session, no CSRF token, no
    menu): the pages made outside a visit (``web.visits.render`` makes the others)."""
    return templates.get_template(template).render(
        base=base,
        user=None,
        username=None,
        csrf="",
        principal=None,
        can_dashboard=False,
        flash=None,
        active="error",
        tz_name=str(tz),
        **ctx,
    )


def error_page(templates: Environment, tz: tzinfo, base: str, status: int, reference: str) -> bytes:
    title, code, what = _SERVER_ERRORS.get(status, _SERVER_ERRORS[503])
    return anonymous_page(
        templates,
        tz,
        base,
        "unavailable.html",
        title=title,
        what=what,
        todo=_WHAT_TO_DO,
        code=code,
        reference=reference,
    ).encode()


class PlainServerErrors:
    """Every 5xx page of the web app (a route's own 503, an unhandled fault's 500)
    replaced by ``unavailable.html``: the status, a code, what to do and a reference;
    the log line says which path and status, with the same reference. The session
    cookie the route wrote is kept."""

    def __init__(self, app: ASGIApp, templates: Environment, tz: tzinfo) -> None:
        self.app = app
        self.templates, self.tz = templates, tz

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                held["start"] = message
                return
            if "start" not in held:
                await send(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await self._replace(scope, held["start"], send)

        await self.app(scope, receive, sending)

    async def _replace(self, scope: Scope, start: Message, send: Send) -> None:
        status = int(start["status"])
        reference = uuid.uuid4().hex[:12]
        log.warning(
            "web error page", status=status, path=scope.get("path", ""), reference=reference
        )
        base = str(scope.get("root_path", "")).rstrip("/")
        body = error_page(self.templates, self.tz, base, status, reference)
        cookies = [(k, v) for k, v in start.get("headers", []) if k.lower() == b"set-cookie"]
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *cookies,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def server_error(request: Request, exc: Exception) -> HTMLResponse:
    """An unhandled fault: the 500 page (``unavailable.html``), its type in the log."""
    state = request.app.state.web
    reference = uuid.uuid4().hex[:12]
    log.error(
        "web error page",
        status=500,
        path=request.url.path,
        error=type(exc).__name__,
        reference=reference,
    )
    base = str(request.scope.get("root_path", "")).rstrip("/")
    body = error_page(state.templates, state.config.tz, base, 500, reference)
    return HTMLResponse(body, status_code=500)


async def invalid_request(request: Request, exc: RequestValidationError) -> HTMLResponse:
    """A request the app's routes cannot take (a malformed query or form field): 422,
    the fields at fault and why, never what was sent."""
    state = request.app.state.web
    errors = bounded_errors(exc.errors())
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors) or "the request"
    html = anonymous_page(
        state.templates,
        state.config.tz,
        str(request.scope.get("root_path", "")).rstrip("/"),
        "error.html",
        title="Not understood",
        detail=f"This request could not be read ({fields}). Go back and try again.",
    )
    return HTMLResponse(html, status_code=422)


def once(connect: Callable[[], Awaitable[Client]]) -> Callable[[], Awaitable[Client]]:
    """``connect`` called at most once; every caller gets the same client (the API and
    the web app share one)."""
    made: list[Client] = []
    lock = asyncio.Lock()

    async def shared() -> Client:
        async with lock:
            if not made:
                made.append(await connect())
            return made[0]

    return shared


def create_web_app(
    connect: Callable[[], Awaitable[Client]], store: CaseStore, config: WebConfig
) -> FastAPI:
    """The web app (mount it at ``/web``). ``connect`` gives the Temporal client (the
    app connects on first use: a mounted app gets no lifespan of its own)."""
    app = FastAPI(title="FNO casework web", docs_url=None, redoc_url=None, openapi_url=None)
    if store is not None:  # sessions and sign-in counts shared by every replica
        use_store(config, store.engine)
    app.state.web = WebState(
        config=config, store=store, connect=once(connect), templates=environment(config.tz)
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PlainServerErrors, templates=app.state.web.templates, tz=config.tz)
    app.add_exception_handler(SignInFirst, answer_sign_in_first)
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for routes in (
        routes_account,
        routes_inbox,
        routes_case_files,  # issue 21 (h4): before routes_cases (its path takes these)
        routes_reopen,
        routes_cases,
        routes_decisions,
        routes_dashboard,
        routes_provider,
    ):
        app.include_router(routes.router)
    return app
