"""A realistic simulated world: ACRO and the countries, PNC, CID, NBTC, ICE, police,
Home Office correspondence.

Driven by a *world file* (JSON, ``FNO_WORLD_FILE``) that says per subject (by PNC
ID) what each country replies and when, the certificate's purpose, whether the
subject left the UK, whether and when they are located, and which faults to
inject. Subjects not in the file are drawn from the figures in DOMAIN.md with a
seed, so a run is reproducible: ~16.7% of checks return convictions, ~0.84% are
serious; EU replies average ~6 days ("no trace" can come back in minutes),
non-EU replies ~66 days, and some never come.

Time is the caller's: every question carries the workflow's ``as_of``, so a
time-skipping test server or a compressed policy moves the simulated world with
the case. ``day_seconds`` is the length of one simulated day.

Side effects are kept in the database (tables ``sim_*``) keyed by the caller's
idempotency key: a repeated call does nothing new and returns the first answer,
and tests count effects to prove each happened exactly once. Injected *timeouts*
do the work and then fail, as a lost response would, to prove callers are
idempotent.
"""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SqlField
from sqlmodel import Session, SQLModel, select

from activities.gateways import (
    ConvictionRecord,
    CountryReply,
    PermanentGatewayError,
    TransientGatewayError,
)
from models.event import subject_key_for
from models.reference import countries, offences
from runtime.config import LOCAL_SUBJECT_KEY_SECRET

System = Literal["acro", "pnc", "cid", "nbtc", "ice", "police", "correspondence"]


# World file ------------------------------------------------------------------
class ConvictionSpec(BaseModel):
    offence: str
    convicted_on: str | None = None
    sentence: str | None = None
    recordable_on_pnc: bool = True


class ReplySpec(BaseModel):
    """What one country answers about the subject."""

    after_days: float | None = Field(
        default=1, description="Days after the request; null: the country never replies."
    )
    convictions: list[ConvictionSpec] = Field(default_factory=list)
    certificate_purpose: Literal["criminal_proceedings", "immigration_deportation"] = (
        "criminal_proceedings"
    )
    # When ACRO asks again for immigration purposes, the disclosable certificate's delay.
    immigration_certificate_after_days: float | None = 5


class SubjectSpec(BaseModel):
    replies: dict[str, ReplySpec] = Field(default_factory=dict)
    left_uk: bool = False
    departed_on: str | None = None
    located_after_days: float | None = Field(
        default=10, description="Days after ICE tasking; null: never located by ICE."
    )
    refuse: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Permanent refusals: system -> list of actions it refuses for this subject.",
    )


_DEFAULT_FAULTY: tuple[System, ...] = ("acro", "nbtc", "pnc")


class FaultSpec(BaseModel):
    rate: float = Field(default=0.0, ge=0, le=1, description="Errors before the work is done.")
    timeout_rate: float = Field(
        default=0.0, ge=0, le=1, description="Work done, then the answer is lost."
    )
    systems: list[System] = Field(default_factory=lambda: list(_DEFAULT_FAULTY))


