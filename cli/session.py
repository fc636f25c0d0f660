"""Your sign-in: the access token ``fno login`` keeps for the other commands.

The token lives in ``$XDG_CONFIG_HOME/fno/token.json`` (default ``~/.config/fno``), a
file only you may read (mode 0600, in a directory of mode 0700), as
``{"access_token", "expires_at", "api_url"}``: ``expires_at`` is ISO 8601 (UTC) or null
when the API did not say, ``api_url`` the API that accepted it. ``fno`` never decodes
the token: the API verifies it on every request and says who it proves (``fno whoami``).

A command refuses, before sending anything, when there is no token, when it has expired,
when the file is readable by others, or when ``FNO_API_URL`` names another API than the
one the token was obtained from (a token is not sent where it was not issued for).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:8000"
TOKEN_FILE = "token.json"
# A token this close to its expiry is treated as expired: it could lapse in transit.
EXPIRY_MARGIN = timedelta(seconds=10)


class SessionError(Exception):
    """No usable sign-in; the message says what to do (``fno`` exits with status 2)."""


@dataclass(frozen=True)
class Session:
    access_token: str
    expires_at: datetime | None
    api_url: str


def config_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/fno``; ``~/.config/fno`` when it is unset or not absolute (as
    the XDG Base Directory specification says)."""
    base = env.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "fno"


def token_path(env: Mapping[str, str]) -> Path:
    return config_dir(env) / TOKEN_FILE


def normal_url(url: str) -> str:
    return url.strip().rstrip("/")


def api_url(env: Mapping[str, str], stored: str | None = None) -> str:
    """The API to call: ``FNO_API_URL``, else the one the token is for, else the local
    default."""
    return normal_url(env.get("FNO_API_URL", "") or stored or DEFAULT_API_URL)


def save(session: Session, env: Mapping[str, str]) -> Path:
    """Write the token file (0600, its directory 0700), replacing any other at once."""
    folder = config_dir(env)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)  # an existing directory too: the token is a credential
    path = folder / TOKEN_FILE
    body = json.dumps(
        {
            "access_token": session.access_token,
            "expires_at": session.expires_at.isoformat() if session.expires_at else None,
            "api_url": session.api_url,
        },
        indent=2,
    )
    temporary = folder / f".{TOKEN_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, or a leftover file, left it as
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body + "\n")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)
    return path


def load(env: Mapping[str, str], now: datetime | None = None) -> Session:
    """The stored sign-in, or ``SessionError`` saying why not and what to do."""
    path = token_path(env)
    try:
        mode = path.stat().st_mode
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise SessionError("Not signed in: run `fno login` first.") from None
    except OSError as e:
        raise SessionError(f"Cannot read {path}: {e.strerror}. Run `fno login`.") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SessionError(
            f"{path} may be read by others (mode {stat.S_IMODE(mode):04o}): it holds your "
            f"access token. Run `fno logout` and `fno login` (or `chmod 600 {path}`)."
        )
    try:
        raw = json.loads(text)
        token = raw["access_token"]
        stored_url = normal_url(raw["api_url"])
        expires = raw.get("expires_at")
        expires_at = datetime.fromisoformat(expires) if expires else None
        if not isinstance(token, str) or not token:
            raise ValueError("no access token")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SessionError(f"{path} is not a token file fno wrote: run `fno login`.") from None
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if expires_at is not None and now >= expires_at - EXPIRY_MARGIN:
        raise SessionError(
            f"Your sign-in expired at {expires_at.astimezone():%Y-%m-%d %H:%M}: "
            "run `fno login` again."
        )
    wanted = api_url(env, stored_url)
    if wanted != stored_url:
        raise SessionError(
            f"Your token is for {stored_url}, but FNO_API_URL is {wanted}: run `fno login` "
            "to sign in there (a token is only sent to the API it was obtained from)."
        )
    return Session(access_token=token, expires_at=expires_at, api_url=stored_url)


def stored_api_url(env: Mapping[str, str]) -> str | None:
    """The API of the token on file, if any (for ``fno login`` to sign in again there)."""
    try:
        url = json.loads(token_path(env).read_text("utf-8")).get("api_url")
    except (OSError, ValueError, AttributeError):
        return None
    return normal_url(url) if isinstance(url, str) and url.strip() else None


def forget(env: Mapping[str, str]) -> bool:
    """Delete the token file; False when there was none."""
    try:
        token_path(env).unlink()
    except FileNotFoundError:
        return False
    return True
