"""The simulated world of notifications out: the PNC's daily activity files, the lossy
transfer that carries them to ACRO, the PNC's re-sends, and the EU states' channel
(ECRIS) that takes notifications and acknowledges them.

- ``DailyFileFactory`` (in ``sim.pnc_files``) writes the PNC's file for a sequence
  number: the same bytes every time (a re-send is identical), realistic records —
  convictions of UK, EU and other nationals (some dual nationals), arrests, charges,
  disposals, and with ``change_rate`` the amendment or deletion of a conviction of an
  earlier file (s.1(7): notified again). Volumes are parameters: the real feed
  carries ~80 convictions of EU nationals a day (75,000 in 2012-19 were a third of
  them, seed 004); tests and the year simulation use fewer.
- ``Transfer`` drops or truncates a delivery with given rates, deterministically
  per (sequence, attempt): the seed's failure is a drop rate of one in three.
- ``NotificationSimulator`` implements ``NotificationChannel`` and ``PncFeed``
  (``activities.notification_gateways``): side effects are rows of the simulator's
  ``sim_effect`` table, once per idempotency key, so tests count them; faults are
  injected before the work or after it (the answer lost), as in ``sim.world``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from activities.gateways import TransientGatewayError
from sim.pnc_files import DailyFileFactory
from sim.tables import SimEffect, record_effect_once

__all__ = ["DailyFileFactory"]  # its home is ``sim.pnc_files``; imported from here too

Delivery = Literal["delivered", "dropped", "truncated"]


# --- the world ------------------------------------------------------------------------
class ChannelFaults(BaseModel):
    rate: float = Field(default=0.0, ge=0, le=1, description="Errors before the work is done.")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="Work done, answer lost.")


class NotificationWorld(BaseModel):
    seed: int = 2019
    ack_mean_days: float = Field(default=0.2, gt=0, description="Mean days to acknowledge.")
    never_ack: list[str] = Field(default_factory=list, description="States that never do.")
    faults: ChannelFaults = Field(default_factory=ChannelFaults)


# --- the channel and the feed -----------------------------------------------------------
class NotificationSimulator:
    """ECRIS and the PNC feed, against the simulator's effect table."""

    def __init__(
        self,
        engine: Engine,
        world: NotificationWorld | None = None,
        *,
        day_seconds: float = 86_400.0,
    ) -> None:
        self.engine = engine
        self.world = world or NotificationWorld()
        self.day_seconds = day_seconds
        self._rng = random.Random(self.world.seed)
        self._lock = threading.Lock()
        self.faults_injected = 0
        SQLModel.metadata.create_all(engine, tables=[SimEffect.__table__])  # type: ignore[attr-defined]

    def _draw(self) -> float:
        with self._lock:
            return self._rng.random()

    def _effect(
        self, key: str, action: str, subject: str, result: str = "", at: datetime | None = None
    ) -> tuple[str, bool]:
        """Do ``action`` once per key; returns (result, done now)."""
        f = self.world.faults
        if f.rate and self._draw() < f.rate:
            self.faults_injected += 1
            raise TransientGatewayError(f"simulated {action} outage")
        effect = SimEffect(
            key=key, system="ecris", action=action, subject_key=subject, result=result, at=at
        )
        result, done_now = record_effect_once(self.engine, effect)
        if not done_now:
            return result, False
        if f.timeout_rate and self._draw() < f.timeout_rate:
            self.faults_injected += 1
            raise TransientGatewayError(f"simulated {action} timeout after the work was done")
        return result, True

    # ECRIS ----------------------------------------------------------------------------
    def send_notification(
        self,
        key: str,
        notification_id: str,
        country: str,
        channel: str,
        message: dict[str, Any],
        as_of: datetime,
    ) -> str:
        ref = "ECRIS-" + hashlib.sha256(key.encode()).hexdigest()[:14].upper()
        return self._effect(key, "notification_sent", notification_id, ref, as_of)[0]

    def fetch_acknowledgement(self, channel_ref: str, as_of: datetime) -> datetime | None:
        f = self.world.faults
        if f.rate and self._draw() < f.rate:
            self.faults_injected += 1
            raise TransientGatewayError("simulated ECRIS inbox outage")
        with Session(self.engine) as session:
            sent = session.exec(
                select(SimEffect).where(
                    SimEffect.action == "notification_sent", SimEffect.result == channel_ref
                )
            ).first()
        if sent is None or sent.at is None:
            return None
        country = sent.subject_key.rsplit("-", 1)[-1]
        if country in self.world.never_ack:
            return None
        r = random.Random(f"{self.world.seed}:{channel_ref}")
        after = min(r.expovariate(1 / self.world.ack_mean_days), 10.0)
        sent_at = sent.at if sent.at.tzinfo else sent.at.replace(tzinfo=UTC)
        acked = sent_at + timedelta(seconds=after * self.day_seconds)
        return acked if as_of >= acked else None

    def send_notification_chaser(
        self, key: str, notification_id: str, channel_ref: str, chaser_number: int
    ) -> None:
        self._effect(key, "notification_chaser_sent", notification_id, channel_ref)

    # The PNC feed ----------------------------------------------------------------------
    def request_file_resend(
        self, key: str, sequence: int, file_date: date | None, why: str
    ) -> None:
        self._effect(key, "daily_file_resend_requested", f"daily-file-{sequence}", str(sequence))

    # Counting (tests, the year simulation) --------------------------------------------------
    def count(self, action: str, subject: str | None = None) -> int:
        with Session(self.engine) as session:
            query = select(func.count()).select_from(SimEffect).where(SimEffect.action == action)
            if subject is not None:
                query = query.where(SimEffect.subject_key == subject)
            return int(session.exec(query).one())

    def per_subject(self, action: str) -> dict[str, int]:
        """How many times ``action`` happened, per notification (or file)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(SimEffect.subject_key, func.count())
                .where(SimEffect.action == action)
                .group_by(col(SimEffect.subject_key))
            )
            return {subject: int(n) for subject, n in rows}

    def resends_requested(self) -> list[tuple[str, int]]:
        """(request key, sequence) of every re-send asked of the PNC."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(SimEffect)
                .where(SimEffect.action == "daily_file_resend_requested")
                .order_by(col(SimEffect.key))
            )
            return [(r.key, int(r.result)) for r in rows]


class Transfer(BaseModel):
    """The transfer from the PNC to ACRO: drops or truncates some deliveries."""

    seed: int = 2019
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    truncate_rate: float = Field(default=0.0, ge=0, le=1)

    def outcome(self, sequence: int, attempt: int) -> Delivery:
        r = random.Random(f"{self.seed}:transfer:{sequence}:{attempt}")
        x = r.random()
        if x < self.drop_rate:
            return "dropped"
        if x < self.drop_rate + self.truncate_rate:
            return "truncated"
        return "delivered"

    def deliver(self, content: bytes, sequence: int, attempt: int) -> bytes | None:
        """What arrives at ACRO: the file, nothing, or its first part."""
        how = self.outcome(sequence, attempt)
        if how == "dropped":
            return None
        if how == "truncated":
            lines = content.splitlines(keepends=True)
            return b"".join(lines[: max(1, len(lines) * 2 // 3)])
        return content
