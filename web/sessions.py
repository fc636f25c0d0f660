"""Web sessions: a signed cookie naming a session the server keeps, and CSRF tokens.

The cookie is a small JSON object signed with ``FNO_WEB_SECRET`` (``itsdangerous``): who
is signed in (a username of the users file, or the person an identity provider proved:
``web.oidc``), when they signed in, the session's CSRF token and, once signed in, the
session's ID; while signing in with a provider, that flow's state. Nothing about a case
is ever put in it. The session itself is kept by the server (``SessionRegistry``: the
case store's database, ``store.sign_in.SessionStore``, or Redis where configured —
shared by every replica), so it
ends for real: when the user signs out (a copy of the cookie is refused from then on),
when their password changes (the session remembers a fingerprint of the password it
was opened with: ``web.config.signed_in_as``), after ``idle`` without a request,
``lifetime`` after sign-in whatever happens, or when the user is removed from the users
file. The cookie is ``HttpOnly``, ``SameSite=Lax``, its path ``/`` so the codec server
(``/codec``) recognises the session too, and — by default outside local mode —
``Secure`` with the ``__Host-`` prefix (``__Host-fno_session``: sent only over HTTPS,
to this host only, never set by a sibling domain).

Every form carries the session's CSRF token (a hidden ``csrf_token`` field); a POST
without the right one is refused. The sign-in form has one too: a visitor gets an
anonymous session with a token before signing in (kept in the cookie only), and a new
session (new token) once signed in.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from web.oidc import SESSION_KEY

COOKIE = "fno_session"
SECURE_COOKIE = "__Host-fno_session"  # Secure, path /, no Domain: the browser insists
MIN_SECRET_LENGTH = 32
SESSION_ID = "sid"


class SecretError(ValueError):
    """``FNO_WEB_SECRET`` is missing or too short."""


class SessionRegistry(Protocol):
    """Where signed-in sessions are kept (``store.sign_in.SessionStore``)."""

    def begin(
        self, session_id: str, subject: str, credential: str | None, expires_at: float
    ) -> None: ...
    def find(self, session_id: str) -> tuple[str, str | None] | None: ...
    def end(self, session_id: str) -> None: ...
    def end_all(self, subject: str) -> int: ...


@dataclass
class MemorySessions:
    """A ``SessionRegistry`` of one process (until the app is given its store)."""

    _rows: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(
        self, session_id: str, subject: str, credential: str | None, expires_at: float
    ) -> None:
        with self._lock:
            now = time.time()
            self._rows = {k: r for k, r in self._rows.items() if r[2] > now}
            self._rows[session_id] = (subject, credential, expires_at)

    def find(self, session_id: str) -> tuple[str, str | None] | None:
        row = self._rows.get(session_id)
        return (row[0], row[1]) if row and row[2] > time.time() else None

    def end(self, session_id: str) -> None:
        with self._lock:
            self._rows.pop(session_id, None)

    def end_all(self, subject: str) -> int:
        with self._lock:
            ended = [k for k, r in self._rows.items() if r[0] == subject]
            for k in ended:
                del self._rows[k]
            return len(ended)


@dataclass
class Sessions:
    secret: str
    idle_seconds: int = 60 * 60
    lifetime_seconds: int = 10 * 60 * 60
    secure: bool = False
    cookie: str = ""  # default: __Host-fno_session when secure, else fno_session
    registry: SessionRegistry = field(default_factory=MemorySessions)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise SecretError(
                f"the web session secret must be at least {MIN_SECRET_LENGTH} characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if not self.cookie:
            self.cookie = SECURE_COOKIE if self.secure else COOKIE
        if self.cookie.startswith("__Host-") and not self.secure:
            raise SecretError(f"a {self.cookie} cookie must be Secure (FNO_WEB_SECURE_COOKIE=1)")
        self._serializer = URLSafeTimedSerializer(self.secret, salt="fno-web-session")

    def derived_key(self, purpose: str) -> bytes:
        """A key of its own for ``purpose``, the same in every replica (same secret)."""
        return hmac.new(self.secret.encode(), f"fno-web:{purpose}".encode(), "sha256").digest()

    def credential(self, password_hash: str) -> str:
        """The fingerprint of a password hash a session remembers (not the hash)."""
        key = self.derived_key("password fingerprint")
        return hmac.new(key, password_hash.encode(), "sha256").hexdigest()

    def new(self, user: str | None = None, *, credential: str | None = None) -> dict[str, Any]:
        """A fresh session (new CSRF token): anonymous, or signed in as ``user`` (kept
        by the registry, remembering the ``credential`` it was opened with)."""
        session: dict[str, Any] = {
            "user": user,
            "csrf": secrets.token_urlsafe(32),
            "since": int(time.time()),
        }
        if user is not None:
            self.begin(session, user, credential)
        return session

    def begin(self, session: dict[str, Any], subject: str, credential: str | None) -> None:
        """Keep ``session`` as a signed-in session of ``subject``."""
        session_id = secrets.token_urlsafe(32)
        expires = int(session.get("since", time.time())) + self.lifetime_seconds
        self.registry.begin(session_id, subject, credential, float(expires))
        session[SESSION_ID] = session_id

    def holds(self, session: dict[str, Any], subject: str, credential: str | None) -> bool:
        """Whether ``session`` is a live signed-in session of ``subject`` opened with
        ``credential`` (a session of a password changed since is ended here)."""
        session_id = session.get(SESSION_ID)
        if not isinstance(session_id, str) or not session_id:
            return False
        found = self.registry.find(session_id)
        if found is None:
            return False
        kept_subject, kept_credential = found
        same = hmac.compare_digest((kept_credential or "").encode(), (credential or "").encode())
        if kept_subject != subject or not same:
            self.registry.end(session_id)
            return False
        return True

    def end(self, session: dict[str, Any]) -> None:
        """Sign ``session`` out: a copy of its cookie is refused from now on."""
        session_id = session.get(SESSION_ID)
        if isinstance(session_id, str) and session_id:
            self.registry.end(session_id)

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
        # A person the provider just proved: their session is kept from here on.
        proved = session.get(SESSION_KEY)
        if SESSION_ID not in session and isinstance(proved, dict):
            subject = proved.get("subject")
            if isinstance(subject, str) and subject:
                self.begin(session, subject, None)
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
