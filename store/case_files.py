"""Staff notes and attachments of a case, in the case store (issue 21): never in the
workflow, which carries only an attachment's ID (claim check: a decision, a
representation or the submission names it).

- A **note**: a caseworker's words on the case — who wrote it (name, stable identity,
  role), when, the text.
- An **attachment**: a document staff add — its ID ``att-<32 hex>``, its kind
  (``ATTACHMENT_KINDS``: representations, a police form, the submission, other), file
  name, media type (``MEDIA_TYPES``: PDF, PNG, JPEG, plain text), size (at most
  ``MAX_ATTACHMENT_BYTES``), SHA-256 and its bytes; who added it, when.

Every write is logged in the access log as a *collection*, every read as a
*consultation* with its purpose (``CaseFilesStore``: one entry per act, in the act's
own transaction). ``destroy_case_files`` erases the case's notes' text and the
attachments' bytes for real, with one *erasure* entry, as certificates are destroyed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, Engine, LargeBinary
from sqlmodel import Field, Session, SQLModel, select

from store.access_log import commit_once
from store.case_tables import AccessLogEntry, utc_now

ATTACHMENT_KINDS = ("representations", "police_form", "submission", "other")
MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg", "text/plain")
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_NOTE_CHARS = 4000
ATTACHMENT_ID_PREFIX = "att-"


class CaseNote(SQLModel, table=True):
    __tablename__ = "case_note"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=200)
    author: str = Field(max_length=120)
    author_id: str = Field(max_length=300)
    role: str = Field(max_length=40)
    text: str | None = Field(default=None, description="NULL once destroyed.")
    at: datetime = Field(default_factory=utc_now)


class CaseAttachment(SQLModel, table=True):
    __tablename__ = "case_attachment"
    id: str = Field(primary_key=True, max_length=40)
    case_id: str = Field(index=True, max_length=200)
    kind: str = Field(max_length=40)
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes | None = Field(
        default=None,
        sa_column=Column(LargeBinary, nullable=True),
        description="NULL once destroyed.",
    )
    by: str = Field(max_length=120)
    by_id: str = Field(max_length=300)
    role: str = Field(max_length=40)
    at: datetime = Field(default_factory=utc_now)
    destroyed_at: datetime | None = None


class AttachmentInfo(BaseModel):
    """An attachment described (what lists and the case page show): never its bytes."""

    id: str
    case_id: str
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    by: str
    role: str
    at: datetime
    destroyed: bool

    @classmethod
    def of(cls, row: CaseAttachment) -> AttachmentInfo:
        return cls(
            **row.model_dump(include=set(cls.model_fields) - {"destroyed"}),
            destroyed=row.content is None,
        )


class NoteInfo(BaseModel):
    """A note as it is shown: who wrote it (name, role), when, the text."""

    id: int
    author: str
    role: str
    at: datetime
    text: str | None

    @classmethod
    def of(cls, row: CaseNote) -> NoteInfo:
        return cls(id=row.id or 0, author=row.author, role=row.role, at=row.at, text=row.text)


class AttachmentRefused(ValueError):
    """An attachment not taken: too large, empty, a kind or media type not allowed."""


@dataclass(frozen=True)
class Staff:
    """Who writes or reads (the proven person): name, stable identity, role."""

    name: str
    subject: str
    role: str


def is_attachment_id(value: str) -> bool:
    rest = value.removeprefix(ATTACHMENT_ID_PREFIX)
    return (
        value.startswith(ATTACHMENT_ID_PREFIX)
        and len(rest) == 32
        and all(c in "0123456789abcdef" for c in rest)
    )


def check_attachment(kind: str, filename: str, media_type: str, size: int) -> None:
    if kind not in ATTACHMENT_KINDS:
        raise AttachmentRefused(f"kind {kind!r} is not one of: {', '.join(ATTACHMENT_KINDS)}")
    if media_type not in MEDIA_TYPES:
        raise AttachmentRefused(
            f"media type {media_type!r} is not allowed (allowed: {', '.join(MEDIA_TYPES)})"
        )
    if size <= 0:
        raise AttachmentRefused("the attachment is empty")
    if size > MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused(
            f"the attachment is {size} bytes; the limit is {MAX_ATTACHMENT_BYTES} bytes"
        )
    if not filename.strip() or len(filename) > 200 or any(c in filename for c in "/\\\0"):
        raise AttachmentRefused("give a file name of at most 200 characters, without a path")


class CaseFilesStore:
    """Notes and attachments: the part of ``CaseStore`` over its ``engine``."""

    engine: Engine

    def add_note(self, case_id: str, text: str, *, by: Staff) -> CaseNote:
        text = text.strip()
        if not text or len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note is 1 to {MAX_NOTE_CHARS} characters")
        note = CaseNote(case_id=case_id, author=by.name, author_id=by.subject, role=by.role)
        note.text = text
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(note)
            session.add(_entry(by, "collection", case_id, "staff note added"))
            session.commit()
            return note

    def notes(self, case_id: str, *, by: Staff, purpose: str) -> list[CaseNote]:
        """The case's notes, oldest first; the read is logged with its purpose."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(
                session.exec(
                    select(CaseNote).where(CaseNote.case_id == case_id).order_by(CaseNote.id)  # type: ignore[arg-type]
                )
            )
            session.add(_entry(by, "consultation", case_id, f"staff notes: {purpose}"))
            session.commit()
            return rows

    def add_attachment(
        self,
        case_id: str,
        *,
        kind: str,
        filename: str,
        media_type: str,
        content: bytes,
        by: Staff,
    ) -> CaseAttachment:
        check_attachment(kind, filename, media_type, len(content))
        row = CaseAttachment(
            id=f"{ATTACHMENT_ID_PREFIX}{uuid.uuid4().hex}",
            case_id=case_id,
            kind=kind,
            filename=filename,
            media_type=media_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            by=by.name,
            by_id=by.subject,
            role=by.role,
        )
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.add(
                _entry(by, "collection", case_id, f"attachment ({kind}) added", document_id=row.id)
            )
            if not commit_once(session):
                raise AttachmentRefused("the attachment could not be stored: send it again")
            return row

    def attachments(self, case_id: str) -> list[AttachmentInfo]:
        """The case's attachments described, without their bytes (not logged: nothing of
        their content is disclosed; they are listed with a read of the case, logged)."""
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(
                select(CaseAttachment)
                .where(CaseAttachment.case_id == case_id)
                .order_by(CaseAttachment.at)  # type: ignore[arg-type]
            ).all()
            return [AttachmentInfo.of(r) for r in rows]

    def read_attachment(
        self, case_id: str, attachment_id: str, *, by: Staff, purpose: str
    ) -> CaseAttachment:
        """The attachment with its bytes (None once destroyed); the read is logged.
        ``KeyError`` when the case has no such attachment."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(CaseAttachment, attachment_id)
            if row is None or row.case_id != case_id:
                raise KeyError(f"case {case_id!r} has no attachment {attachment_id!r}")
            session.add(
                _entry(by, "consultation", case_id, f"attachment: {purpose}", document_id=row.id)
            )
            session.commit()
            return row

    def destroy_case_files(self, case_id: str, *, step: str, reason: str, actor: str) -> int:
        """Erase the case's notes' text and attachments' bytes; how many were erased."""
        erased = 0
        with Session(self.engine, expire_on_commit=False) as session:
            for note in session.exec(select(CaseNote).where(CaseNote.case_id == case_id)):
                if note.text is not None:
                    note.text, erased = None, erased + 1
                    session.add(note)
            for att in session.exec(
                select(CaseAttachment).where(CaseAttachment.case_id == case_id)
            ):
                if att.content is not None:
                    att.content, att.destroyed_at, erased = None, utc_now(), erased + 1
                    session.add(att)
            if erased:
                session.add(
                    AccessLogEntry(
                        actor=actor,
                        role="system",
                        action="erasure",
                        case_id=case_id,
                        justification=f"{step}: {reason} (notes and attachments)",
                    )
                )
            session.commit()
        return erased


def _entry(
    by: Staff, action: str, case_id: str, justification: str, document_id: str | None = None
) -> AccessLogEntry:
    return AccessLogEntry(
        actor=by.name,
        role=by.role,
        subject=by.subject,
        action=action,
        case_id=case_id,
        document_id=document_id,
        justification=justification,
    )
