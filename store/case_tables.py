"""The case store's tables, registered on ``SQLModel.metadata`` (the schema itself is
Alembic's: ``store/migrations/``): the documents, the record of each encounter, the case
record per subject, the access log and the refusal log with its tally per case.
``store.cases`` is the store over them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


class Document(SQLModel, table=True):
    __tablename__ = "document"
    id: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(index=True, max_length=200)
    kind: str = Field(max_length=40)
    country: str | None = Field(default=None, max_length=2)
    purpose: str | None = Field(default=None, max_length=40)
    content: str | None = Field(default=None, description="JSON; NULL once destroyed.")
    received_at: datetime = Field(default_factory=utc_now)
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
    updated_at: datetime = Field(default_factory=utc_now)


class AccessLogEntry(SQLModel, table=True):
    __tablename__ = "access_log"
    id: int | None = Field(default=None, primary_key=True)
    # One entry per act: a retried step that stands for the same act has the same key.
    act_key: str | None = Field(default=None, unique=True, max_length=300)
    at: datetime = Field(default_factory=utc_now, index=True)
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
    at: datetime = Field(default_factory=utc_now)
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
    first_at: datetime = Field(default_factory=utc_now)
    last_at: datetime = Field(default_factory=utc_now)
