"""The web app's settings (``WebConfig``, read from the environment by
``web_config_from_env``) and the codec server's hook for web sessions
(``session_authenticator``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from access.viewers import Authenticator
from identity.principal import Principal
from web.auth import Directory, Throttle, UsersFileError
from web.sessions import SecretError, Sessions


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
    """The web app's settings, or None when ``FNO_WEB_USERS_FILE`` is not set (the app
    is not served). Raises ``WebConfigError`` or ``UsersFileError`` for a bad one.

    ``FNO_WEB_USERS_FILE`` the users file; ``FNO_WEB_SECRET`` the session-signing
    secret (32+ characters, the same for every replica); ``FNO_WEB_SECURE_COOKIE=1``
    behind HTTPS; ``FNO_TEMPORAL_UI_URL`` the Temporal Web UI case pages link to;
    ``FNO_WEB_TIMEZONE`` times shown (default Europe/London)."""
    users = env.get("FNO_WEB_USERS_FILE", "").strip()
    if not users:
        return None
    secret = env.get("FNO_WEB_SECRET", "").strip()
    if not secret:
        raise WebConfigError(
            "FNO_WEB_USERS_FILE is set but FNO_WEB_SECRET is not: set a random secret of 32+ "
            "characters, the same for every replica of the API"
        )
    try:
        sessions = Sessions(
            secret, secure=env.get("FNO_WEB_SECURE_COOKIE", "").lower() in ("1", "true", "yes")
        )
    except SecretError as err:
        raise WebConfigError(str(err)) from None
    try:
        directory = Directory.load(Path(users))
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


def session_authenticator(config: WebConfig) -> Authenticator:
    """The codec server's hook for web sessions (``access.viewers.Authenticator``): a
    signed-in user decodes in the Temporal Web UI as themselves — the session's
    ``Principal``, with their default purpose (the Web UI's "include cross-origin
    credentials" setting sends the cookie)."""

    async def authenticate(request: Request) -> Principal | None:
        session = config.sessions.read(request)
        username = session.get("user") if session else None
        if not isinstance(username, str):
            return None
        return config.directory.principal(username)

    return authenticate
