"""Rate limits per proven caller: how many requests one person (by their stable
``subject``) may make in a window, decisions tighter than reads, so that a stolen or
scripted token cannot flood the cases (a refused decision costs a case nothing in its
history now, but each still asks Temporal and the case store) nor the workers.

The counting is the ``limits`` library's (the engine under slowapi), a moving window,
in memory by default (one API process) or in Redis for several API replicas sharing
their counts. Settings (environment):

    FNO_RATE_LIMIT_STORAGE    memory:// (default), or redis://127.0.0.1:6379 (…/0, rediss://…)
    FNO_RATE_LIMIT_READS      a person's requests of any route    (default 300/minute;5000/hour)
    FNO_RATE_LIMIT_DECISIONS  a person's decisions, on top of it  (default 20/minute;200/hour)
    FNO_RATE_LIMIT_SYSTEMS    a system credential's requests      (default none: the
                              integrations' volume is theirs, limited at the proxy)

A limit is written as ``limits`` parses it: ``N/second|minute|hour|day``, several joined
by ``;``; ``none`` (or ``off``) for no limit. A storage that does not answer (Redis
down) lets the request through and says so in the log: the limits guard the service,
they are not who may do what (that is ``access.policy``).

    limits = RateLimits.from_env(os.environ)
    limits.hit(Scope.READ, principal.subject)   # raises RateLimited(retry_after, ...)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from runtime.logs import get_logger

log = get_logger("fno.access")

STORAGE_VAR = "FNO_RATE_LIMIT_STORAGE"
DEFAULT_STORAGE = "memory://"


class Scope(Enum):
    """What is counted: ``value`` is the environment variable's suffix."""

    READ = "READS"
    DECISION = "DECISIONS"
    SYSTEM = "SYSTEMS"


DEFAULTS: dict[Scope, str] = {
    Scope.READ: "300/minute;5000/hour",
    Scope.DECISION: "20/minute;200/hour",
    Scope.SYSTEM: "none",
}
_WHAT = {Scope.READ: "requests", Scope.DECISION: "decisions", Scope.SYSTEM: "requests"}
_OFF = {"", "none", "off", "0"}


class RateLimitConfigError(ValueError):
    """A setting ``limits`` cannot read, naming the variable and what to write."""


class RateLimited(Exception):
    """Too many requests of ``scope`` from one caller: send again in ``retry_after``
    seconds (at least 1). ``detail`` says so in words."""

    def __init__(self, scope: Scope, limit: RateLimitItem, retry_after: int) -> None:
        self.scope, self.limit, self.retry_after = scope, limit, retry_after
        self.detail = (
            f"Too many {_WHAT[scope]}: you may send {limit.amount} per "
            f"{_window(limit)}. Wait {retry_after} s, then send it again "
            "(the Retry-After header says the same)."
        )
        super().__init__(self.detail)


def _window(limit: RateLimitItem) -> str:
    unit = limit.GRANULARITY.name
    return unit if limit.multiples == 1 else f"{limit.multiples} {unit}s"


def parse_limits(text: str, variable: str) -> list[RateLimitItem]:
    """The limits of one setting, or none for ``none``/``off``."""
    if text.strip().lower() in _OFF:
        return []
    try:
        return list(parse_many(text))
    except ValueError:
        raise RateLimitConfigError(
            f"{variable}={text!r} is not a rate limit: write for example 20/minute, or "
            "20/minute;200/hour, or none"
        ) from None


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0][:20] if "://" in uri else "none"


@dataclass
class RateLimits:
    """The limits of each scope over one storage (see the module's docstring)."""

    storage_uri: str = DEFAULT_STORAGE
    limits: dict[Scope, list[RateLimitItem]] = field(default_factory=dict)
    _limiter: MovingWindowRateLimiter = field(init=False, repr=False)
    _storage: Storage = field(init=False, repr=False)
    _quiet_until: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        # A Redis that does not answer holds no request for long (see ``hit``).
        options = (
            {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
            if self.storage_uri.startswith(("redis://", "rediss://", "redis+unix://"))
            else {}
        )
        try:
            storage = storage_from_string(self.storage_uri, **options)
        except (ConfigurationError, ValueError):
            # Only the scheme is repeated: the URL may carry a password.
            raise RateLimitConfigError(
                f"{STORAGE_VAR} (scheme {_scheme(self.storage_uri)!r}) cannot be used: write "
                "memory:// or redis://HOST:PORT"
            ) from None
        if not isinstance(storage, Storage):  # an async storage (async+redis://)
            raise RateLimitConfigError(
                f"{STORAGE_VAR} (scheme {_scheme(self.storage_uri)!r}): write memory:// or "
                "redis://HOST:PORT"
            )
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        """The limits the environment sets (defaults for what it leaves out); raises
        ``RateLimitConfigError`` naming a setting it cannot read."""
        limits = {
            scope: parse_limits(
                env.get(f"FNO_RATE_LIMIT_{scope.value}", default), f"FNO_RATE_LIMIT_{scope.value}"
            )
            for scope, default in DEFAULTS.items()
        }
        storage = env.get(STORAGE_VAR, "").strip() or DEFAULT_STORAGE
        return cls(storage_uri=storage, limits=limits)

    def hit(self, scope: Scope, who: str) -> None:
        """Count one request of ``scope`` by ``who`` (a subject); raises ``RateLimited``
        when one of the scope's limits is reached (the request is not counted then)."""
        items = self.limits.get(scope, [])
        if not items:
            return
        try:
            for item in items:  # a refused hit is not counted in its own window
                if not self._limiter.hit(item, scope.value, who):
                    raise RateLimited(scope, item, self._retry_after(item, scope, who))
        except RateLimited:
            raise
        except Exception as err:  # the storage did not answer: let the request through
            now = time.monotonic()
            if now >= self._quiet_until:  # say so at most once a minute
                self._quiet_until = now + 60
                log.warning(
                    "rate limit storage unavailable: requests not limited",
                    storage=self.storage_uri.split("://", 1)[0],
                    error=type(err).__name__,
                )

    def _retry_after(self, item: RateLimitItem, scope: Scope, who: str) -> int:
        stats = self._limiter.get_window_stats(item, scope.value, who)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def reset(self) -> None:
        """Forget every count (tests; an operator lifting a block)."""
        self._storage.reset()


# One ``RateLimits`` per configuration in this process, so the doors (the HTTP API, the
# web app) in one process count together.
_shared: dict[tuple[str | None, ...], RateLimits] = {}
_lock = threading.Lock()
VARIABLES = (STORAGE_VAR, *(f"FNO_RATE_LIMIT_{s.value}" for s in Scope))


def shared(env: Mapping[str, str]) -> RateLimits:
    """The process's ``RateLimits`` for the configuration ``env`` sets (made once)."""
    key = tuple(env.get(v) for v in VARIABLES)
    found = _shared.get(key)
    if found is None:
        with _lock:
            found = _shared.get(key) or _shared.setdefault(key, RateLimits.from_env(env))
    return found
