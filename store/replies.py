"""Replies pushed in (issue 22, migration 0008): which case asked ACRO what, and each
reply ACRO delivered, keyed on ACRO's own reply ID.

``acro_request``: one row per ACRO request (its reference, the workflow that asked, the
country and purpose, when asked; when a reply to it was delivered). The inbound route
finds the case from it (no visibility query) and the safety net lists the outstanding
ones from it. ``acro_reply``: one row per reply received (its ID, the request, the
workflow, what became of it: delivered, kept_unknown, kept_closed; when received and
delivered). Neither holds anything of the reply's content: the certificate is a
document (``store.case_tables.Document``) like any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Field, Session, SQLModel, col, select

from store.access_log import commit_once
from store.case_tables import Document, utc_now

ReplyStatus = str  # "delivered" | "kept_unknown" | "kept_closed"
KEPT = ("kept_unknown", "kept_closed")
IN_CHUNK = 500  # request references per IN (...) list: within every driver's limits


class AcroRequest(SQLModel, table=True):
    __tablename__ = "acro_request"
    request_ref: str = Field(primary_key=True, max_length=80)
    workflow_id: str = Field(index=True, max_length=200)
    country: str = Field(max_length=2)
    purpose: str = Field(max_length=40)
    requested_at: datetime = Field(index=True)
    replied_at: datetime | None = Field(default=None, index=True)


class AcroReply(SQLModel, table=True):
    __tablename__ = "acro_reply"
    reply_id: str = Field(primary_key=True, max_length=120)
    request_ref: str = Field(index=True, max_length=80)
    workflow_id: str | None = Field(default=None, max_length=200)
    status: str = Field(index=True, max_length=20)
    received_at: datetime = Field(default_factory=utc_now)
    delivered_at: datetime | None = None


class RepliesStore:
    """The part of ``CaseStore`` over ``acro_request`` and ``acro_reply`` (its ``engine``)."""

    engine: Engine

    def record_acro_request(
        self,
        request_ref: str,
        *,
        workflow_id: str,
        country: str,
        purpose: str,
        requested_at: datetime,
    ) -> bool:
        """Which workflow asked ``request_ref``, once (a repeat changes nothing)."""
        with Session(self.engine) as session:
            if session.get(AcroRequest, request_ref) is not None:
                return False
            session.add(
                AcroRequest(
                    request_ref=request_ref,
                    workflow_id=workflow_id,
                    country=country,
                    purpose=purpose,
                    requested_at=requested_at,
                )
            )
            return commit_once(session)

    def acro_request(self, request_ref: str) -> AcroRequest | None:
        with Session(self.engine) as session:
            return session.get(AcroRequest, request_ref)

    def acro_request_refs(self) -> list[str]:
        """Every request recorded (tests; a small table's worth)."""
        with Session(self.engine) as session:
            return list(session.exec(select(AcroRequest.request_ref)).all())

    def acro_reply(self, reply_id: str) -> AcroReply | None:
        with Session(self.engine) as session:
            return session.get(AcroReply, reply_id)

    def receive_acro_reply(self, reply_id: str, request_ref: str, workflow_id: str | None) -> bool:
        """The reply's row, once: False when ``reply_id`` was received before."""
        with Session(self.engine) as session:
            if session.get(AcroReply, reply_id) is not None:
                return False
            session.add(
                AcroReply(
                    reply_id=reply_id,
                    request_ref=request_ref,
                    workflow_id=workflow_id,
                    status="received",
                )
            )
            return commit_once(session)

    def claim_kept_reply(self, reply_id: str, workflow_id: str, document_id: str) -> bool:
        """A reply kept because its request was not known yet (``kept_unknown``: it came
        before the request's row was written, e.g. the request's answer was lost with a
        worker) made deliverable to ``workflow_id``: the row back to ``received``, its
        certificate moved to that case. False when there is no such reply."""
        with Session(self.engine) as session:
            row = session.get(AcroReply, reply_id)
            if row is None or row.status != "kept_unknown":
                return False
            row.status, row.workflow_id = "received", workflow_id
            session.add(row)
            document = session.get(Document, document_id)
            if document is not None:
                document.case_id = workflow_id
                session.add(document)
            session.commit()
            return True

    def kept_unknown_replies(self, request_ref: str) -> list[str]:
        """The IDs of replies to ``request_ref`` kept as to an unknown request."""
        with Session(self.engine) as session:
            query = (
                select(AcroReply.reply_id)
                .where(AcroReply.request_ref == request_ref)
                .where(AcroReply.status == "kept_unknown")
            )
            return list(session.exec(query).all())

    def settle_acro_reply(self, reply_id: str, status: ReplyStatus, at: datetime) -> None:
        """What became of the reply; a delivered one marks its request replied."""
        with Session(self.engine) as session:
            row = session.get(AcroReply, reply_id)
            if row is None:
                raise KeyError(f"no reply {reply_id!r}")
            row.status = status
            if status == "delivered":
                row.delivered_at = at
            session.add(row)
            request = session.get(AcroRequest, row.request_ref)
            # kept_closed too (nobody waits for it any more); never kept_unknown: its
            # request's row may have been written meanwhile, and it is still owed.
            if request is not None and request.replied_at is None and status != "kept_unknown":
                request.replied_at = at
                session.add(request)
            session.commit()

    def count_outstanding_acro_requests(
        self, *, requested_before: datetime, requested_after: datetime
    ) -> int:
        """How many requests asked between the two moments have no reply delivered."""
        with Session(self.engine) as session:
            query = self._outstanding(
                select(func.count()).select_from(AcroRequest), requested_before, requested_after
            )
            return int(session.exec(query).one())

    def unreplied_among(
        self, request_refs: list[str], *, requested_before: datetime, requested_after: datetime
    ) -> list[str]:
        """Those of ``request_refs`` (the requests ACRO says it answered) whose reply never
        reached their case, asked between the two moments, oldest first. The safety net
        starts from ACRO's list, not from the outstanding requests: requests a country
        never answers (there are thousands in a national year) cannot crowd out the
        answered ones."""
        found: list[tuple[datetime, str]] = []
        with Session(self.engine) as session:
            for i in range(0, len(request_refs), IN_CHUNK):
                chunk = request_refs[i : i + IN_CHUNK]
                query = self._outstanding(
                    select(AcroRequest.requested_at, AcroRequest.request_ref),
                    requested_before,
                    requested_after,
                ).where(col(AcroRequest.request_ref).in_(chunk))
                found.extend((at, ref) for at, ref in session.exec(query).all())
        return [ref for _, ref in sorted(found)]

    @staticmethod
    def _outstanding(query: Any, before: datetime, after: datetime) -> Any:
        return (
            query.where(col(AcroRequest.replied_at).is_(None))
            .where(col(AcroRequest.requested_at) < before)
            .where(col(AcroRequest.requested_at) >= after)
        )

    def kept_acro_replies(self, limit: int = 200) -> list[AcroReply]:
        """Replies kept for nobody (an unknown request, a closed case), newest first."""
        with Session(self.engine) as session:
            query = (
                select(AcroReply)
                .where(col(AcroReply.status).in_(KEPT))
                .order_by(col(AcroReply.received_at).desc())
                .limit(limit)
            )
            return list(session.exec(query).all())