class WorldFile(BaseModel):
    seed: int = 2017
    faults: FaultSpec = Field(default_factory=FaultSpec)
    subjects: dict[str, SubjectSpec] = Field(
        default_factory=dict, description="By PNC ID, e.g. '17/123456A'."
    )

    @classmethod
    def load(cls, path: Path) -> WorldFile:
        try:
            return cls.model_validate_json(path.read_text("utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"world file {path} not found (FNO_WORLD_FILE)") from None


def pnc_subject_key(pnc_id: str, secret: str) -> str:
    """The subject key of a PNC ID, as ``Subject.subject_key`` computes it."""
    return subject_key_for(f"pnc:{pnc_id}", secret)


# Tables ----------------------------------------------------------------------
class SimEffect(SQLModel, table=True):
    __tablename__ = "sim_effect"
    key: str = SqlField(primary_key=True, max_length=400)
    system: str = SqlField(index=True, max_length=20)
    action: str = SqlField(index=True, max_length=60)
    subject_key: str = SqlField(index=True, max_length=40)
    result: str = SqlField(default="")
    at: datetime | None = None


class SimCertificate(SQLModel, table=True):
    """What the country sent; content emptied for real when the certificate is destroyed."""

    __tablename__ = "sim_certificate"
    request_ref: str = SqlField(primary_key=True, max_length=200)
    subject_key: str = SqlField(index=True, max_length=40)
    country: str = SqlField(max_length=2)
    purpose: str = SqlField(max_length=40)
    requested_at: datetime
    content: str | None = None
    destroyed: bool = False


# The simulator ---------------------------------------------------------------
def record_effect_once(engine: Engine, effect: SimEffect) -> tuple[str, bool]:
    """Record a simulated side effect once per key: (its result, whether it was done
    now). A repeat, or a concurrent attempt that got there first, gets the first result."""
    key, result = effect.key, effect.result  # read before the commit expires the row
    with Session(engine) as session:
        found = session.get(SimEffect, key)
        if found is not None:
            return found.result, False
        session.add(effect)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            again = session.get(SimEffect, key)
            return (again.result if again else result), False
    return result, True


class Simulator:
    """Implements every gateway of ``activities.gateways`` against a simulated world."""

    def __init__(
        self,
        engine: Engine,
        world: WorldFile | None = None,
        *,
        day_seconds: float = 86_400.0,
        subject_key_secret: str = LOCAL_SUBJECT_KEY_SECRET,
    ) -> None:
        self.engine = engine
        self.world = world or WorldFile()
        self.day_seconds = day_seconds
        self._subjects = {
            pnc_subject_key(k, subject_key_secret): v for k, v in self.world.subjects.items()
        }
        self._fault_rng = random.Random(self.world.seed)
        self._lock = threading.Lock()
        self.faults_injected = 0
        # The simulated world keeps its own tables (not the product's, not migrated).
        own_tables = [SimEffect.__table__, SimCertificate.__table__]  # type: ignore[attr-defined]
        SQLModel.metadata.create_all(engine, tables=own_tables)

    # --- world ---------------------------------------------------------------
    def subject(self, subject_key: str) -> SubjectSpec:
        """The subject from the world file, or one drawn from the published figures."""
        spec = self._subjects.get(subject_key)
        if spec is None:
            spec = self._generate(subject_key)
            self._subjects[subject_key] = spec
        return spec

    def _generate(self, subject_key: str) -> SubjectSpec:
        rng = random.Random(f"{self.world.seed}:{subject_key}")
        serious = [o.code for o in offences().values() if o.serious]
        minor = [o.code for o in offences().values() if not o.serious]
        replies: dict[str, ReplySpec] = {}
        for code, country in countries().items():
            r = random.Random(f"{self.world.seed}:{subject_key}:{code}")
            convicted = r.random() < 0.167  # 575 of 3,442 checks (seed 000)
            is_serious = convicted and r.random() < 0.05  # 29 of 575
            convictions: list[ConvictionSpec] = []
            if convicted:
                pool = serious if is_serious else minor
                for _ in range(r.randint(1, 3)):
                    convictions.append(
                        ConvictionSpec(
                            offence=r.choice(pool),
                            convicted_on=f"{r.randint(1995, 2016)}-{r.randint(1, 12):02d}-15",
                            sentence=r.choice(["fine", "suspended sentence", "2 years", "5 years"]),
                            recordable_on_pnc=r.random() < 0.9,
                        )
                    )
            if country.eu:
                if not convicted and r.random() < 0.4:
                    after: float | None = r.uniform(2, 50) / 1440  # minutes
                else:
                    after = min(r.expovariate(1 / 6), 40)  # mean ~6 days
            elif r.random() < 0.15:
                after = None  # no duty to reply
            else:
                after = r.expovariate(1 / 66)  # mean ~66 days
            replies[code] = ReplySpec(
                after_days=after,
                convictions=convictions,
                certificate_purpose=r.choice(["criminal_proceedings", "immigration_deportation"]),
                immigration_certificate_after_days=r.uniform(1, 20),
            )
        roll = rng.random()
        located = rng.uniform(1, 25) if roll < 0.7 else rng.uniform(60, 900) if roll < 0.9 else None
        return SubjectSpec(replies=replies, left_uk=rng.random() < 0.25, located_after_days=located)

    def _days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    # --- faults and effects ---------------------------------------------------
    def _maybe_fail_before(self, system: System) -> None:
        f = self.world.faults
        if system in f.systems and f.rate and self._draw() < f.rate:
            self.faults_injected += 1
            raise TransientGatewayError(f"simulated {system} outage")

    def _maybe_lose_answer(self, system: System) -> None:
        f = self.world.faults
        if system in f.systems and f.timeout_rate and self._draw() < f.timeout_rate:
            self.faults_injected += 1
            raise TransientGatewayError(f"simulated {system} timeout after the work was done")

    def _draw(self) -> float:
        with self._lock:  # activities run on several threads
            return self._fault_rng.random()

    def _refused(self, system: System, action: str, subject_key: str) -> None:
        if action in self.subject(subject_key).refuse.get(system, []):
            raise PermanentGatewayError(f"{system} refused {action} for this subject")

    def _effect(
        self,
        key: str,
        system: System,
        action: str,
        subject_key: str,
        result: str = "",
        at: datetime | None = None,
    ) -> tuple[str, bool]:
        """Record a side effect once per key; returns (result, done_now)."""
        self._maybe_fail_before(system)
        self._refused(system, action, subject_key)
        effect = SimEffect(
            key=key, system=system, action=action, subject_key=subject_key, result=result, at=at
        )
        result, done_now = record_effect_once(self.engine, effect)
        if done_now:
            self._maybe_lose_answer(system)
        return result, done_now

    def count(self, action: str, subject_key: str | None = None) -> int:
        """How many times an action happened (for tests and the chaos check)."""
        with Session(self.engine) as session:
            query = select(func.count()).select_from(SimEffect).where(SimEffect.action == action)
            if subject_key is not None:
                query = query.where(SimEffect.subject_key == subject_key)
            return int(session.exec(query).one())

    # --- ACRO and the countries -----------------------------------------------
    def request_check(
        self,
        key: str,
        case_id: str,
        subject_key: str,
        country: str,
        purpose: str,
        as_of: datetime,
        details: dict[str, Any],
    ) -> str:
        ref = "ACRO-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
        with Session(self.engine) as session:
            if session.get(SimCertificate, ref) is None:
                session.add(
                    SimCertificate(
                        request_ref=ref,
                        subject_key=subject_key,
                        country=country,
                        purpose=purpose,
                        requested_at=as_of,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
        self._effect(key, "acro", f"check_requested:{purpose}", subject_key, ref, as_of)
        return ref

    def fetch_reply(self, request_ref: str, as_of: datetime) -> CountryReply | None:
        self._maybe_fail_before("acro")
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            if req is None:
                raise PermanentGatewayError(f"ACRO knows no request {request_ref}")
            if req.destroyed:
                return None
            spec = self.subject(req.subject_key).replies.get(req.country, ReplySpec())
            after = (
                spec.after_days
                if req.purpose == "criminal_proceedings"
                else spec.immigration_certificate_after_days
            )
            if after is None:
                return None
            requested_at = _aware(req.requested_at, as_of)
            replied_at = requested_at + self._days(after)
            if as_of < replied_at:
                return None
            if req.content is None:
                purpose = (
                    spec.certificate_purpose
                    if req.purpose == "criminal_proceedings"
                    else "immigration_deportation"
                )
                reply = CountryReply(
                    request_ref=request_ref,
                    country=req.country,
                    purpose=purpose,
                    replied_at=replied_at,
                    convictions=[
                        ConvictionRecord(
                            offence=c.offence,
                            description=offences()[c.offence].description,
                            convicted_on=c.convicted_on,
                            sentence=c.sentence,
                            recordable_on_pnc=c.recordable_on_pnc,
                            court=f"court of {countries()[req.country].name}",
                        )
                        for c in spec.convictions
                    ],
                    text=(
                        "No trace."
                        if not spec.convictions
                        else f"{len(spec.convictions)} conviction(s) recorded."
                    ),
                )
                req.content = reply.model_dump_json()
                session.add(req)
                session.commit()
            return CountryReply.model_validate_json(req.content)

    def send_chaser(self, key: str, request_ref: str, chaser_number: int) -> None:
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            subject_key = req.subject_key if req else ""
        self._effect(key, "acro", "chaser_sent", subject_key)

    def destroy_certificate(self, request_ref: str) -> None:
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            if req is not None and not req.destroyed:
                req.content = None
                req.destroyed = True
                session.add(req)
                session.commit()

    def certificate_content(self, request_ref: str) -> str | None:
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            return None if req is None else req.content

    def advise_deportation_not_pursued(self, key: str, subject_key: str) -> None:
        self._effect(key, "acro", "advised_deportation_not_pursued", subject_key)

    # --- police -----------------------------------------------------------------
    def request_identity_data(
        self, key: str, subject_key: str, officer_email: str, fields: list[str]
    ) -> None:
        self._effect(key, "police", "identity_data_requested", subject_key, ",".join(fields))

    def contact_investigating_officer(self, key: str, case_id: str, subject_key: str) -> None:
        self._effect(key, "police", "investigating_officer_contacted", subject_key)

    # --- PNC ----------------------------------------------------------------------
    def record_convictions(
        self, key: str, subject_key: str, pnc_id: str | None, offences_: list[str]
    ) -> int:
        for i, code in enumerate(offences_):
            self._effect(f"{key}:{i}", "pnc", "conviction_recorded", subject_key, code)
        return len(offences_)

    def offences_on_record(self, subject_key: str, offences_: list[str]) -> bool:
        self._maybe_fail_before("pnc")
        with Session(self.engine) as session:
            recorded = {
                e.result
                for e in session.exec(
                    select(SimEffect).where(
                        SimEffect.subject_key == subject_key,
                        SimEffect.action == "conviction_recorded",
                    )
                )
            }
        return all(code in recorded for code in offences_)

    def request_pnc_check(self, key: str, subject_key: str) -> str:
        return self._effect(key, "pnc", "pnc_check_requested", subject_key, "PNC print")[0]

    def add_wanted_marker(self, key: str, subject_key: str) -> str:
        ref = "ICD5079-" + hashlib.sha256(key.encode()).hexdigest()[:8].upper()
        return self._effect(key, "pnc", "wanted_marker_added", subject_key, ref)[0]

    def remove_wanted_marker(self, key: str, subject_key: str) -> None:
        self._effect(key, "pnc", "wanted_marker_removed", subject_key)

    def wanted_marker_on(self, subject_key: str) -> bool:
        return self.count("wanted_marker_added", subject_key) > self.count(
            "wanted_marker_removed", subject_key
        )

    # --- CID ------------------------------------------------------------------------
    def create_case(
        self, key: str, subject_key: str, nationality: str, offences_: list[str]
    ) -> tuple[str, bool]:
        # One CID record per subject, whatever the key: the record is the person's.
        ref = "CID-" + subject_key[:10].upper()
        _, created = self._effect(
            f"cid-record:{subject_key}", "cid", "cid_record_created", subject_key, ref
        )
        self._effect(key, "cid", "case_details_recorded", subject_key, ",".join(offences_))
        return ref, created

    def add_calendar_event(self, key: str, cid_ref: str, event: str, status: str) -> None:
        subject_key = self._subject_of_cid(cid_ref)
        self._effect(key, "cid", "calendar_event", subject_key, f"{event} [{status}]")

    def _subject_of_cid(self, cid_ref: str) -> str:
        with Session(self.engine) as session:
            row = session.exec(
                select(SimEffect).where(
                    SimEffect.action == "cid_record_created", SimEffect.result == cid_ref
                )
            ).first()
            return row.subject_key if row else ""

    def add_note(self, key: str, subject_key: str, text: str) -> None:
        self._effect(key, "cid", "cid_note", subject_key, text)

    def record_outcome(self, key: str, subject_key: str, outcome: str) -> None:
        self._effect(key, "cid", "cid_outcome", subject_key, outcome)

    def create_paper_file(self, key: str, subject_key: str) -> str:
        ref = "HO-" + hashlib.sha256(key.encode()).hexdigest()[:8].upper()
        return self._effect(key, "cid", "paper_file_created", subject_key, ref)[0]

    # --- NBTC -----------------------------------------------------------------------
    def departure_check(self, subject_key: str, as_of: datetime) -> tuple[bool, str | None]:
        self._maybe_fail_before("nbtc")
        spec = self.subject(subject_key)
        return spec.left_uk, spec.departed_on

    # --- ICE ------------------------------------------------------------------------
    def task_to_locate(self, key: str, subject_key: str, as_of: datetime) -> str:
        ref = "ICE-" + hashlib.sha256(key.encode()).hexdigest()[:10].upper()
        return self._effect(key, "ice", "tasked_to_locate", subject_key, ref, as_of)[0]

    def tasking_status(self, tasking_ref: str, as_of: datetime) -> str:
        self._maybe_fail_before("ice")
        with Session(self.engine) as session:
            row = session.exec(
                select(SimEffect).where(
                    SimEffect.action == "tasked_to_locate", SimEffect.result == tasking_ref
                )
            ).first()
        if row is None or row.at is None:
            raise PermanentGatewayError(f"ICE knows no tasking {tasking_ref}")
        after = self.subject(row.subject_key).located_after_days
        if after is not None and as_of >= _aware(row.at, as_of) + self._days(after):
            return "located"
        return "pending"

    def request_detention(self, key: str, subject_key: str) -> str:
        return self._effect(key, "ice", "asked_to_detain", subject_key, "ICE detention")[0]

    # --- correspondence ---------------------------------------------------------------
    def serve_notice(self, key: str, subject_key: str, notice: str, response_days: int) -> str:
        return self._effect(key, "correspondence", "notice_served", subject_key, notice)[0]

    def submit_to_director(self, key: str, subject_key: str) -> str:
        return self._effect(key, "correspondence", "director_submission", subject_key, "sent")[0]

    def refer_to_removals_casework(self, key: str, subject_key: str) -> str:
        return self._effect(key, "correspondence", "removals_referral", subject_key, "sent")[0]

    def notify(self, key: str, subject_key: str, recipients: list[str], subject_line: str) -> None:
        for r in recipients:
            self._effect(f"{key}:{r}", "correspondence", "notified", subject_key, r)


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite returns naive datetimes; compare in the caller's time zone."""
    if moment.tzinfo is None and like.tzinfo is not None:
        return moment.replace(tzinfo=like.tzinfo)
    return moment


def load_world(path: Path | None, seed: int | None = None) -> WorldFile:
    """The world file, or an empty world; ``seed`` (FNO_SIM_SEED) draws the subjects
    not in the file, unless the file names its own seed."""
    world = WorldFile.load(path) if path else WorldFile()
    if seed is not None and "seed" not in world.model_fields_set:
        world.seed = seed
    return world
