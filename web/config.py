"""The web app's settings (``WebConfig``, read from the environment by
``web_config_from_env``), who a web session is signed in as (``signed_in_as``: a user
of the users file, or a person the identity provider proved, ``web.oidc``) and the
codec server's hook for web sessions (``session_authenticator``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from starlette.requests import Request

from access.viewers import Authenticator
from identity.principal import Principal
from runtime.config import local_mode
from store.sign_in import RedisSessionStore, RedisSignInCounters, SessionStore, SignInCounters
from web.auth import Directory, Throttle, User, UsersFile, UsersFileError
from web.oidc import SESSION_KEY, Provider, recall
from web.sessions import MIN_SECRET_LENGTH, SecretError, Sessions


@dataclass
class WebConfig:
    directory: Directory
    sessions: Sessions
    namespace: str = "default"
    temporal_ui: str | None = None  # e.g. http://localhost:8233: case pages link to it
    tz: tzinfo = UTC
    day_seconds: float = 86400.0  # the policy's day: reply times are in these
    page_size: int = 25
    stuck_failing: timedelta = timedelta(minutes=30)
    stuck_overdue: timedelta = timedelta(minutes=60)
    throttle: Throttle = field(default_factory=Throttle)
    # Set: people sign in with the identity provider, never with a password of the file.
    provider: Provider | None = None
    # Set: sessions and sign-in counts are kept in this Redis, not the case store.
    sign_in_redis: str | None = None


def display_zone(name: str | None) -> tzinfo:
    """``FNO_WEB_TIMEZONE`` (default Europe/London), or UTC where the zone is unknown."""
    try:
        return ZoneInfo(name or "Europe/London")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class WebConfigError(ValueError):
    """The web app's configuration is incomplete (raised at start-up)."""


def web_config_from_env(
    env: dict[str, str], *, namespace: str = "default", day_seconds: float = 86400.0
) -> WebConfig | None:
    """The web app's settings, or None when neither ``FNO_WEB_USERS_FILE`` nor
    ``FNO_OIDC_CLIENT_ID`` is set (the app is not served). Raises ``WebConfigError`` for
    a bad one. The sign-in provider (``web.oidc.provider_from_env``) is set apart, once
    the API's token verifier exists.

    ``FNO_WEB_USERS_FILE`` the users file (with a provider: only its default
    purposes per role count, optional); ``FNO_WEB_SECRET`` the session-signing
    secret (32+ characters, the same for every replica); ``FNO_WEB_SECURE_COOKIE``
    (``secure_cookie``); the sign-in limits (``throttle_from_env``) and where
    sessions are kept (``redis_from_env``);
    ``FNO_TEMPORAL_UI_URL`` the Temporal Web UI case pages link to; ``FNO_WEB_TIMEZONE``
    times shown (default Europe/London)."""
    users = env.get("FNO_WEB_USERS_FILE", "").strip()
    by_provider = bool(env.get("FNO_OIDC_CLIENT_ID", "").strip())
    if not users and not by_provider:
        return None
    secret = session_secret(env, "FNO_WEB_USERS_FILE" if users else "FNO_OIDC_CLIENT_ID")
    try:
        sessions = Sessions(secret, secure=secure_cookie(env))
        throttle = throttle_from_env(env)
    except SecretError as err:
        raise WebConfigError(str(err)) from None
    try:
        directory = Directory.load(Path(users)) if users else Directory.of(UsersFile())
    except (OSError, UsersFileError) as err:
        raise WebConfigError(str(err)) from None
    return WebConfig(
        directory=directory,
        sessions=sessions,
        namespace=namespace,
        temporal_ui=env.get("FNO_TEMPORAL_UI_URL", "").strip() or None,
        tz=display_zone(env.get("FNO_WEB_TIMEZONE")),
        day_seconds=day_seconds,
        throttle=throttle,
        sign_in_redis=redis_from_env(env),
    )


def session_secret(env: dict[str, str], wanted_by: str) -> str:
    """``FNO_WEB_SECRET``, required once the web app is on (``wanted_by`` names the
    setting that turned it on): 32+ characters (``MIN_SECRET_LENGTH``), never made up by
    the process — a local run's comes from ``make run`` (``local.prepare``).
    ``WebConfigError`` says what to set and how to make one."""
    secret = env.get("FNO_WEB_SECRET", "").strip()
    how = (
        f"set FNO_WEB_SECRET to a random secret of {MIN_SECRET_LENGTH}+ characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(32))' makes one), the same "
        "for every replica of the API, kept in your secret manager: it signs the web app's "
        "session cookies"
    )
    if not secret:
        raise WebConfigError(f"{wanted_by} is set but FNO_WEB_SECRET is not: {how}")
    if len(secret) < MIN_SECRET_LENGTH:
        raise WebConfigError(f"FNO_WEB_SECRET is {len(secret)} characters, too short: {how}")
    return secret


