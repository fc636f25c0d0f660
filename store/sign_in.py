"""Sign-in counters and web sessions in the case store's database (migration 0005), so
every replica of the API counts the same attempts and knows the same sessions.

``SignInCounters`` — one row per counted key (a username typed, a client address; both
arrive here as keyed hashes, never as typed: a username that matches nobody may be a
mistyped password). An attempt is *reserved* before its password is verified, in one
conditional ``UPDATE`` per key (``failures + pending < limit``): PostgreSQL's row lock
and SQLite's single writer make the check and the increment one step, so parallel
guesses cannot all pass a check made before any of them is counted. The verify then
*settles* it: a failure moves it from ``pending`` to ``failures``, a success frees it
(and, for a username, forgets its failures). Counts last a fixed window from the first
attempt; a reservation whose process died is forgotten with its window.

``SessionStore`` — one row per signed-in web session: a hash of the session ID the
signed cookie carries, who it is, until when, and a fingerprint of the password it was
opened with. Signing out deletes the row, so a copy of the cookie is refused from then
on; a session whose password has changed since is refused (``web.config``).

``RedisSignInCounters`` and ``RedisSessionStore`` do the same in Redis, for a deployment
that has one and names it (``FNO_SIGN_IN_REDIS_URL``, ``web.config``)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select

CLEANUP_EVERY = 60.0  # seconds between two sweeps of expired rows, per process


class SignInCounter(SQLModel, table=True):
    __tablename__ = "sign_in_counter"
    key: str = Field(primary_key=True, max_length=64, description="A keyed hash.")
    window_start: float = Field(index=True, description="Epoch seconds.")
    failures: int = 0
    pending: int = 0


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"
    id: str = Field(primary_key=True, max_length=64, description="SHA-256 of the session ID.")
    subject: str = Field(max_length=300, index=True)
    credential: str | None = Field(default=None, max_length=64)
    created_at: float
    expires_at: float = Field(index=True)


class _Full(Exception):
    """A key is at its limit."""


class SignInCounters:
    """The counters of sign-in attempts (``identity.issuer.Counters``), shared by every
    process on the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._swept = 0.0
        self._lock = threading.Lock()

    def reserve(self, keys: Sequence[tuple[str, int]], window: float, now: float) -> bool:
        """Reserve one attempt under every ``(key, limit)``, all or none: False when a
        key has ``limit`` failures and attempts in flight within its window."""
        self._sweep(window, now)
        cut = now - window
        table = SignInCounter.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        try:
            with self.engine.begin() as conn:
                for key, limit in keys:
                    # A write first: SQLite takes its write lock here, before any read.
                    conn.execute(
                        insert(table)
                        .values(key=key, window_start=now, failures=0, pending=0)
                        .on_conflict_do_nothing()
                    )
                    expired = table.c.window_start < cut
                    done = conn.execute(
                        update(table)
                        .where(table.c.key == key)
                        .where(expired | (table.c.failures + table.c.pending < limit))
                        .values(
                            window_start=case((expired, now), else_=table.c.window_start),
                            failures=case((expired, 0), else_=table.c.failures),
                            pending=case((expired, 1), else_=table.c.pending + 1),
                        )
                    )
                    if done.rowcount != 1:
                        raise _Full  # rolls back: the keys reserved before this one are freed
        except _Full:
            return False
        return True

    def settle(self, keys: Sequence[str], *, failed: bool, forget: Sequence[str] = ()) -> None:
        """An attempt reserved under ``keys`` is over: counted as a failure, or freed and
        the failures of ``forget`` (a subset of ``keys``) forgotten."""
        table = SignInCounter.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as conn:
            for key in keys:
                values: dict[str, object] = {
                    "pending": case((table.c.pending > 0, table.c.pending - 1), else_=0)
                }
                if failed:
                    values["failures"] = table.c.failures + 1
                elif key in forget:
                    values["failures"] = 0
                conn.execute(update(table).where(table.c.key == key).values(**values))

    def _sweep(self, window: float, now: float) -> None:
        with self._lock:
            if now - self._swept < CLEANUP_EVERY:
                return
            self._swept = now
        with self.engine.begin() as conn:
            conn.execute(
                delete(SignInCounter).where(SignInCounter.window_start < now - window)  # type: ignore[arg-type]
            )


