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

Here: ``CaseStore`` — encounters, subject cases and documents. Its tables are in
``store.case_tables``, its access log in ``store.access_log`` and its refusal log in
``store.refusal_log``, staff notes and attachments in ``store.case_files``; their names
can be imported from here too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from store.access_log import AccessAction, AccessLogStore, commit_once
from store.case_files import CaseFilesStore
from store.case_subjects import CaseSubjectsStore
from store.case_tables import (
    AccessLogEntry,
    Document,
    EncounterRecord,
    RefusalEntry,
    RefusalTally,
    SubjectCase,
    utc_now,
)
from store.engine import make_engine
from store.migrate import require_current, upgrade_if_behind
from store.refusal_log import REFUSALS_KEPT, RefusalLog, RefusalLogStore
from store.replies import RepliesStore

__all__ = [
    "REFUSALS_KEPT",
    "AccessAction",
    "AccessLogEntry",
    "CaseStore",
    "Document",
    "EncounterRecord",
    "RefusalEntry",
    "RefusalLog",
    "RefusalTally",
    "SubjectCase",
    "make_engine",
]


class CaseStore(AccessLogStore, RefusalLogStore, CaseFilesStore, CaseSubjectsStore, RepliesStore):
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
        upgrade_if_behind(engine)
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
            return commit_once(session)

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
            row.updated_at = utc_now()
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
            return commit_once(session)

    def subject_case(self, subject_key: str) -> SubjectCase | None:
        with Session(self.engine) as session:
            return session.get(SubjectCase, subject_key)

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
            return commit_once(session)

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
            doc.destroyed_at = utc_now()
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


def _merged(current_json: str, more: list[str]) -> str:
    items = json.loads(current_json)
    return json.dumps(items + [x for x in more if x not in items])
