"""A realistic simulated world: ACRO and the countries, PNC, CID, NBTC, ICE, police,
Home Office correspondence. Driven by a *world file* (``sim.world_file``): per subject
what each country replies and when, whether they left the UK or are located, and which
faults to inject; subjects not in the file are drawn from the published figures with a
seed. Time is the caller's (every question carries the workflow's ``as_of``): a
time-skipping server or a compressed policy moves the world with the case;
``day_seconds`` is a day. Side effects are kept in tables ``sim_*`` (``sim.tables``)
keyed by the caller's idempotency key: a repeat does nothing new and returns the first
answer; tests count effects. Injected *timeouts* do the work and then fail, as a lost
response would. Replies are ``sim.replies``'s; the world as its own HTTP service is
``sim.service``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from activities.gateways import (
    PermanentGatewayError,
    TransientGatewayError,
)
from runtime.config import local_subject_key_secret
from sim.further_details import FurtherDetailsSimulator
from sim.notices import NoticesSimulator
from sim.pnc_print import ChecklistSimulator
from sim.replies import RepliesSimulator
from sim.tables import SimCertificate, SimEffect, record_effect_once
from sim.world_file import (
    SubjectSpec,
    System,
    WorldFile,
    generate_subject,
    pnc_subject_key,
)


class Simulator(RepliesSimulator, FurtherDetailsSimulator, NoticesSimulator, ChecklistSimulator):
    """Implements every gateway of ``activities.gateways`` against a simulated world."""

    def __init__(
        self,
        engine: Engine,
        world: WorldFile | None = None,
        *,
        day_seconds: float = 86_400.0,
        subject_key_secret: str | None = None,
    ) -> None:
        # Left out: the local one, in local mode only (tests).
        if subject_key_secret is None:
            subject_key_secret = local_subject_key_secret()
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
            spec = generate_subject(self.world.seed, subject_key)
            self._subjects[subject_key] = spec
        return spec

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

    def send_chaser(self, key: str, request_ref: str, chaser_number: int) -> None:
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            subject_key = req.subject_key if req else ""
        self._effect(key, "acro", "chaser_sent", subject_key)

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

    def remove_wanted_marker(self, key: str, subject_key: str) -> str:
        ref = "ICD5080-" + hashlib.sha256(key.encode()).hexdigest()[:8].upper()
        return self._effect(key, "pnc", "wanted_marker_removed", subject_key, ref)[0]

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
        # issue 20 (h4): each check counted (``nbtc_checked``), once per case and moment.
        record_effect_once(
            self.engine,
            SimEffect(
                key=f"nbtc/{subject_key}/{as_of.isoformat()}",
                system="nbtc",
                action="nbtc_checked",
                subject_key=subject_key,
                result="left_uk" if spec.left_uk else "in_uk",
                at=as_of,
            ),
        )
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
        spec = self.subject(row.subject_key)
        tasked = _aware(row.at, as_of)
        after = spec.located_after_days
        if after is not None and as_of >= tasked + self._days(after):
            return "located"
        unable = spec.unable_to_locate_after_days  # issue 20 (h4)
        if unable is not None and as_of >= tasked + self._days(unable):
            return "unable_to_locate"
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
