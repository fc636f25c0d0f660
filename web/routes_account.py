"""Signing in and out, and the account page: ``/`` (home), ``/login``, ``/logout``,
``/account``. Sign-in is throttled per username; the usernames of staff signing in are
logged, never a name typed that matches no user (it may be a mistyped password). With
an identity provider (``web.oidc``) the sign-in page leads there
(``web.routes_provider``) and the password form is not served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import Response

from runtime.logs import get_logger
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
    throttle = config.throttle
    if throttle.blocked(username):
        log.warning("web sign-in refused: too many failures", user=username)
        return render(
            v,
            "login.html",
            429,
            next=target,
            error="Too many failed attempts for this username. Try again in 15 minutes, "
            "or ask your administrator.",
            username_value=username,
        )
    directory = config.directory
    user = await asyncio.to_thread(directory.authenticate, username, form.get("password", ""))
    if user is None:
        known = directory.user(username) is not None
        if known:
            throttle.failed(username)
        # A name that matches no user is not logged: it may be a mistyped password.
        log.info("web sign-in failed", user=username if known else "(unknown)")
        return render(
            v,
            "login.html",
            401,
            next=target,
            error="Unknown username or wrong password.",
            username_value=username,
        )
    principal = directory.principal(username)
    if principal is None:  # removed while signing in
        return render(
            v,
            "login.html",
            401,
            next=target,
            error="Unknown username or wrong password.",
            username_value=username,
        )
    throttle.succeeded(username)
    log.info("web sign-in", user=username, role=user.role)
    fresh = SignedIn(v.request, config.sessions.new(username), user, username, principal)
    return redirect(fresh, safe_next(fresh, target) or home_of(fresh))


@router.post("/logout", response_model=None)
async def logout(v: AnyVisit, config: Config) -> Response:
    form = await form_of(v.request)
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(v, 403, "Form expired", "Reload the page and sign out again.")
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
