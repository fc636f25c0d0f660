"""Inputs and outputs of activities: one model in, one model out.

Every step that changes another system carries an ``idempotency_key`` derived from
the case and the step (never from the attempt), so a retried activity, a worker
crash or a replay produces the side effect once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from models.case import CaseworkInput, CertificateRef, ConvictionSummary, Referral
from models.event import Officer, Subject

CertificatePurpose = Literal["criminal_proceedings", "immigration_deportation"]


class Step(BaseModel):
    """Common to every step: which case, and the key that makes it happen once."""

    case_id: str
    idempotency_key: str
    as_of: datetime | None = Field(default=None, description="Workflow time of the step.")


class AcroCheckRequest(Step):
    subject_key: str
    country: str
    channel: str
    purpose: CertificatePurpose = "criminal_proceedings"
    reason: str
    uk_matter: str | None = None
    subject: Subject
    # issue 22: the reply is to be pushed in: the request is recorded for the route (and
    # the in-process world told to post the reply when it comes).
    pushed: bool = False


class AcroRequestRef(BaseModel):
    request_ref: str


class ReplyPoll(BaseModel):
    case_id: str
    request_ref: str
    country: str
    as_of: datetime = Field(description="Workflow time: the simulator answers as of this moment.")


class ReplyPollResult(BaseModel):
    certificate: CertificateRef | None = None


class Chaser(Step):
    request_ref: str
    country: str
    chaser_number: int


class IdentityDataRequest(Step):
    subject_key: str
    officer: Officer
    countries: list[str]
    missing_fields: list[str]


class PncConvictions(Step):
    subject_key: str
    pnc_id: str | None
    document_id: str
    convictions: list[ConvictionSummary] = Field(
        default_factory=list,
        description="Sent only by cases recorded before the claim check; the activity now "
        "reads the certificate (``document_id``) from the case store.",
    )


class PncConvictionsResult(BaseModel):
    recorded: int
    not_recordable: int


class PncOffencesQuery(BaseModel):
    case_id: str
    subject_key: str
    offences: list[str] = Field(
        default_factory=list, description="Sent only by cases recorded before the claim check."
    )
    document_ids: list[str] = Field(
        default_factory=list, description="The certificates whose offences are looked for."
    )


class PncOffencesAnswer(BaseModel):
    all_on_pnc: bool


class CaseNote(Step):
    subject_key: str
    text: str


class CertificateDestruction(Step):
    document_id: str
    step: str
    reason: str


class CidCaseCreation(Step):
    subject_key: str
    nationality: str
    encounter_ids: list[str]
    certificate_ids: list[str]
    offences: list[str] = Field(
        default_factory=list,
        description="Sent only by cases recorded before the claim check; the activity now "
        "reads the disclosable certificates (``certificate_ids``) from the case store.",
    )


class CidCaseRef(BaseModel):
    cid_ref: str
    created: bool


class SubjectStep(Step):
    """A step about the subject in another system (PNC, NBTC, ICE, notices)."""

    subject_key: str
    detail: str = ""


class NbtcQuery(BaseModel):
    case_id: str
    subject_key: str
    as_of: datetime


class NbtcAnswer(BaseModel):
    left_uk: bool
    departed_on: str | None = None


class Reference(BaseModel):
    ref: str


class IceStatusQuery(BaseModel):
    case_id: str
    tasking_ref: str
    as_of: datetime


class IceStatus(BaseModel):
    status: Literal["pending", "located", "unable_to_locate"]


class Stage1Notice(Step):
    subject_key: str
    notice: Literal["Stage 1 Liability to Deportation Notice", "Stage 1 Decision Notice"]
    response_days: int


class Notification(Step):
    subject_key: str
    recipients: list[str]
    subject_line: str


class CaseworkReferral(BaseModel):
    """Refer serious offending to Criminal Casework: joins the subject's open case."""

    casework_id: str
    start: CaseworkInput
    referral: Referral


class EncounterOpened(Step):
    force: str
    custody_reference: str
    reason: str
    nationality: str
    subject_key: str
    officer: str
    opened_at: datetime
    # Sent by encounters since the re-arrest lookup (issue 20): with them the activity also
    # tells an open Criminal Casework case of the same person that they are located.
    subject: Subject | None = None
    encountered_at: datetime | None = None


class EncounterClosed(Step):
    outcome: str
    closed_at: datetime


class DecisionLogged(Step):
    """A person's decision, for the access log (who, role, why)."""

    actor: str
    role: str
    kind: str
    reason: str
    # The proven person's stable identity (the front door's actor_id), when given.
    actor_id: str | None = None


# issue 20 (h2): further details of a reply asked of the country (the Romanian case) ---
class FurtherDetailsRequest(Step):
    """Ask the country, through ACRO, for the nature of the offences of a reply."""

    subject_key: str
    request_ref: str = Field(description="The ACRO request the reply answered.")
    country: str


class FurtherDetailsRef(BaseModel):
    details_ref: str


class FurtherDetailsChaser(Step):
    details_ref: str
    country: str
    chaser_number: int


class FurtherDetailsPoll(BaseModel):
    case_id: str
    details_ref: str
    document_id: str = Field(description="The certificate the details complete.")
    country: str
    as_of: datetime


class FurtherDetailsResult(BaseModel):
    received: bool = False
    details_missing: bool = Field(
        default=False, description="Still a serious conviction with no sentence stated."
    )
