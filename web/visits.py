"""One request to the web app and what answers it: the FastAPI dependencies every route
takes (the visit with its session, the signed-in user and the ``Principal`` they are —
what every access function and the policy take —, the settings, the case store, the
Temporal connection), and the answers built for a visit (a page, a redirect, an error
page, the way to the sign-in form). Each answer writes the session back, so the idle
timeout slides with each page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from temporalio.client import Client

from access.policy import Capability, may
from identity.principal import Principal
from store.cases import CaseStore
from web.auth import User
from web.config import WebConfig, signed_in_as
from web.oidc import SESSION_KEY

Connect = Callable[[], Awaitable[Client]]


@dataclass
class WebState:
    """What the routes share, kept on ``app.state.web`` by ``create_web_app``."""

    config: WebConfig
    store: CaseStore
    connect: Connect  # the Temporal client, connected on first use
    templates: Environment


@dataclass
class Visit:
    """One request: its session (new and anonymous if it had none), the user and the
    ``Principal`` they are (``local:<username>``: ``web.auth.Directory.principal``; or
    a person the identity provider proved, shown as their ``Principal`` itself, their
    subject as username: ``web.config.signed_in_as``)."""

    request: Request
    session: dict[str, Any]
    user: User | Principal | None
    username: str | None
    principal: Principal | None = None

    @property
    def base(self) -> str:
        return str(self.request.scope.get("root_path", "")).rstrip("/")


@dataclass
class SignedIn(Visit):
    """A visit of a signed-in user."""

    user: User | Principal
    username: str
    principal: Principal


class SignInFirst(Exception):
    """Raised by the ``Staff`` dependency for a visit nobody is signed in to; the app
    answers with the sign-in form (``sign_in_first``)."""

    def __init__(self, visit: Visit) -> None:
        super().__init__("not signed in")
        self.visit = visit


def state_of(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


async def current_visit(request: Request) -> Visit:
    config = state_of(request).config
    session = config.sessions.read(request) or config.sessions.new()
    found = signed_in_as(config, session)
    if found is None:
        if session.get("user") or session.get(SESSION_KEY):
            session = config.sessions.new()  # the user was removed: the session ends
        return Visit(request, session, None, None)
    username, user, principal = found
    return Visit(request, session, user, username, principal)


async def signed_in(v: Annotated[Visit, Depends(current_visit)]) -> SignedIn:
    if v.user is None or v.username is None or v.principal is None:
        raise SignInFirst(v)
    return SignedIn(v.request, v.session, v.user, v.username, v.principal)


async def web_config(request: Request) -> WebConfig:
    return state_of(request).config


async def case_store(request: Request) -> CaseStore:
    return state_of(request).store


async def temporal(request: Request) -> Connect:
    """The Temporal connection, not the client: a route connects only where it needs
    to, inside its own error handling."""
    return state_of(request).connect


# The dependencies as route parameter types.
AnyVisit = Annotated[Visit, Depends(current_visit)]
Staff = Annotated[SignedIn, Depends(signed_in)]
Config = Annotated[WebConfig, Depends(web_config)]
Store = Annotated[CaseStore, Depends(case_store)]
Temporal = Annotated[Connect, Depends(temporal)]


def render(v: Visit, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    state = state_of(v.request)
    flash = v.session.pop("flash", None)
    ctx.setdefault("active", template.removesuffix(".html"))
    ctx.setdefault("now", datetime.now(UTC))
    html = state.templates.get_template(template).render(
        base=v.base,
        user=v.user,
        username=v.username,
        csrf=v.session["csrf"],
        principal=v.principal,
        can_dashboard=bool(v.principal and may(v.principal, Capability.FIGURES)),
        flash=flash,
        tz_name=str(state.config.tz),
        **ctx,
    )
    response = HTMLResponse(html, status_code=status)
    state.config.sessions.write(response, v.session)  # the idle timeout slides with each page
    return response


def redirect(v: Visit, to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    state_of(v.request).config.sessions.write(response, v.session)
    return response


def problem(v: Visit, status: int, title: str, detail: str) -> HTMLResponse:
    return render(v, "error.html", status, title=title, detail=detail)


def sign_in_first(v: Visit) -> RedirectResponse:
    target = v.request.url.path
    if v.request.url.query:
        target += "?" + v.request.url.query
    return redirect(v, f"{v.base}/login?{urlencode({'next': target})}")


async def answer_sign_in_first(request: Request, exc: Exception) -> Response:
    """The app's handler of ``SignInFirst``."""
    assert isinstance(exc, SignInFirst)
    return sign_in_first(exc.visit)


def safe_next(v: Visit, target: str | None) -> str | None:
    # Only a path of this app: never another site (an open redirect).
    if not target or "\\" in target or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(v.base + "/"):
        return None
    return target


async def form_of(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def home_of(v: Visit) -> str:
    assert v.user is not None
    return f"{v.base}/dashboard" if v.user.role == "supervisor" else f"{v.base}/inbox"


def purpose_of(v: SignedIn, stated: str | None) -> str | None:
    """The purpose stated, else the user's (or their role's) default purpose."""
    stated = (stated or "").strip()[:2000]
    return stated or v.principal.reason
