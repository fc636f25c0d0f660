"""FastAPI dependencies of the JSON API's routes: who calls, proven (``CallerD``,
``PersonD``, ``system(scope)``), why (``X-Reason``), and what ``create_app`` put in
``app.state`` (the Temporal client, the case store, intake, the identity configuration).

Who calls is proven by ``Authorization: Bearer <token>``: a person's access token from
the identity provider (or the local issuer), or a system's ``<client id>.<secret>``
(also accepted as ``X-API-Key``). ``X-Actor`` and ``X-Role`` are ignored: name and role
come from the token. No or a bad credential is 401 with ``WWW-Authenticate: Bearer``; a
proven caller who may not use the route is 403 with the reason.

The dependencies that only read ``app.state`` or check a proven principal are
``async``: FastAPI runs a plain function in its thread pool, a hop per dependency per
request (issue 22: the HTTP API's largest cost after the case store). ``caller`` and
``decider`` stay plain functions: they may block (an identity provider's keys, a
Redis-backed rate limit).

Each proven caller is rate limited by their subject (``access.rate_limit``: every route,
and decisions tighter, ``DeciderD``): over a limit is 429 with ``Retry-After`` and a
``detail`` saying how long to wait.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from access.intake import Intake
from access.rate_limit import RateLimitConfigError, RateLimited, RateLimits, Scope, shared
from identity.config import Identity
from identity.principal import Principal
from identity.tokens import TokenError
from runtime.logs import get_logger
from store.cases import CaseStore
from store.notifications import NotificationStore

# Security schemes (shown by /docs' "Authorize"); a missing credential is answered below.
_bearer = HTTPBearer(
    auto_error=False,
    description="A person's access token (fno login; your identity provider), "
    "or a system's <client id>.<secret>.",
)
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A system's <client id>.<secret>."
)
BearerD = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKeyD = Annotated[str | None, Depends(_api_key)]
ReasonH = Annotated[str | None, Header(alias="X-Reason", max_length=2000)]
REALM = 'Bearer realm="fno"'
log = get_logger("fno.api")


async def temporal(request: Request) -> Client:
    """The Temporal client, connected when the app started (its lifespan); a request
    before then (or to an app started without its lifespan) is told to come back."""
    client: Client | None = getattr(request.app.state, "temporal", None)
    if client is None:
        raise HTTPException(
            status_code=503,
            detail="not connected to Temporal yet: send the request again in a moment",
        )
    return client


async def case_store(request: Request) -> CaseStore:
    store: CaseStore = request.app.state.store
    return store


async def notification_store(
    store: Annotated[CaseStore, Depends(case_store)],
) -> NotificationStore:
    """Notifications out, in the case store's database."""
    return NotificationStore(store.engine)


async def intake_config(request: Request) -> Intake | None:
    """How custody events (and daily files) become cases; None: this service takes none."""
    intake: Intake | None = request.app.state.intake
    return intake


def unauthenticated(detail: str, error: str | None = "invalid_token") -> HTTPException:
    challenge = REALM + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


# A plain function: FastAPI runs it in its thread pool, so fetching an identity
# provider's keys (PyJWKClient, blocking) never stalls the event loop.
def caller(request: Request, bearer: BearerD, api_key: ApiKeyD) -> Principal:
    """The proven caller: a person's bearer token or a system's credential."""
    identity: Identity | None = request.app.state.identity
    credential = (bearer.credentials.strip() if bearer else "") or (api_key or "").strip()
    if not credential:
        raise unauthenticated(
            "no credential: send Authorization: Bearer <token> (fno login, or your identity "
            "provider's access token; a system sends its <client id>.<secret>)",
            error=None,
        )
    if identity is None:
        raise unauthenticated("this service has no identity configuration: nobody is verified")
    try:
        who = identity.authenticate(credential)
    except TokenError as err:
        if err.status == 401:
            raise unauthenticated(err.detail) from None
        raise HTTPException(err.status, err.detail) from None
    count(request, Scope.SYSTEM if who.is_system else Scope.READ, who)
    return who


CallerD = Annotated[Principal, Depends(caller)]


def rate_limits(request: Request) -> RateLimits:
    """The app's rate limits: ``app.state.rate_limits`` when the app was given some,
    else the process's for the environment's settings (``access.rate_limit``)."""
    given: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    if given is not None:
        return given
    try:
        return shared(os.environ)
    except RateLimitConfigError as err:
        log.error("rate limits misconfigured", error=str(err))
        raise HTTPException(
            503, "this service is misconfigured (its rate limits): an operator must fix it"
        ) from None


def count(request: Request, scope: Scope, who: Principal) -> None:
    """Count one request of ``scope`` for ``who``; over the limit: 429, Retry-After."""
    try:
        rate_limits(request).hit(scope, who.subject)
    except RateLimited as over:
        log.warning("rate limited", scope=scope.name.lower(), role=who.role)
        raise HTTPException(
            429, over.detail, headers={"Retry-After": str(over.retry_after)}
        ) from None


async def person(who: CallerD) -> Principal:
    """A proven person (not a system): every route that reads or decides."""
    if who.is_system:
        raise HTTPException(
            403,
            f"{who.name} is a system: its credential may use only "
            f"{', '.join(who.scopes) or 'nothing'} here; people's routes need a person's token",
        )
    return who


PersonD = Annotated[Principal, Depends(person)]


def decider(request: Request, who: PersonD) -> Principal:
    """A proven person sending a decision: counted against the decisions' limit, tighter
    than the reads' (a refused decision still asks Temporal and the case store)."""
    count(request, Scope.DECISION, who)
    return who


DeciderD = Annotated[Principal, Depends(decider)]


def system(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: a proven system whose credential has ``scope``."""

    async def scoped(who: CallerD) -> Principal:
        if not who.is_system:
            raise HTTPException(
                403, f"only a system credential with the {scope!r} scope may use this route"
            )
        if scope not in who.scopes:
            raise HTTPException(
                403,
                f"this credential ({who.name}) does not have the {scope!r} scope "
                f"(it has: {', '.join(who.scopes) or 'none'})",
            )
        return who

    return scoped


def utf8(header: str | None) -> str | None:
    """A header's text as sent: HTTP headers arrive decoded as latin-1; a client sends
    non-ASCII text ("détention") as UTF-8, so its bytes are read again as UTF-8."""
    if header is None:
        return None
    try:
        return header.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return header


async def purpose(who: PersonD, reason: ReasonH = None) -> str | None:
    """Why the caller reads: ``X-Reason``, or their credential's default purpose."""
    return (utf8(reason) or "").strip() or who.reason


PurposeD = Annotated[str | None, Depends(purpose)]


def roles(*allowed: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: a proven person in one of ``allowed`` roles."""

    async def in_role(who: PersonD) -> Principal:
        if who.role not in allowed:
            raise HTTPException(
                403,
                f"your role ({who.role}) may not use this route (it is for: {', '.join(allowed)})",
            )
        return who

    return in_role


TemporalD = Annotated[Client, Depends(temporal)]
StoreD = Annotated[CaseStore, Depends(case_store)]
NotificationsD = Annotated[NotificationStore, Depends(notification_store)]
IntakeD = Annotated[Intake | None, Depends(intake_config)]
