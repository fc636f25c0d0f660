"""The simulated countries' further details of a reply (issue 20, h2): ACRO asks a
country for the nature of the offences of a reply (the Romanian seed case), and the
country answers after the world file's ``ReplySpec.further_details_after_days`` with
each conviction's sentence (``ConvictionSpec.sentence``, else ``sentence_on_request``).

A part of ``sim.world.Simulator``; its effects are kept as the rest are (``sim_effect``,
once per idempotency key).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities.gateways import (
    ConvictionDetail,
    FurtherDetails,
    PermanentGatewayError,
)
from models.reference import bundled_offences
from sim.tables import SimCertificate, SimEffect
from sim.world_file import ReplySpec, SubjectSpec, System


class FurtherDetailsSimulator:
    """Further details of a reply; the rest of the world is ``sim.world.Simulator``."""

    engine: Engine

    def subject(self, subject_key: str) -> SubjectSpec:
        raise NotImplementedError

    def _days(self, n: float) -> timedelta:
        raise NotImplementedError

    def _maybe_fail_before(self, system: System) -> None:
        raise NotImplementedError

    def _effect(
        self,
        key: str,
        system: System,
        action: str,
        subject_key: str,
        result: str = "",
        at: datetime | None = None,
    ) -> tuple[str, bool]:
        raise NotImplementedError

    def request_further_details(self, key: str, request_ref: str, as_of: datetime) -> str:
        """Once per key: the reference of the request (the reply's own, suffixed)."""
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            if req is None:
                raise PermanentGatewayError(f"ACRO knows no request {request_ref}")
            subject_key = req.subject_key
        ref = f"{request_ref}-FD"
        return self._effect(key, "acro", "further_details_requested", subject_key, ref, as_of)[0]

    def fetch_further_details(self, details_ref: str, as_of: datetime) -> FurtherDetails | None:
        """The country's supplement once its delay has passed since the first request."""
        self._maybe_fail_before("acro")
        request_ref = details_ref.removesuffix("-FD")
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            asked = session.exec(
                select(SimEffect)
                .where(
                    SimEffect.action == "further_details_requested",
                    SimEffect.result == details_ref,
                )
                .order_by(col(SimEffect.at))
            ).first()
        if req is None or asked is None or asked.at is None:
            raise PermanentGatewayError(f"ACRO knows no further-details request {details_ref}")
        spec = self.subject(req.subject_key).replies.get(req.country, ReplySpec())
        if spec.further_details_after_days is None:
            return None
        replied_at = _aware(asked.at, as_of) + self._days(spec.further_details_after_days)
        if as_of < replied_at:
            return None
        return FurtherDetails(
            details_ref=details_ref,
            request_ref=request_ref,
            country=req.country,
            replied_at=replied_at,
            convictions=[
                ConvictionDetail(
                    offence=c.offence,
                    convicted_on=c.convicted_on,
                    sentence=c.sentence or c.sentence_on_request,
                    nature=c.nature,
                )
                for c in spec.convictions
            ],
            text=f"Further details of {len(spec.convictions)} conviction(s).",
        )

    def send_further_details_chaser(self, key: str, details_ref: str, chaser_number: int) -> None:
        with Session(self.engine) as session:
            req = session.get(SimCertificate, details_ref.removesuffix("-FD"))
            subject_key = req.subject_key if req else ""
        self._effect(key, "acro", "further_details_chaser_sent", subject_key)


def described(code: str, description: str | None) -> str:
    """An offence in words: the world file's, the bundled table's, or the code's."""
    if description:
        return description
    known = bundled_offences().get(code)
    return known.description if known else code.replace("_", " ").capitalize()


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite returns naive datetimes; compare in the caller's time zone."""
    if moment.tzinfo is None and like.tzinfo is not None:
        return moment.replace(tzinfo=like.tzinfo)
    return moment
