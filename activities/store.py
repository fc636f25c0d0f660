"""The case store: documents (country replies, certificates) and the access log.

Workflows carry only document IDs (claim check). Destroying a certificate deletes
its content for real — the column is emptied, not flagged — and leaves an access
log entry saying when, by which step and why (Data Protection Act 2018 s.62 asks
for a log of collection, consultation, alteration, disclosure and erasure).

SQLite by default, PostgreSQL by setting ``FNO_DATABASE_URL``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, create_engine, select

AccessAction = Literal[
    "collection", "consultation", "alteration", "disclosure", "combination", "erasure", "decision"
]


def _now() -> datetime:
    return datetime.now(UTC)


class Document(SQLModel, table=True):
    __tablename__ = "document"
    id: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(index=True, max_length=200)
    kind: str = Field(max_length=40)
    country: str | None = Field(default=None, max_length=2)
    purpose: str | None = Field(default=None, max_length=40)
    content: str | None = Field(default=None, description="JSON; NULL once destroyed.")
    received_at: datetime = Field(default_factory=_now)
    destroyed_at: datetime | None = None
    destroyed_by_step: str | None = Field(default=None, max_length=200)
    destruction_reason: str | None = None


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    # One entry per act: a retried step that stands for the same act has the same key.
    act_key: str | None = Field(default=None, unique=True, max_length=300)
    at: datetime = Field(default_factory=_now, index=True)
    actor: str = Field(max_length=120, index=True)
    role: str = Field(max_length=40)
    action: str = Field(max_length=20)
    case_id: str = Field(index=True, max_length=200)
    document_id: str | None = Field(default=None, max_length=200)
    justification: str


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class CaseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine)

    @classmethod
    def from_url(cls, url: str) -> CaseStore:
        return cls(make_engine(url))

    # Documents -------------------------------------------------------------
    def put_document(
        self,
        document_id: str,
        case_id: str,
        kind: str,
        content: dict[str, Any],
        *,
        country: str | None = None,
        purpose: str | None = None,
        actor: str,
        role: str,
        justification: str,
    ) -> bool:
        """Store a document once; returns False when it was already stored."""
        with Session(self.engine) as session:
            if session.get(Document, document_id) is not None:
                return False
            session.add(
                Document(
                    id=document_id,
                    case_id=case_id,
                    kind=kind,
                    country=country,
                    purpose=purpose,
                    content=json.dumps(content, default=str),
                )
            )
            session.add(
                AccessLogEntry(
                    act_key=f"collection:{document_id}",
                    actor=actor,
                    role=role,
                    action="collection",
                    case_id=case_id,
                    document_id=document_id,
                    justification=justification,
                )
            )
            try:
                session.commit()
            except IntegrityError:  # a concurrent attempt stored it first
                session.rollback()
                return False
            return True

    def read_document(
        self, document_id: str, *, actor: str, role: str, justification: str
    ) -> dict[str, Any] | None:
        """The document's content (None once destroyed); the read is logged."""
        if not justification.strip():
            raise PermissionError("state why you are reading this document (a justification)")
        with Session(self.engine) as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise KeyError(f"no document {document_id!r}")
            session.add(
                AccessLogEntry(
                    actor=actor,
                    role=role,
                    action="consultation",
                    case_id=doc.case_id,
                    document_id=document_id,
                    justification=justification,
                )
            )
            session.commit()
            return None if doc.content is None else json.loads(doc.content)

    def destroy_document(self, document_id: str, *, step: str, reason: str, actor: str) -> bool:
        """Delete the content for real; returns False when already destroyed."""
        with Session(self.engine) as session:
            doc = session.get(Document, document_id)
            if doc is None:
                raise KeyError(f"no document {document_id!r}")
            if doc.destroyed_at is not None:
                return False
            doc.content = None
            doc.destroyed_at = _now()
            doc.destroyed_by_step = step
            doc.destruction_reason = reason
            session.add(doc)
            session.add(
                AccessLogEntry(
                    act_key=f"erasure:{document_id}",
                    actor=actor,
                    role="system",
                    action="erasure",
                    case_id=doc.case_id,
                    document_id=document_id,
                    justification=f"{step}: {reason}",
                )
            )
            session.commit()
            return True

    def document(self, document_id: str) -> Document | None:
        """The row as stored, for tests and audits (not logged: no content is disclosed)."""
        with Session(self.engine) as session:
            return session.get(Document, document_id)

    # Access log ------------------------------------------------------------
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
    ) -> bool:
        """Append one entry; with an ``act_key``, a repeat of the same act adds nothing."""
        with Session(self.engine) as session:
            if act_key is not None:
                found = session.exec(
                    select(AccessLogEntry).where(AccessLogEntry.act_key == act_key)
                ).first()
                if found is not None:
                    return False
            session.add(
                AccessLogEntry(
                    act_key=act_key,
                    actor=actor,
                    role=role,
                    action=action,
                    case_id=case_id,
                    document_id=document_id,
                    justification=justification,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def access_log(self, case_id: str) -> list[AccessLogEntry]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(AccessLogEntry)
                .where(AccessLogEntry.case_id == case_id)
                .order_by(AccessLogEntry.id)  # type: ignore[arg-type]
            )
            return list(rows)
