"""The case store's access log (``AccessLogEntry``): appending an entry, once per act
with an ``act_key``, and reading a case's entries or an actor's. ``CaseStore`` has these
methods (``store.cases``); its other acts add their entries in their own transaction,
committed once (``commit_once``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from store.case_tables import AccessLogEntry

AccessAction = Literal[
    "collection", "consultation", "alteration", "disclosure", "combination", "erasure", "decision"
]


def commit_once(session: Session) -> bool:
    """Commit, or roll back and answer False when a unique key (an act's ``act_key``, a
    row's primary key) says a concurrent attempt did it first."""
    try:
        session.commit()
    except IntegrityError:  # a concurrent attempt did it first
        session.rollback()
        return False
    return True


class AccessLogStore:
    """The access log's part of ``CaseStore`` (over its ``engine``)."""

    engine: Engine

    def log(
        self,
        *,
        actor: str,
        role: str,
        action: AccessAction,
        case_id: str,
        justification: str,
        act_key: str | None = None,
        document_id: str | None = None,
        subject: str | None = None,
    ) -> bool:
        """Append one entry; with an ``act_key``, a repeat of the same act adds nothing
        (the key is unique: the repeat's insert is refused and rolled back). ``subject``:
        the proven person's stable identity, beside the ``actor``'s name."""
        with Session(self.engine) as session:
            session.add(
                AccessLogEntry(
                    act_key=act_key,
                    actor=actor,
                    role=role,
                    subject=subject,
                    action=action,
                    case_id=case_id,
                    document_id=document_id,
                    justification=justification,
                )
            )
            return commit_once(session)

    def access_log(
        self,
        case_id: str | None = None,
        *,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AccessLogEntry]:
        """Entries for a case, or by an actor (their name or subject) since a time,
        oldest first."""
        query = select(AccessLogEntry)
        if case_id is not None:
            query = query.where(AccessLogEntry.case_id == case_id)
        if actor is not None:
            query = query.where(
                or_(AccessLogEntry.actor == actor, AccessLogEntry.subject == actor)  # type: ignore[arg-type]
            )
        if since is not None:
            query = query.where(AccessLogEntry.at >= since)
        query = query.order_by(AccessLogEntry.id).limit(limit)  # type: ignore[arg-type]
        with Session(self.engine) as session:
            return list(session.exec(query))
