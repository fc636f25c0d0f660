"""Signing in with the identity provider (``web.oidc``): ``/auth/login`` sends the
visitor to the provider's sign-in (``?next=`` the page to return to), and
``/auth/callback`` — the redirect URI registered at the provider — takes its answer,
verifies it and signs the person in. Only when a provider is configured (404
otherwise). The person's subject and role are logged, nothing else of them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from runtime.logs import get_logger
from web.oidc import SignInError, remember
from web.visits import AnyVisit, Config, SignedIn, Visit, home_of, problem, redirect, safe_next

log = get_logger("fno.web")
router = APIRouter()

NEXT = "after_sign_in"  # the page to return to, in the session while signing in
TITLES = {
    400: "Sign-in expired",
    401: "Sign-in refused",
    403: "No access to FNO casework",
    503: "Identity provider unavailable",
}


def failed(v: Visit, err: SignInError) -> Response:
    log.warning("web sign-in with the provider failed", reason=err.code, status=err.status)
    return problem(v, err.status, TITLES.get(err.status, "Sign-in failed"), err.detail)


@router.get("/auth/login", response_model=None)
async def provider_login(v: AnyVisit, config: Config, next: str | None = None) -> Response:
    if config.provider is None:
        return problem(v, 404, "Not found", "Sign in with your username and password.")
    if v.user is not None:
        return redirect(v, safe_next(v, next) or home_of(v))
    v.session[NEXT] = safe_next(v, next) or ""
    try:
        response = await config.provider.begin(v.request, v.session, f"{v.base}/auth/callback")
    except SignInError as err:
        return failed(v, err)
    config.sessions.write(response, v.session)  # with Authlib's state, nonce and verifier
    return response


@router.get("/auth/callback", response_model=None)
async def provider_callback(v: AnyVisit, config: Config) -> Response:
    if config.provider is None:
        return problem(v, 404, "Not found", "Sign in with your username and password.")
    target = str(v.session.pop(NEXT, "") or "")
    try:
        principal = await config.provider.finish(v.request, v.session)
    except SignInError as err:
        return failed(v, err)
    session = config.sessions.new()  # a new session (new CSRF token) once signed in
    remember(session, principal)
    log.info("web sign-in with the provider", subject=principal.subject, role=principal.role)
    fresh = SignedIn(v.request, session, principal, principal.subject, principal)
    return redirect(fresh, safe_next(fresh, target) or home_of(fresh))
