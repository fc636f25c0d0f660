"""The codec server's consultations in the access log, coalesced (``Consultations``):
the decodes of one person, case and purpose within a window are one entry, its counts
and last time brought up to date as more come; and the window's setting
(``consultation_window``: ``FNO_CODEC_CONSULTATION_WINDOW``). Used by
``api.codec_server``, which re-exports both.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from identity.principal import Principal
from runtime.codec import CodecConfigError
from runtime.logs import get_logger
from store.cases import AccessLogEntry, CaseStore

WINDOW_ENV = "FNO_CODEC_CONSULTATION_WINDOW"
DEFAULT_WINDOW = 600.0  # seconds: one consultation per person, case and purpose
FLUSH_EVERY = 5.0  # seconds: how stale an open consultation's counts may be in the log
MAX_OPEN = 10_000  # open consultations kept in memory (the oldest are closed first)

log = get_logger("fno.codec")

_COUNTS = re.compile(
    r" \(codec server: (\d+) decode\(s\) of (\d+) payload\(s\), first (\S+), last (\S+)\)$"
)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _justification(reason: str, decodes: int, payloads: int, first: str, last: str) -> str:
    return (
        f"{reason} (codec server: {decodes} decode(s) of {payloads} payload(s), "
        f"first {first}, last {last})"
    )


@dataclass
class _Open:
    """A consultation being counted: its entry's key, the window it belongs to, and
    what this process has counted since it last wrote the entry."""

    act_key: str
    window: int
    reason: str
    last: float
    decodes: int = 0  # not written yet
    payloads: int = 0
    written_at: float = 0.0
    timer: asyncio.TimerHandle | None = None


class Consultations:
    """The codec server's consultations in the access log, coalesced: all decodes by one
    person of one case for one purpose within a window (``window`` seconds: the windows
    are fixed, ``floor(time / window)``) are one entry. The first decode writes it at
    once; later ones are counted and the entry's counts and last time brought up to date
    at most every ``flush_every`` seconds (and when the window ends, or the process
    closes it as one of the oldest of more than ``max_open``).

    Several replicas share the entry: its ``act_key`` (a digest of person, case, purpose
    and window: no personal data) is unique in the store, so the first replica's insert
    wins and each adds its own counts to it. ``window`` 0 writes one entry per decode."""

    def __init__(
        self,
        store: CaseStore,
        window: float = DEFAULT_WINDOW,
        *,
        clock: Callable[[], float] = time.time,
        flush_every: float = FLUSH_EVERY,
        max_open: int = MAX_OPEN,
    ) -> None:
        self.store, self.window, self.clock = store, window, clock
        self.flush_every, self.max_open = flush_every, max_open
        self._open: dict[tuple[str, str, str], _Open] = {}

    def record(self, principal: Principal, case_id: str, reason: str, payloads: int) -> None:
        """One decode by ``principal`` that decrypted ``payloads`` payload(s) of
        ``case_id`` for ``reason``."""
        now = self.clock()
        if self.window <= 0:
            self._insert(
                principal, case_id, _justification(reason, 1, payloads, _iso(now), _iso(now))
            )
            return
        who = principal.subject or principal.name
        key = (who, case_id, reason)
        window = int(now // self.window)
        found = self._open.get(key)
        if found is not None and found.window != window:
            self._close(key)
            found = None
        if found is None:
            digest = hashlib.sha256(f"{who}\0{case_id}\0{reason}\0{window}".encode())
            found = _Open(
                act_key=f"codec:{digest.hexdigest()[:48]}", window=window, reason=reason, last=now
            )
            text = _justification(reason, 1, payloads, _iso(now), _iso(now))
            if not self._insert(principal, case_id, text, found.act_key):
                # Another replica (or this one before a restart) opened it: add to it.
                found.decodes, found.payloads = 1, payloads
            found.written_at = now
            self._open[key] = found
            self._bound(window)
        else:
            found.decodes += 1
            found.payloads += payloads
            found.last = now
        if found.decodes:
            if now - found.written_at >= self.flush_every:
                self._write(found)
            else:
                self._later(key, found)

    def flush(self) -> None:
        """Write every count not yet written (at shutdown; tests)."""
        for item in list(self._open.values()):
            self._write(item)

    def _insert(
        self, principal: Principal, case_id: str, text: str, act_key: str | None = None
    ) -> bool:
        return self.store.log(
            actor=principal.name,
            role=principal.role,
            subject=principal.subject,
            action="consultation",
            case_id=case_id,
            justification=text,
            act_key=act_key,
        )

    def _write(self, item: _Open) -> None:
        """Add this process's unwritten counts to the entry (read, add, write: the row
        locked where the database can)."""
        if item.timer is not None:
            item.timer.cancel()
            item.timer = None
        if not item.decodes:
            return
        try:
            with Session(self.store.engine) as session:
                query = select(AccessLogEntry).where(AccessLogEntry.act_key == item.act_key)
                entry = session.exec(query.with_for_update()).first()
                if entry is None:  # never written (refused at insert and since gone)
                    return
                counted = _COUNTS.search(entry.justification)
                if counted:
                    decodes, payloads = int(counted[1]), int(counted[2])
                    first, last = counted[3], max(counted[4], _iso(item.last))
                    reason = entry.justification[: counted.start()]
                else:
                    decodes = payloads = 0
                    first, last, reason = _iso(item.last), _iso(item.last), item.reason
                entry.justification = _justification(
                    reason, decodes + item.decodes, payloads + item.payloads, first, last
                )
                session.add(entry)
                session.commit()
        except SQLAlchemyError as err:  # kept to be written at the next decode or timer
            log.warning("codec consultation counts not written", error=type(err).__name__)
            return
        item.decodes = item.payloads = 0
        item.written_at = self.clock()

    def _later(self, key: tuple[str, str, str], item: _Open) -> None:
        """Write the counts within ``flush_every`` even if no decode follows."""
        if item.timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def due() -> None:
            item.timer = None
            if self._open.get(key) is item:
                self._write(item)

        item.timer = loop.call_later(self.flush_every, due)

    def _close(self, key: tuple[str, str, str]) -> None:
        item = self._open.pop(key, None)
        if item is not None:
            self._write(item)

    def _bound(self, window: int) -> None:
        """Forget the consultations of past windows (written already), then the oldest
        beyond ``max_open``."""
        for key in [k for k, v in self._open.items() if v.window != window]:
            self._close(key)
        while len(self._open) > self.max_open:
            oldest = min(self._open, key=lambda k: self._open[k].last)
            self._close(oldest)


def consultation_window(env: Mapping[str, str]) -> float:
    """``FNO_CODEC_CONSULTATION_WINDOW`` in seconds (default 600; 0 turns coalescing
    off), or ``CodecConfigError`` saying what to set."""
    raw = (env.get(WINDOW_ENV) or "").strip()
    if not raw:
        return DEFAULT_WINDOW
    try:
        window = float(raw)
    except ValueError:
        window = -1.0
    if not math.isfinite(window) or window < 0 or window > 86_400:
        raise CodecConfigError(
            f"{WINDOW_ENV}={raw!r}: set a number of seconds from 0 to 86400 (default 600: "
            "one consultation per person, case and purpose in each 10 minutes)"
        )
    return window
