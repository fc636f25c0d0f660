"""The simulated countries' replies as ACRO passes them on (a part of
``sim.world.Simulator``): when a reply comes (``reply_due_at``: the request's time plus
the world file's ``ReplySpec.after_days``, or ``immigration_certificate_after_days``
for a certificate asked for immigration purposes), its content (``fetch_reply``, kept
in ``sim_certificate`` once made, with ``reply_id`` = ``f"{request_ref}/reply"``), and
the certificate destroyed.

``reply_as_of`` is ``fetch_reply`` without the world file's injected faults: the world
service's pusher (``sim.pusher``) reads the reply it pushes with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from activities.gateways import ConvictionRecord, CountryReply, PermanentGatewayError
from models.reference import countries
from sim.further_details import described
from sim.tables import SimCertificate
from sim.world_file import ReplySpec, SubjectSpec, System


class RepliesSimulator:
    """Replies and certificates; the rest of the world is ``sim.world.Simulator``."""

    engine: Engine

    def subject(self, subject_key: str) -> SubjectSpec:
        raise NotImplementedError

    def _days(self, n: float) -> timedelta:
        raise NotImplementedError

    def _maybe_fail_before(self, system: System) -> None:
        raise NotImplementedError

    def fetch_reply(self, request_ref: str, as_of: datetime) -> CountryReply | None:
        self._maybe_fail_before("acro")
        return self.reply_as_of(request_ref, as_of)

    def replies_sent(self, since: datetime, until: datetime) -> list[str]:
        """The requests whose replies came in ``[since, until)`` (ACRO's log of replies
        passed on; a reply the world then dropped is in it)."""
        self._maybe_fail_before("acro")
        with Session(self.engine) as session:
            rows = list(session.exec(select(SimCertificate)))
        sent = []
        for req in rows:
            replied_at = None if req.destroyed else self._replied_at(req, until)
            if replied_at is not None and since <= replied_at < until:
                sent.append(req.request_ref)
        return sorted(sent)

    def reply_as_of(self, request_ref: str, as_of: datetime) -> CountryReply | None:
        """The reply if it has come by ``as_of`` (no injected faults)."""
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            if req is None:
                raise PermanentGatewayError(f"ACRO knows no request {request_ref}")
            if req.destroyed:
                return None
            replied_at = self._replied_at(req, as_of)
            if replied_at is None or as_of < replied_at:
                return None
            if req.content is None:
                req.content = self._reply(req, replied_at).model_dump_json()
                session.add(req)
                session.commit()
            return CountryReply.model_validate_json(req.content)

    def _reply(self, req: SimCertificate, replied_at: datetime) -> CountryReply:
        spec = self.subject(req.subject_key).replies.get(req.country, ReplySpec())
        purpose = (
            spec.certificate_purpose
            if req.purpose == "criminal_proceedings"
            else "immigration_deportation"
        )
        return CountryReply(
            reply_id=f"{req.request_ref}/reply",
            request_ref=req.request_ref,
            country=req.country,
            purpose=purpose,
            replied_at=replied_at,
            convictions=[
                ConvictionRecord(
                    offence=c.offence,
                    description=described(c.offence, c.description),
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

    def _replied_at(self, req: SimCertificate, as_of: datetime) -> datetime | None:
        spec = self.subject(req.subject_key).replies.get(req.country, ReplySpec())
        after = (
            spec.after_days
            if req.purpose == "criminal_proceedings"
            else spec.immigration_certificate_after_days
        )
        if after is None:
            return None
        return aware(req.requested_at, as_of) + self._days(after)

    def reply_due_at(self, request_ref: str, as_of: datetime) -> datetime | None:
        """When the reply to ``request_ref`` comes (None: never, unknown or destroyed)."""
        with Session(self.engine) as session:
            req = session.get(SimCertificate, request_ref)
            if req is None or req.destroyed:
                return None
            return self._replied_at(req, as_of)

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


def aware(moment: datetime, like: datetime) -> datetime:
    """SQLite returns naive datetimes; compare in the caller's time zone."""
    if moment.tzinfo is None and like.tzinfo is not None:
        return moment.replace(tzinfo=like.tzinfo)
    return moment