def secure_cookie(env: Mapping[str, str]) -> bool:
    """Whether the session cookie is ``Secure`` (and named with the ``__Host-`` prefix):
    ``FNO_WEB_SECURE_COOKIE`` (1/0) when set, else on outside local mode — a deployment
    is served over HTTPS; ``make run`` serves http://localhost."""
    value = env.get("FNO_WEB_SECURE_COOKIE", "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value:
        raise WebConfigError("FNO_WEB_SECURE_COOKIE is 1 (behind HTTPS) or 0 (plain http)")
    return not local_mode(env)


def throttle_from_env(env: Mapping[str, str]) -> Throttle:
    """The sign-in throttle's limits: ``FNO_SIGN_IN_LIMIT`` attempts per username
    (default 5) and ``FNO_SIGN_IN_CLIENT_LIMIT`` per client address (default 50) within
    ``FNO_SIGN_IN_WINDOW_MINUTES`` (default 15)."""

    def number(name: str, default: int, low: int, high: int) -> int:
        raw = env.get(name, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            raise WebConfigError(f"{name} is a whole number ({low} to {high})") from None
        if not low <= value <= high:
            raise WebConfigError(f"{name} is a whole number ({low} to {high})")
        return value

    return Throttle(
        limit=number("FNO_SIGN_IN_LIMIT", 5, 1, 1000),
        client_limit=number("FNO_SIGN_IN_CLIENT_LIMIT", 50, 1, 100_000),
        window=60.0 * number("FNO_SIGN_IN_WINDOW_MINUTES", 15, 1, 24 * 60),
    )


def redis_from_env(env: Mapping[str, str]) -> str | None:
    """``FNO_SIGN_IN_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/0``): keep sessions and
    sign-in counts in this Redis instead of the case store's database (a deployment that
    has one); unset, the database."""
    url = env.get("FNO_SIGN_IN_REDIS_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise WebConfigError(
            "FNO_SIGN_IN_REDIS_URL is a Redis URL: redis://HOST:PORT/DB (rediss:// over TLS)"
        )
    return url


def use_store(config: WebConfig, engine: Engine) -> None:
    """Keep sessions and count sign-in attempts where every replica sees them: the case
    store's database (``store.sign_in``), or Redis when ``sign_in_redis`` is set —
    instead of in this process."""
    key = config.sessions.derived_key("sign-in")
    if config.sign_in_redis:
        config.sessions.registry = RedisSessionStore(config.sign_in_redis)
        config.throttle.share(RedisSignInCounters(config.sign_in_redis), key)
        return
    config.sessions.registry = SessionStore(engine)
    config.throttle.share(SignInCounters(engine), key)


def open_session(config: WebConfig, username: str, user: User) -> dict[str, Any]:
    """A new signed-in session of ``username`` of the users file, remembering their
    password as it is now (a change of password ends it)."""
    return config.sessions.new(username, credential=config.sessions.credential(user.password_hash))


def session_authenticator(config: WebConfig) -> Authenticator:
    """The codec server's hook for web sessions (``access.viewers.Authenticator``): a
    signed-in user decodes in the Temporal Web UI as themselves — the session's
    ``Principal``, with their default purpose (the Web UI's "include cross-origin
    credentials" setting sends the cookie)."""

    async def authenticate(request: Request) -> Principal | None:
        session = config.sessions.read(request)
        found = signed_in_as(config, session) if session else None
        return found[2] if found else None

    return authenticate


def signed_in_as(
    config: WebConfig, session: dict[str, Any]
) -> tuple[str, User | Principal, Principal] | None:
    """Who ``session`` is signed in as: (username, the user shown, their ``Principal``),
    or None. With a provider, only a person it proved (the username is their subject;
    a password session of before ends); without, only a user still in the users file
    (a session of a provider's person ends)."""
    if config.provider is not None:
        kept = session.get(SESSION_KEY)
        role = kept.get("role") if isinstance(kept, dict) else None
        try:
            purpose = config.directory.current().purposes.get(role) if role else None
        except (OSError, UsersFileError):
            purpose = None
        principal = recall(session, (purpose or "").strip() or None)
        if principal is None or not config.sessions.holds(session, principal.subject, None):
            return None
        return principal.subject, principal, principal
    username = session.get("user")
    if not isinstance(username, str):
        return None
    user = config.directory.user(username)
    principal = config.directory.principal(username)
    if user is None or principal is None:
        return None
    if not config.sessions.holds(session, username, config.sessions.credential(user.password_hash)):
        return None  # signed out, expired, or the password changed since
    return username, user, principal