def session_row_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Signed-in web sessions (``web.sessions.SessionRegistry``), shared by every
    process on the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._swept = 0.0
        self._lock = threading.Lock()

    def begin(
        self, session_id: str, subject: str, credential: str | None, expires_at: float
    ) -> None:
        now = time.time()
        self._sweep(now)
        with Session(self.engine) as s:
            s.add(
                WebSession(
                    id=session_row_id(session_id),
                    subject=subject,
                    credential=credential,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            s.commit()

    def find(self, session_id: str) -> tuple[str, str | None] | None:
        """``(subject, credential)`` of a live session; None if ended or expired."""
        with Session(self.engine) as s:
            row = s.get(WebSession, session_row_id(session_id))
            if row is None or row.expires_at <= time.time():
                return None
            return row.subject, row.credential

    def end(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(WebSession).where(WebSession.id == session_row_id(session_id)))  # type: ignore[arg-type]

    def end_all(self, subject: str) -> int:
        """End every session of ``subject``; how many there were."""
        with self.engine.begin() as conn:
            done = conn.execute(delete(WebSession).where(WebSession.subject == subject))  # type: ignore[arg-type]
            return int(done.rowcount or 0)

    def count(self, subject: str) -> int:
        with Session(self.engine) as s:
            rows = s.exec(select(WebSession.id).where(WebSession.subject == subject)).all()
            return len(rows)

    def _sweep(self, now: float) -> None:
        with self._lock:
            if now - self._swept < CLEANUP_EVERY:
                return
            self._swept = now
        with self.engine.begin() as conn:
            conn.execute(delete(WebSession).where(WebSession.expires_at <= now))  # type: ignore[arg-type]


# --- Redis, where a deployment has it ------------------------------------------------
_RESERVE = """
for i, key in ipairs(KEYS) do
  local failures = tonumber(redis.call('HGET', key, 'f') or '0')
  local pending = tonumber(redis.call('HGET', key, 'p') or '0')
  if failures + pending >= tonumber(ARGV[i + 1]) then return 0 end
end
for _, key in ipairs(KEYS) do
  local new = redis.call('EXISTS', key) == 0
  redis.call('HINCRBY', key, 'p', 1)
  if new then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
"""
_SETTLE = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if tonumber(redis.call('HGET', key, 'p') or '0') > 0 then
      redis.call('HINCRBY', key, 'p', -1)
    end
    if ARGV[1] == '1' then
      redis.call('HINCRBY', key, 'f', 1)
    elseif ARGV[i + 1] == '1' then
      redis.call('HSET', key, 'f', 0)
    end
  end
end
return 1
"""


class RedisSignInCounters:
    """``SignInCounters`` in Redis (``FNO_SIGN_IN_REDIS_URL``): one hash per key, the
    check and the reservation of every key in one Lua script (atomic in Redis), the
    window a TTL from the first attempt."""

    def __init__(self, url: str, prefix: str = "fno:sign-in:") -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url)  # (its types are sync and async at once)
        self.prefix = prefix
        self._reserve = self.redis.register_script(_RESERVE)
        self._settle = self.redis.register_script(_SETTLE)

    def reserve(self, keys: Sequence[tuple[str, int]], window: float, now: float) -> bool:
        names = [self.prefix + k for k, _ in keys]
        args = [int(window * 1000), *(limit for _, limit in keys)]
        return bool(self._reserve(keys=names, args=args))

    def settle(self, keys: Sequence[str], *, failed: bool, forget: Sequence[str] = ()) -> None:
        args = ["1" if failed else "0", *("1" if k in forget else "0" for k in keys)]
        self._settle(keys=[self.prefix + k for k in keys], args=args)


class RedisSessionStore:
    """``SessionStore`` in Redis: a key per session expiring with it, and a set of the
    sessions of each subject (to end them all)."""

    def __init__(self, url: str, prefix: str = "fno:web-session:") -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url)  # (its types are sync and async at once)
        self.prefix = prefix

    def _of(self, subject: str) -> str:
        return f"{self.prefix}of:{hashlib.sha256(subject.encode()).hexdigest()}"

    def begin(
        self, session_id: str, subject: str, credential: str | None, expires_at: float
    ) -> None:
        if expires_at <= time.time():
            return  # over already: nothing to keep
        row, of = self.prefix + session_row_id(session_id), self._of(subject)
        value = json.dumps({"subject": subject, "credential": credential, "until": expires_at})
        pipe = self.redis.pipeline()
        pipe.set(row, value, exat=int(expires_at) + 1)
        pipe.sadd(of, row)
        pipe.expireat(of, int(expires_at), gt=True)
        pipe.expireat(of, int(expires_at), nx=True)
        pipe.execute()

    def find(self, session_id: str) -> tuple[str, str | None] | None:
        raw = self.redis.get(self.prefix + session_row_id(session_id))
        if raw is None:  # ended, or expired with its key
            return None
        kept = json.loads(raw)
        if float(kept["until"]) <= time.time():
            return None
        return str(kept["subject"]), kept.get("credential")

    def end(self, session_id: str) -> None:
        found = self.find(session_id)
        row = self.prefix + session_row_id(session_id)
        pipe = self.redis.pipeline()
        pipe.delete(row)
        if found is not None:
            pipe.srem(self._of(found[0]), row)
        pipe.execute()

    def end_all(self, subject: str) -> int:
        of = self._of(subject)
        rows = [r.decode() if isinstance(r, bytes) else str(r) for r in self.redis.smembers(of)]
        ended = int(self.redis.delete(*rows)) if rows else 0
        self.redis.delete(of)
        return ended

    def count(self, subject: str) -> int:
        rows = self.redis.smembers(self._of(subject))
        return sum(1 for r in rows if self.redis.exists(r))
