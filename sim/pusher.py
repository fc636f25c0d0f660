"""The world service's pusher: each country reply delivered to the product when its
time comes, in the world's clock (the wall clock; a simulated day is ``day_seconds``).

Each request ACRO holds (``sim_certificate``) gets a ``sim_push`` row when it is made
(``Pusher.track``, called by the service after ``request_check``; a scan every
``rescan_every`` seconds finds any other, e.g. one made before a crash), keeping when
its reply is due (``Simulator.reply_due_at``), and what became of it. A due reply
(``Simulator.reply_as_of``: the same JSON as ``fetch_reply``, ``reply_id`` =
``f"{request_ref}/reply"``) is POSTed to the product's inbound route
(``PushConfig.url``, e.g. ``{FNO_REPLIES_URL}/integrations/acro/replies``) with
``Authorization: Bearer <credential>`` and ``Idempotency-Key: <reply_id>``:

- 2xx: ``pushed`` (the product's ``status`` kept; an effect ``reply_pushed`` counted
  once per reply in ``sim_effect``);
- 429, 408, 5xx, a timeout or no connection: tried again after a backoff (doubling
  from ``backoff_first``, at least the answer's ``Retry-After``, at most
  ``backoff_max``), for as long as it takes;
- any other 4xx: ``refused``, logged with its status code, not tried again;
- dropped by the run-time faults (``WireFaults.drop_replies`` / ``drop_rate``):
  ``dropped`` — marked pushed, never sent (an effect ``reply_dropped``), for the
  product's safety net to find with ``fetch_reply``.

The row is marked only after the product's answer, so a service killed mid-push sends
that reply again when restarted (at least once; the product is idempotent on
``reply_id``), and never loses one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from activities.gateways import CountryReply
from sim.tables import SimCertificate, SimEffect, SimPush, record_effect_once
from sim.wire_faults import WireFaults
from sim.world import Simulator

log = structlog.get_logger("fno.world.pusher")
RETRY_CODES = {408, 425, 429}


@dataclass
class PushConfig:
    url: str  # the product's inbound route, in full
    credential: str | None = None
    interval: float = 0.2  # seconds between looks for due replies
    backoff_first: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 10.0
    concurrency: int = 8
    batch: int = 200
    rescan_every: float = 5.0  # seconds between looks for requests not tracked
    verify: bool | str = True


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """In UTC (the database's columns want a time zone; SQLite keeps none)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class Pusher:
    def __init__(
        self,
        sim: Simulator,
        config: PushConfig,
        faults: Callable[[], WireFaults],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sim = sim
        self.config = config
        self.faults = faults
        self.clock = clock
        self._rng = random.Random(sim.world.seed)

    # --- the database (sync; run in a thread) -------------------------------------------
    def scan(self) -> int:
        """A ``sim_push`` row for each request not yet seen (made by another process on
        the same database, or before a crash); how many were new."""
        with Session(self.sim.engine) as session:
            seen = select(SimPush.request_ref)
            new = session.exec(
                select(SimCertificate.request_ref).where(
                    col(SimCertificate.request_ref).not_in(seen)
                )
            ).all()
        for ref in new:
            self.track(ref)
        return len(new)

    def track(self, ref: str) -> None:
        """Keep the request's push row (the service calls it after ``request_check``)."""
        due = self.sim.reply_due_at(ref, self.clock())
        row = SimPush(
            request_ref=ref,
            reply_id=f"{ref}/reply",
            state="never" if due is None else "waiting",
            due_at=None if due is None else _utc(due),
            next_at=None if due is None else _utc(due),
        )
        with Session(self.sim.engine) as session:
            if session.get(SimPush, ref) is None:
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:  # the loop's scan got there first
                    session.rollback()

    def due(self) -> list[str]:
        now = _utc(self.clock())
        with Session(self.sim.engine) as session:
            return list(
                session.exec(
                    select(SimPush.request_ref)
                    .where(SimPush.state == "waiting", col(SimPush.next_at) <= now)
                    .order_by(col(SimPush.next_at))
                    .limit(self.config.batch)
                ).all()
            )

    def _mark(self, ref: str, **values: object) -> None:
        with Session(self.sim.engine) as session:
            row = session.get(SimPush, ref)
            if row is None:
                return
            for name, value in values.items():
                setattr(row, name, value)
            if values.get("state") not in (None, "waiting"):
                row.done_at = _utc(self.clock())
            session.add(row)
            session.commit()

    def _count_once(self, action: str, ref: str, result: str = "") -> None:
        with Session(self.sim.engine) as session:
            req = session.get(SimCertificate, ref)
            subject_key = req.subject_key if req else ""
        record_effect_once(
            self.sim.engine,
            SimEffect(
                key=f"{action}:{ref}",
                system="acro",
                action=action,
                subject_key=subject_key,
                result=result,
                at=_utc(self.clock()),
            ),
        )

    def _retry_later(self, ref: str, code: int | None, retry_after: float = 0.0) -> None:
        with Session(self.sim.engine) as session:
            row = session.get(SimPush, ref)
            if row is None:
                return
            row.attempts += 1
            row.last_code = code
            backoff = self.config.backoff_first * 2 ** (row.attempts - 1)
            wait = min(max(backoff, retry_after), self.config.backoff_max)
            row.next_at = _utc(self.clock() + timedelta(seconds=wait))
            session.add(row)
            session.commit()

    def _sent(self, ref: str, code: int, status: str) -> None:
        with Session(self.sim.engine) as session:
            row = session.get(SimPush, ref)
            if row is None:
                return
            row.sends += 1
            row.last_code = code
            row.status = status[:40]
            row.state = "pushed"
            row.done_at = _utc(self.clock())
            session.add(row)
            session.commit()
        self._count_once("reply_pushed", ref, status[:40])

    # --- pushing ---------------------------------------------------------------------------
    async def push_one(self, client: httpx.AsyncClient, ref: str) -> None:
        reply: CountryReply | None = await asyncio.to_thread(
            self.sim.reply_as_of, ref, self.clock()
        )
        if reply is None:
            await asyncio.to_thread(self._mark, ref, state="destroyed")
            return
        faults = self.faults()
        if faults.drop_replies or (faults.drop_rate and self._rng.random() < faults.drop_rate):
            await asyncio.to_thread(self._mark, ref, state="dropped")
            await asyncio.to_thread(self._count_once, "reply_dropped", ref)
            log.info("reply dropped", reply_id=reply.reply_id)
            return
        headers = {"Idempotency-Key": reply.reply_id}
        if self.config.credential:
            headers["Authorization"] = f"Bearer {self.config.credential}"
        try:
            answer = await client.post(
                self.config.url, content=reply.model_dump_json(), headers=headers
            )
        except httpx.HTTPError as err:
            log.info(
                "reply push failed; will retry", reply_id=reply.reply_id, error=type(err).__name__
            )
            await asyncio.to_thread(self._retry_later, ref, None)
            return
        code = answer.status_code
        if 200 <= code < 300:
            status = _status_of(answer)
            await asyncio.to_thread(self._sent, ref, code, status)
            log.info("reply pushed", reply_id=reply.reply_id, status=status)
        elif code in RETRY_CODES or code >= 500:
            log.info("reply push refused for now; will retry", reply_id=reply.reply_id, code=code)
            await asyncio.to_thread(self._retry_later, ref, code, _retry_after(answer))
        else:
            log.warning("reply push refused; not retried", reply_id=reply.reply_id, code=code)
            await asyncio.to_thread(self._mark, ref, state="refused", last_code=code)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: look for new requests and due replies; push them."""
        limits = httpx.Limits(max_connections=self.config.concurrency)
        async with httpx.AsyncClient(
            timeout=self.config.timeout, limits=limits, verify=self.config.verify
        ) as client:
            gate = asyncio.Semaphore(self.config.concurrency)

            async def one(ref: str) -> None:
                async with gate:
                    try:
                        await self.push_one(client, ref)
                    except Exception as err:  # never let one reply stop the loop
                        log.error("reply push error", error_type=type(err).__name__)

            scanned = 0.0
            while not stop.is_set():
                try:
                    if time.monotonic() - scanned >= self.config.rescan_every:
                        await asyncio.to_thread(self.scan)
                        scanned = time.monotonic()
                    refs = await asyncio.to_thread(self.due)
                    if refs:
                        await asyncio.gather(*(one(r) for r in refs))
                except Exception as err:
                    log.error("pusher loop error", error_type=type(err).__name__)
                try:
                    await asyncio.wait_for(stop.wait(), self.config.interval)
                except TimeoutError:
                    pass


def _retry_after(answer: httpx.Response) -> float:
    """The answer's ``Retry-After`` in seconds (0: none, or a date: not honoured)."""
    try:
        return max(0.0, float(answer.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def _status_of(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("status", "")) if isinstance(body, dict) else ""
