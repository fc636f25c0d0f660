"""Signing in and out, and the account page: ``/`` (home), ``/login``, ``/logout``,
``/account``. Sign-in is throttled per username typed (known or not) and per client
address, each attempt reserved before its password is checked (``web.auth.Throttle``);
signing out ends the session on the server (``web.sessions``). The usernames of staff
signing in are logged, never a name typed that matches no user (it may be a mistyped
password). With an identity provider (``web.oidc``) the sign-in page leads there
(``web.routes_provider``) and the password form is not served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response

from identity.issuer import TooManyAttempts
from runtime.logs import get_logger
from web.config import open_session
from web.sessions import csrf_ok
from web.visits import (
    AnyVisit,
    Config,
    SignedIn,
    Staff,
    Visit,
    form_of,
    home_of,
    problem,
    redirect,
    render,
    safe_next,
)

log = get_logger("fno.web")
router = APIRouter()


@router.get("/", response_model=None)
async def home(v: Staff) -> Response:
    return redirect(v, home_of(v))


@router.get("/login", response_model=None)
async def login_page(v: AnyVisit, config: Config, next: str | None = None) -> Response:
    if v.user is not None:
        return redirect(v, safe_next(v, next) or home_of(v))
    provider = config.provider
    return render(
        v,
        "login.html",
        next=next or "",
        error=None,
        username_value="",
        provider=provider.name if provider else None,
    )


@router.post("/login", response_model=None)
async def login(v: AnyVisit, config: Config) -> Response:
    if config.provider is not None:
        return problem(
            v,
            404,
            "No password sign-in",
            f"People sign in with {config.provider.name} here: open the sign-in page.",
        )
    form = await form_of(v.request)
    username = form.get("username", "").strip().lower()[:40]
    target = form.get("next", "")
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(
            v,
            403,
            "Form expired",
            "The sign-in form had expired or did not come from this site. Please try again.",
        )
    directory = config.directory
    client = v.request.client.host if v.request.client else None
    password = form.get("password", "")
    try:
        # Reserved before the password is checked, counted as a failure until it passes.
        user = await asyncio.to_thread(
            config.throttle.attempt,
            username,
            client,
            lambda: directory.authenticate(username, password),
        )
    except TooManyAttempts:
        known = directory.user(username) is not None
        log.warning("web sign-in refused: too many attempts", user=_shown(username, known))
        return render(
            v,
            "login.html",
            429,
            next=target,
            error="Too many failed sign-in attempts. Try again in "
            f"{max(1, round(config.throttle.window / 60))} minutes, or ask your administrator.",
            username_value=username,
        )
    principal = directory.principal(username) if user is not None else None
    if user is None or principal is None:  # wrong, or removed while signing in
        known = directory.user(username) is not None
        log.info("web sign-in failed", user=_shown(username, known))
        return render(
            v,
            "login.html",
            401,
            next=target,
            error="Unknown username or wrong password.",
            username_value=username,
        )
    log.info("web sign-in", user=username, role=user.role)
    session = await asyncio.to_thread(open_session, config, username, user)
    fresh = SignedIn(v.request, session, user, username, principal)
    return redirect(fresh, safe_next(fresh, target) or home_of(fresh))


def _shown(username: str, known: bool) -> str:
    # A name that matches no user is not logged: it may be a mistyped password.
    return username if known else "(unknown)"


@router.post("/logout", response_model=None)
async def logout(v: AnyVisit, config: Config) -> Response:
    form = await form_of(v.request)
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(v, 403, "Form expired", "Reload the page and sign out again.")
    await asyncio.to_thread(config.sessions.end, v.session)  # its cookie is refused from now
    anonymous = Visit(v.request, config.sessions.new(), None, None)
    anonymous.session["flash"] = "You have signed out."
    return redirect(anonymous, f"{v.base}/login")


@router.get("/account", response_model=None)
async def account(v: Staff, config: Config) -> Response:
    since = datetime.fromtimestamp(int(v.session.get("since", 0)), UTC)
    sessions = config.sessions
    return render(
        v,
        "account.html",
        force=v.principal.force,
        subject=v.principal.subject,
        purpose=v.principal.reason,
        by_provider=config.provider is not None,
        since=since,
        ends=min(
            since + timedelta(seconds=sessions.lifetime_seconds),
            datetime.now(UTC) + timedelta(seconds=sessions.idle_seconds),
        ),
    )
