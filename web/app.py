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
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from store.cases import CaseStore
from web import (
    routes_account,
    routes_cases,
    routes_dashboard,
    routes_decisions,
    routes_inbox,
    routes_provider,
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
    app.add_exception_handler(SignInFirst, answer_sign_in_first)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for routes in (
        routes_account,
        routes_inbox,
        routes_cases,
        routes_decisions,
        routes_dashboard,
        routes_provider,
    ):
        app.include_router(routes.router)
    return app
