"""The case store: the system of record beside Temporal.

It holds the record of each encounter, the case record per subject (the CID record
of DOMAIN.md step 6: case details, overseas convictions, calendar events, outcome),
the documents (country replies, certificates), the access log and the refusal log (the
decisions a case refused: kept here, never in the case's Temporal history, the newest
``REFUSALS_KEPT`` per case and a count of all). It outlives
Temporal's retention of closed cases. The schema is managed by Alembic
(``store/migrations/``, ``store.migrate``).

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

from sqlalchemy import Engine, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from store.engine import make_engine
from store.migrate import require_current, upgrade

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


class EncounterRecord(SQLModel, table=True):
    """One row per custody event (no names here: the subject is in the documents)."""

    __tablename__ = "encounter_record"
    case_id: str = Field(primary_key=True, max_length=200)
    force: str = Field(max_length=40, index=True)
    custody_reference: str = Field(max_length=40)
    reason: str = Field(max_length=20)
    nationality: str = Field(max_length=2, index=True)
    subject_key: str = Field(max_length=40, index=True)
    opened_at: datetime
    outcome: str | None = Field(default=None, max_length=200)
    closed_at: datetime | None = None


class SubjectCase(SQLModel, table=True):
    """The case record per subject (CID): details, convictions, calendar, outcome."""

    __tablename__ = "subject_case"
    subject_key: str = Field(primary_key=True, max_length=40)
    casework_id: str = Field(max_length=200, index=True)
    cid_ref: str | None = Field(default=None, max_length=40)
    nationality: str = Field(max_length=2)
    encounter_ids: str = Field(default="[]", description="JSON list")
    overseas_convictions: str = Field(default="[]", description="JSON list of offence codes")
    calendar_events: str = Field(default="[]", description="JSON list of {event, status, at}")
    outcome: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(default_factory=_now)


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    # One entry per act: a retried step that stands for the same act has the same key.
    act_key: str | None = Field(default=None, unique=True, max_length=300)
    at: datetime = Field(default_factory=_now, index=True)
    actor: str = Field(max_length=120, index=True)
    role: str = Field(max_length=40)
    # The proven person's stable identity (``Principal.subject``): None before issue 18.
    subject: str | None = Field(default=None, max_length=300, index=True)
    action: str = Field(max_length=20)
    case_id: str = Field(index=True, max_length=200)
    document_id: str | None = Field(default=None, max_length=200)
    justification: str


class RefusalEntry(SQLModel, table=True):
    """A decision a case refused: who tried (name, role, stable subject), which kind,
    the case's reason (a code and the case's words) and when. Not the person's own
    stated reason: a refusal records that the case said no, and why."""

    __tablename__ = "decision_refusal"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=200)
    at: datetime = Field(default_factory=_now)
    kind: str = Field(max_length=60)
    actor: str = Field(max_length=120)
    role: str = Field(max_length=40)
    subject: str | None = Field(default=None, max_length=300)
    code: str = Field(max_length=60)
    reason: str = Field(max_length=2000)


class RefusalTally(SQLModel, table=True):
    """How many refusals a case has had in all, and since when: the log keeps only the
    newest of them (``CaseStore.record_refusal``)."""

    __tablename__ = "refusal_tally"
    case_id: str = Field(primary_key=True, max_length=200)
    total: int = 0
    first_at: datetime = Field(default_factory=_now)
    last_at: datetime = Field(default_factory=_now)


# The refusals kept per case, newest first; older ones are counted, not kept.
REFUSALS_KEPT = 100


class RefusalLog(SQLModel):
    """A case's refusals as kept: ``entries`` oldest first (at most the number kept),
    ``total`` ever recorded, ``dropped`` of them no longer kept individually (the oldest),
    ``first_at`` the time of the first of all."""

    entries: list[RefusalEntry]
    total: int = 0
    first_at: datetime | None = None

    @property
    def dropped(self) -> int:
        return max(self.total - len(self.entries), 0)


class CaseStore:
    """The store over an engine whose schema is current (see ``store.migrate``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def current(cls, url: str) -> CaseStore:
        """A store on ``url``, refusing a database whose schema is behind the code."""
        engine = make_engine(url)
        require_current(engine)
        return cls(engine)

    @classmethod
    def migrated(cls, url: str) -> CaseStore:
        """A store on ``url`` brought to the newest schema first (local use, tests)."""
        engine = make_engine(url)
        upgrade(engine)
        return cls(engine)

    # Encounters and subjects ------------------------------------------------
    def open_encounter(self, record: EncounterRecord, *, officer: str) -> bool:
        """Record a custody event once; the collection of its data is logged once."""
        with Session(self.engine) as session:
            if session.get(EncounterRecord, record.case_id) is not None:
                return False
            session.add(record)
            session.add(
                AccessLogEntry(
                    act_key=f"collection:{record.case_id}",
                    actor=officer,
                    role="police_officer",
                    action="collection",
                    case_id=record.case_id,
                    justification=f"custody event ({record.reason}) from {record.force}",
                )
            )
            return self._commit_once(session)

    def close_encounter(self, case_id: str, outcome: str, at: datetime) -> None:
        with Session(self.engine) as session:
            row = session.get(EncounterRecord, case_id)
            if row is None:
                raise KeyError(f"no encounter record {case_id!r}")
            if row.outcome == outcome and row.closed_at is not None:
                return
            row.outcome, row.closed_at = outcome, at
            session.add(row)
            session.commit()

    def encounter(self, case_id: str) -> EncounterRecord | None:
        with Session(self.engine) as session:
            return session.get(EncounterRecord, case_id)

    def update_subject_case(
        self,
        subject_key: str,
        *,
        act_key: str,
        casework_id: str,
        justification: str,
        nationality: str = "",
        cid_ref: str | None = None,
        encounter_ids: list[str] | None = None,
        convictions: list[str] | None = None,
        calendar_event: dict[str, str] | None = None,
        outcome: str | None = None,
    ) -> bool:
        """Alter the subject's case record once per act; returns False for a repeat."""
        with Session(self.engine) as session:
            if session.exec(
                select(AccessLogEntry).where(AccessLogEntry.act_key == act_key)
            ).first():
                return False
            row = session.get(SubjectCase, subject_key) or SubjectCase(
                subject_key=subject_key, casework_id=casework_id, nationality=nationality
            )
            if cid_ref:
                row.cid_ref = cid_ref
            if encounter_ids:
                row.encounter_ids = _merged(row.encounter_ids, encounter_ids)
            if convictions:
                row.overseas_convictions = _merged(row.overseas_convictions, convictions)
            if calendar_event:
                events = json.loads(row.calendar_events)
                events.append(calendar_event)
                row.calendar_events = json.dumps(events)
            if outcome:
                row.outcome = outcome
            row.updated_at = _now()
            session.add(row)
            session.add(
                AccessLogEntry(
                    act_key=act_key,
                    actor=casework_id,
                    role="system",
                    action="alteration",
                    case_id=casework_id,
                    justification=justification,
                )
            )
            return self._commit_once(session)

    def subject_case(self, subject_key: str) -> SubjectCase | None:
        with Session(self.engine) as session:
            return session.get(SubjectCase, subject_key)

    @staticmethod
    def _commit_once(session: Session) -> bool:
        try:
            session.commit()
        except IntegrityError:  # a concurrent attempt did it first
            session.rollback()
            return False
        return True

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
            return self._commit_once(session)

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
            return self._commit_once(session)

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

    # Refusal log -------------------------------------------------------------
    def record_refusal(
        self,
        case_id: str,
        *,
        kind: str,
        actor: str,
        role: str,
        subject: str | None,
        code: str,
        reason: str,
        at: datetime | None = None,
        keep: int = REFUSALS_KEPT,
    ) -> None:
        """Log one refused decision on ``case_id``, count it, and forget the case's
        oldest beyond the newest ``keep`` (one transaction: a flood of refusals keeps
        the log's size per case bounded, and the tally says how many there were)."""
        when = at or _now()
        entry = RefusalEntry(
            case_id=case_id,
            at=when,
            kind=kind[:60],
            actor=actor[:120],
            role=role[:40],
            subject=subject[:300] if subject else None,
            code=code[:60],
            reason=reason[:2000],
        )
        self._ensure_tally(case_id, when)
        with Session(self.engine) as session:
            # The counter is raised in the database (concurrent refusals all count).
            session.exec(  # type: ignore[call-overload]
                update(RefusalTally)
                .where(col(RefusalTally.case_id) == case_id)
                .values(total=RefusalTally.total + 1, last_at=when)
            )
            session.add(entry)
            session.flush()
            newest = (
                select(RefusalEntry.id)
                .where(RefusalEntry.case_id == case_id)
                .order_by(col(RefusalEntry.id).desc())
                .limit(max(keep, 0))
            )
            kept = list(session.exec(newest))
            if kept:
                session.exec(  # type: ignore[call-overload]
                    delete(RefusalEntry).where(
                        col(RefusalEntry.case_id) == case_id,
                        col(RefusalEntry.id) < min(k for k in kept if k is not None),
                    )
                )
            session.commit()

    def _ensure_tally(self, case_id: str, at: datetime) -> None:
        with Session(self.engine) as session:
            if session.get(RefusalTally, case_id) is not None:
                return
            session.add(RefusalTally(case_id=case_id, total=0, first_at=at, last_at=at))
            self._commit_once(session)  # a concurrent first refusal made it: the same

    def refusals(self, case_id: str) -> RefusalLog:
        """The case's refusal log: the kept entries, oldest first, and the tally."""
        with Session(self.engine) as session:
            tally = session.get(RefusalTally, case_id)
            if tally is None:
                return RefusalLog(entries=[])
            rows = session.exec(
                select(RefusalEntry)
                .where(RefusalEntry.case_id == case_id)
                .order_by(col(RefusalEntry.id))
            )
            return RefusalLog(entries=list(rows), total=tally.total, first_at=tally.first_at)


def _merged(current_json: str, more: list[str]) -> str:
    items = json.loads(current_json)
    return json.dumps(items + [x for x in more if x not in items])
