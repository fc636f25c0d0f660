"""The simulated world of notifications out: the PNC's daily activity files, the lossy
transfer that carries them to ACRO, the PNC's re-sends, and the EU states' channel
(ECRIS) that takes notifications and acknowledges them.

- ``DailyFileFactory`` writes the PNC's file for a sequence number: the same bytes
  every time (a re-send is identical), realistic records — convictions of UK, EU and
  other nationals (some dual nationals), arrests, charges, disposals. Volumes are
  parameters: the real feed carries ~80 convictions of EU nationals a day (75,000 in
  2012-19 were a third of them, seed 004); tests and the year simulation use fewer.
- ``Transfer`` drops or truncates a delivery with given rates, deterministically
  per (sequence, attempt): the seed's failure is a drop rate of one in three.
- ``NotificationSimulator`` implements ``NotificationChannel`` and ``PncFeed``
  (``activities.notification_gateways``): side effects are rows of the simulator's
  ``sim_effect`` table, once per idempotency key, so tests count them; faults are
  injected before the work or after it (the answer lost), as in ``sim.world``.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, col, select

from activities.gateways import TransientGatewayError
from models.notification import notification_countries
from sim.tables import SimEffect, record_effect_once

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


# --- the PNC's files ----------------------------------------------------------------------
FAMILY = {
    "PL": ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowska"],
    "RO": ["Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Gheorghe"],
    "LT": ["Kazlauskas", "Jankauskas", "Petrauskas", "Stankevičius"],
    "IT": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi"],
    "PT": ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira"],
    "BG": ["Ivanov", "Georgiev", "Dimitrov", "Petrova"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber"],
    "IE": ["Murphy", "Kelly", "O'Sullivan", "Walsh", "Byrne"],
    "ES": ["García", "Fernández", "González", "Rodríguez"],
    "LV": ["Bērziņš", "Kalniņš", "Ozoliņš"],
    "HU": ["Nagy", "Kovács", "Tóth", "Szabó"],
    "SK": ["Horváth", "Kováč", "Varga"],
    "NL": ["de Jong", "Jansen", "de Vries", "Bakker"],
    "GB": ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans"],
    "AL": ["Hoxha", "Shehu", "Dervishi"],
    "NG": ["Okafor", "Adeyemi", "Okonkwo"],
    "IN": ["Patel", "Sharma", "Singh"],
    "PK": ["Khan", "Hussain", "Ahmed"],
}
GIVEN = (
    "Adam Maria Andrei Ioana Tomas Giulia João Elena Piotr Anna Luca Sofia Mihai Ana Jonas Lea "
    "Sean Aoife Carlos Eva"
).split()
# Share of convictions of EU nationals by state, roughly as foreign nationals in E&W prisons.
EU_WEIGHTS = {
    "PL": 22,
    "RO": 20,
    "LT": 9,
    "IT": 6,
    "PT": 6,
    "IE": 8,
    "BG": 5,
    "FR": 4,
    "DE": 4,
    "ES": 4,
    "LV": 4,
    "HU": 3,
    "SK": 3,
    "NL": 2,
}
OTHER_NATIONALS = ["AL", "NG", "IN", "PK"]
FORCES = ["hampshire", "kent", "met", "derbyshire", "west-midlands", "gmp", "thames-valley"]
COURTS = [
    "Winchester Crown Court",
    "Southampton Magistrates' Court",
    "Maidstone Crown Court",
    "Westminster Magistrates' Court",
    "Derby Crown Court",
    "Birmingham Crown Court",
    "Manchester Magistrates' Court",
    "Reading Crown Court",
]
OFFENCES = [
    ("Theft from a shop", "TH68010"),
    ("Burglary dwelling", "TH68034"),
    ("Assault occasioning actual bodily harm", "OF61047"),
    ("Possession with intent to supply class A", "MD71236"),
    ("Driving with excess alcohol", "RT88508"),
    ("Fraud by false representation", "FR06001"),
    ("Robbery", "TH68001"),
    ("Wounding with intent", "OF61014"),
    ("Sexual assault", "SX03006"),
    ("Possession of an offensive weapon", "CJ88116"),
]
SENTENCES = [
    "Fine £400",
    "Community order 12 months",
    "12 weeks' imprisonment suspended",
    "18 months' imprisonment",
    "4 years' imprisonment",
    "Conditional discharge",
]
OTHER_KINDS = ["arrest", "charge", "summons", "disposal", "amendment"]


class DailyFileFactory(BaseModel):
    """The PNC's daily activity files: file ``sequence`` holds the activity of
    ``first_date + (sequence - first_sequence)`` days."""

    seed: int = 2019
    first_sequence: int = 1
    first_date: date
    eu_convictions_per_day: float = Field(default=3.0, ge=0)
    other_convictions_per_day: float = Field(default=6.0, ge=0)
    other_records_per_day: float = Field(default=10.0, ge=0)
    dual_share: float = Field(default=0.1, ge=0, le=1, description="EU nationals with two.")

    def file_date(self, sequence: int) -> date:
        return self.first_date + timedelta(days=sequence - self.first_sequence)

    def sequence_for(self, day: date) -> int:
        return self.first_sequence + (day - self.first_date).days

    def records(self, sequence: int) -> list[dict[str, Any]]:
        r = random.Random(f"{self.seed}:{sequence}")
        day = self.file_date(sequence)
        eu = list(EU_WEIGHTS)
        weights = list(EU_WEIGHTS.values())
        out: list[dict[str, Any]] = []
        n_eu = _poisson(r, self.eu_convictions_per_day)
        n_other = _poisson(r, self.other_convictions_per_day)
        for i in range(n_eu + n_other):
            if i < n_eu:
                first = r.choices(eu, weights)[0]
                nats = [first]
                if r.random() < self.dual_share:
                    # A dual national: another EU state, or British as well.
                    second = r.choice([c for c in eu if c != first] + ["GB", "GB"])
                    nats.append(second)
            else:
                nats = [r.choice(["GB"] * 6 + OTHER_NATIONALS)]
            out.append(self._conviction(r, sequence, day, nats))
        for _ in range(_poisson(r, self.other_records_per_day)):
            out.append({"record_type": r.choice(OTHER_KINDS)})
        r.shuffle(out)
        for i, rec in enumerate(out, start=1):
            rec["record_id"] = f"{sequence}-{i:06d}"
        return out

    def _conviction(
        self, r: random.Random, sequence: int, day: date, nats: list[str]
    ) -> dict[str, Any]:
        yy = day.year % 100
        recorded = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(
            minutes=r.randint(0, 10 * 60)
        )
        offences = []
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            desc, code = r.choice(OFFENCES)
            offences.append(
                {
                    "description": desc,
                    "code": code,
                    "offence_date": (day - timedelta(days=r.randint(20, 300))).isoformat(),
                    "sentence": r.choice(SENTENCES),
                }
            )
        return {
            "record_type": "conviction",
            "pnc_id": f"{yy:02d}/{r.randint(1, 9_999_999)}{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}",
            "conviction_ref": f"{yy:02d}01{r.choice(['HC', 'KE', 'MP', 'DB', 'WM'])}01"
            f"{r.randint(0, 10**11 - 1):011d}{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}",
            "force": r.choice(FORCES),
            "family_name": r.choice(FAMILY.get(nats[0], FAMILY["GB"])),
            "given_names": r.choice(GIVEN),
            "date_of_birth": date(
                r.randint(1960, 2004), r.randint(1, 12), r.randint(1, 28)
            ).isoformat(),
            "place_of_birth": None,
            "nationalities": nats,
            "court": r.choice(COURTS),
            "convicted_on": (day - timedelta(days=r.choice([0, 0, 0, 1, 2]))).isoformat(),
            "recorded_at": recorded.isoformat().replace("+00:00", "Z"),
            "offences": offences,
        }

    def file(self, sequence: int) -> bytes:
        """The whole file, header first (JSON Lines)."""
        records = self.records(sequence)
        day = self.file_date(sequence)
        header = {
            "record_type": "header",
            "format": "pnc-daily-activity",
            "format_version": 1,
            "sequence": sequence,
            "file_date": day.isoformat(),
            "record_count": len(records),
            "produced_at": f"{(day + timedelta(days=1)).isoformat()}T02:00:00Z",
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [json.dumps(rec, ensure_ascii=False) for rec in records]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def notifications_in(self, sequence: int) -> int:
        """How many notifications the file's convictions call for (dual nationals: two)."""
        return sum(
            len(notification_countries(rec["nationalities"]))
            for rec in self.records(sequence)
            if rec["record_type"] == "conviction"
        )

    def eu_convictions_in(self, sequence: int) -> int:
        return sum(
            1
            for rec in self.records(sequence)
            if rec["record_type"] == "conviction" and notification_countries(rec["nationalities"])
        )


def _poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; means here are small)."""
    if mean <= 0:
        return 0
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1


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
