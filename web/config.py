"""The web app's settings (``WebConfig``, read from the environment by
``web_config_from_env``), who a web session is signed in as (``signed_in_as``: a user
of the users file, or a person the identity provider proved, ``web.oidc``) and the
codec server's hook for web sessions (``session_authenticator``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from access.viewers import Authenticator
from identity.principal import Principal
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
    secret (32+ characters, the same for every replica); ``FNO_WEB_SECURE_COOKIE=1``
    behind HTTPS; ``FNO_TEMPORAL_UI_URL`` the Temporal Web UI case pages link to;
    ``FNO_WEB_TIMEZONE`` times shown (default Europe/London)."""
    users = env.get("FNO_WEB_USERS_FILE", "").strip()
    by_provider = bool(env.get("FNO_OIDC_CLIENT_ID", "").strip())
    if not users and not by_provider:
        return None
    secret = session_secret(env, "FNO_WEB_USERS_FILE" if users else "FNO_OIDC_CLIENT_ID")
    try:
        sessions = Sessions(
            secret, secure=env.get("FNO_WEB_SECURE_COOKIE", "").lower() in ("1", "true", "yes")
        )
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
        return (principal.subject, principal, principal) if principal else None
    username = session.get("user")
    if not isinstance(username, str):
        return None
    user = config.directory.user(username)
    principal = config.directory.principal(username)
    if user is None or principal is None:
        return None
    return username, user, principal
