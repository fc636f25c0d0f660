"""Signed session cookies and CSRF tokens for the web app.

The session is a small JSON object in a cookie signed with ``FNO_WEB_SECRET``
(``itsdangerous``): who is signed in (a username of the users file, or the person an
identity provider proved: ``web.oidc``), when they signed in, and the session's CSRF
token; while signing in with a provider, that flow's state. Nothing about a case is
ever put in it. It ends when the user signs out,
after ``idle`` without a request, ``lifetime`` after sign-in whatever happens, or
when the user is removed from the users file. The cookie is ``HttpOnly``,
``SameSite=Lax``, ``Secure`` when configured (behind HTTPS), and its path is ``/`` so
the codec server (``/codec``) recognises the session too.

Every form carries the session's CSRF token (a hidden ``csrf_token`` field); a POST
without the right one is refused. The sign-in form has one too: a visitor gets an
anonymous session with a token before signing in, and a new session (new token) once
signed in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

COOKIE = "fno_session"
MIN_SECRET_LENGTH = 32


class SecretError(ValueError):
    """``FNO_WEB_SECRET`` is missing or too short."""


@dataclass
class Sessions:
    secret: str
    idle_seconds: int = 60 * 60
    lifetime_seconds: int = 10 * 60 * 60
    secure: bool = False
    cookie: str = COOKIE

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise SecretError(
                f"the web session secret must be at least {MIN_SECRET_LENGTH} characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._serializer = URLSafeTimedSerializer(self.secret, salt="fno-web-session")

    def new(self, user: str | None = None) -> dict[str, Any]:
        """A fresh session (new CSRF token), signed in as ``user`` or anonymous."""
        return {"user": user, "csrf": secrets.token_urlsafe(32), "since": int(time.time())}

    def read(self, conn: HTTPConnection) -> dict[str, Any] | None:
        """The request's session, or None: no cookie, a bad signature, or expired."""
        raw = conn.cookies.get(self.cookie)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.idle_seconds)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        since = data.get("since")
        if not isinstance(since, int) or time.time() - since > self.lifetime_seconds:
            return None
        return data

    def write(self, response: Response, session: dict[str, Any]) -> None:
        response.set_cookie(
            self.cookie,
            self._serializer.dumps(session),
            max_age=self.idle_seconds,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie, path="/", httponly=True, samesite="lax", secure=self.secure
        )


def csrf_ok(session: dict[str, Any] | None, offered: object) -> bool:
    """Whether a form's ``csrf_token`` is the session's (compared in constant time)."""
    if not session or not isinstance(offered, str) or not offered:
        return False
    return hmac.compare_digest(str(session.get("csrf", "")).encode(), offered.encode())
