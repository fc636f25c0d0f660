"""Case state: stages and outcomes in the guidance's words, and the business timeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.casework_progress import Progress, Reopening, Task
from models.certificate_ref import CertificateRef, ConvictionSummary  # noqa: F401 (re-exported)
from models.event import CustodyEvent
from models.policy import Policy
from models.reference import country

Role = Literal[
    "police_officer",
    "caseworker",
    "senior_caseworker",
    "director",
    "supervisor",
    "ice_officer",
    "acro_officer",
    # issue 21: allocates cases to case owners and teams; accepts or rejects detention
    "cc_manager",
    "detention_gatekeeper",
]


CASEWORK_PREFIX = "casework-"

# Names Temporal stores, written once: the case process's workflow types, and the
# signals one of its workflows sends the other (recorded histories hold them).
ENCOUNTER_WORKFLOW = "EncounterWorkflow"
CASEWORK_WORKFLOW = "CriminalCaseworkWorkflow"
ADD_REFERRAL_SIGNAL = "add_referral"
CASEWORK_CONCLUDED_SIGNAL = "casework_concluded"
# issue 22: a reply ACRO pushed in, delivered to the case that asked (``ReplyDelivered``).
ACRO_REPLY_SIGNAL = "acro_reply"
SUBJECT_IN_CUSTODY_SIGNAL = "subject_in_custody"


def casework_id_for(subject_key: str) -> str:
    """The workflow ID of a subject's Criminal Casework case."""
    return f"{CASEWORK_PREFIX}{subject_key}"


class Stage(StrEnum):
    # ACRO side (the encounter)
    RECEIVED = "Custody event received"
    AWAITING_IDENTITY_DATA = "Awaiting missing identity data from the officer"
    AWAITING_COUNTRY_REPLY = "ACRO check requested – awaiting country reply"
    AWAITING_LATE_REPLY = "Closed as no response – a late reply will still be acted on"
    REFERRED_TO_CRIMINAL_CASEWORK = "Referred to Criminal Casework"
    # Criminal Casework side
    DISCLOSABILITY_CHECK = "CC Workflow – disclosability check"
    AWAITING_DISCLOSABLE_CERTIFICATE = (
        "Non-disclosable certificate – awaiting disclosable certificate"
    )
    CASE_CREATION = "CC Workflow – case creation"
    NBTC_CHECK = "NBTC check – has the subject left the UK?"
    EXCLUSION_CONSULTATION = "Left UK – exclusion to be considered with a senior caseworker"
    ICE_TASKING = "Wanted/missing marker added – tasked to ICE"
    LIABLE_TO_DEPORT_WANTED = "Liable to deport – wanted/missing, awaiting location"
    LOCATED_AWAITING_OWNER = "Located – to be allocated to a CC case owner"
    LOCATED_ACTIONS = "Located – case owner's first actions"
    DETENTION_DECISION = "Located – case owner to consider detention"
    STAGE1_RESPONSE_WINDOW = "Stage 1 notice served – response window open"
    DEPORTATION_DECISION = "Deportation decision"
    AWAITING_DIRECTOR = "Submission to the CC Director – deportation not pursued"
    ADMIN_REMOVAL_CONSIDERATION = "Consider referral to Removals Casework"
    AWAITING_ENFORCEMENT = "Decision to deport – awaiting enforcement"
    # Notifications out: a UK conviction of an EU national to the home state
    NOTIFICATION_TO_SEND = "Conviction notification – to be built and sent"
    NOTIFICATION_AWAITING_ACK = "Conviction notification sent – awaiting acknowledgement"
    NOTIFICATION_ESCALATED = "Conviction notification – escalated to a senior caseworker"
    CLOSED = "Closed"
    # issue 20 (h2): triage of a reply by an ACRO officer, further details from a country
    AWAITING_ACRO_TRIAGE = "Reply to be triaged by an ACRO officer – serious or not"
    AWAITING_FURTHER_DETAILS = "Further details about the offences requested from the country"
    # issue 20 (h4)
    ICE_TASKING_REVIEW = "ICE tasking ended – caseworker to decide: liable to deport or extend"
    # issue 20 (h3): the immigration re-request failed; no disclosable certificate at all
    IMMIGRATION_CERTIFICATE_DECISION = "Immigration certificate not obtained – caseworker to decide"
    NO_DISCLOSABLE_CERTIFICATE = (
        "No disclosable certificate – ACRO referral closed, awaiting a further referral"
    )
    # issue 21: the located checklist (step 8), detention (9), Stage 1 to removal (10)
    OFFENDING_HISTORY_REVIEW = "Located – offending history: PNC print against the referral"
    INVESTIGATING_OFFICER = "Located – awaiting the investigating officer's answer"
    PENDING_PROSECUTION = "Located – pending prosecutions to be clarified with the police"
    PROSECUTION_CONSIDERATION = "Police proceeding – deportation decision and order anyway?"
    AWAITING_PROSECUTION = "Awaiting the outcome of the UK prosecution"
    DETENTION_GATEKEEPER = "Detention proposed – awaiting the Detention Gatekeeper"
    STAGE1_TO_SERVE = "Stage 1 notice – to be served on the case owner's instruction"
    DEPORTATION_ORDER_TO_SERVE = "Decision to deport – deportation order to be served"
    APPEAL_WINDOW = "Deportation order served – appeal window open"
    AWAITING_APPEAL = "Appeal lodged – removal held until it is determined"


class Outcome(StrEnum):
    NO_TRACE = "ACRO: no trace – no overseas convictions"
    NOT_SERIOUS = "ACRO: overseas convictions not serious – recorded on PNC"
    NO_RESPONSE = "ACRO: no response from the country"
    INSUFFICIENT_DATA = "ACRO: request closed – insufficient identity data"
    LEFT_UK = "ACRO overseas conviction – left UK before deport action"
    LIABLE_TO_DEPORT_WANTED = "ACRO: liable to deport – PNC updated 'wanted/missing'"
    DEPORTED = "ACRO overseas conviction – deported"
    NOT_PURSUED = "ACRO overseas conviction – deportation not pursued"
    NOT_PURSUED_ADMIN_REMOVAL = (
        "ACRO overseas conviction – deportation not pursued, referred to Removals Casework "
        "for administrative removal"
    )
    # Notifications out
    NOTIFICATION_ACKNOWLEDGED = "Conviction notified – acknowledged by the home state"
    NOTIFICATION_CONFIRMED_OTHERWISE = "Conviction notified – receipt confirmed by other means"
    NOTIFICATION_SENT_OTHER_CHANNEL = "Conviction notified through another channel"
    NOTIFICATION_NOT_REQUIRED = "Conviction notification not required"
    # issue 21
    APPEAL_ALLOWED = "ACRO overseas conviction – appeal allowed, not deported"


EntryKind = Literal[
    "step", "request", "reply", "chaser", "decision", "refusal", "outcome", "note", "fault"
]


class TimelineEntry(BaseModel):
    at: datetime
    kind: EntryKind
    text: str
    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Deadline(BaseModel):
    name: str
    due_at: datetime


class CountryCheck(BaseModel):
    country: str
    channel: str
    eu: bool
    status: Literal[
        "awaiting_identity_data",
        "requested",
        "replied",
        "late_reply_window",
        "no_response",
        "insufficient_data",
    ] = "requested"
    request_ref: str | None = None
    requested_at: datetime | None = None
    reply_due_at: datetime | None = None
    chasers_sent: int = 0
    polls: int = 0
    last_polled_at: datetime | None = None
    late_until: datetime | None = None
    required_fields: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list)
    certificate: CertificateRef | None = None
    # issue 20 (h2): an ACRO officer's triage of the reply, further details asked of
    # the country (workflows.encounter_triage); None: not needed.
    triage: Literal["awaiting", "serious", "not_serious"] | None = None
    triage_due_at: datetime | None = None
    further_details: Literal["requested", "received", "not_received"] | None = None
    further_details_ref: str | None = None
    further_details_due_at: datetime | None = None
    further_details_chasers: int = 0
    # issue 20 (h3): a request for immigration purposes (``CaseworkState.immigration_requests``)
    replaces: str | None = Field(
        default=None, description="The destroyed certificate this request replaces."
    )
    decision_due_at: datetime | None = Field(
        default=None,
        description="The request failed (no answer after the chasers, or the answer is not "
        "disclosable either): a caseworker decides by then.",
    )
    settled: Literal["disclosable", "request_again", "close_not_disclosable"] | None = Field(
        default=None,
        description="How the request ended: a disclosable certificate, or the caseworker's "
        "decision once it failed. None while it is the case's to wait on.",
    )
    # issue 22 (h2): the reply is pushed in (``ACRO_REPLY_SIGNAL``), not polled for:
    # True when the request was made so (``workflows.changes.REPLIES_PUSHED``); a
    # request made before keeps polling. ``delivered``: the reply the signal brought,
    # not yet taken by the check's wait (the first one only: a repeat is ignored).
    pushed: bool = False
    delivered: CertificateRef | None = None


class ReplyDelivered(BaseModel):
    """The signal of a reply pushed in: the request it answers and the stored
    certificate's claim check (``CertificateRef``: no personal data, no offence)."""

    request_ref: str
    reply_id: str
    certificate: CertificateRef


class CaseView(BaseModel):
    """What every case shows: the state query answers with a subclass of this."""

    case_id: str
    stage: Stage = Stage.RECEIVED
    outcome: Outcome | None = None
    policy: Policy
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    awaiting: list[str] = Field(default_factory=list, description="Decision kinds accepted now.")
    awaiting_role: list[str] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    continued_as_new: int = Field(default=0, description="Fresh histories so far (long life).")
    tasks: list[Task] = Field(
        default_factory=list,
        description="Human decisions awaited now, as tasks (issue 21, models.casework_progress).",
    )
    search_attributes_at_start: bool = Field(
        default=False,
        description="Started with its search attributes already set (by intake): the case "
        "then upserts only those that change. Cases started before this existed keep "
        "upserting them all (their recorded histories replay unchanged).",
    )


class EncounterState(CaseView):
    event: CustodyEvent
    subject_key: str
    checks: dict[str, CountryCheck] = Field(default_factory=dict)
    identity_data_due_at: datetime | None = None
    identity_data_requested: bool = False
    convictions_found: bool = False
    casework_id: str | None = None
    casework_outcome: Outcome | None = None
    referred_countries: list[str] = Field(default_factory=list)
    # issue 20 (h5): corrections of the event
    amendments_applied: list[str] = Field(
        default_factory=list, description="The integrator's amendment IDs applied, in order."
    )


class InCustody(BaseModel):
    """A new custody event for a subject with an open Criminal Casework case: the
    subject is located, in custody at ``force`` since ``since`` (DOMAIN.md step 7)."""

    encounter_id: str
    force: str
    since: datetime


class CaseResult(BaseModel):
    case_id: str
    outcome: Outcome | None


class Referral(BaseModel):
    """ACRO's referral of serious offending to Criminal Casework."""

    encounter_id: str
    event: CustodyEvent
    certificates: list[CertificateRef]


class CaseworkState(CaseView):
    subject_key: str
    nationality: str
    eea_national: bool
    chain_id: str = Field(description="First run ID of this case: part of its step keys.")
    referrals: list[Referral] = Field(default_factory=list)
    disclosable: bool = False
    immigration_requests: list[CountryCheck] = Field(default_factory=list)
    cid_case_ref: str | None = None
    left_uk: bool | None = None
    marker_on_pnc: bool = False
    ice_tasking_ref: str | None = None
    ice_tasking_until: datetime | None = None
    next_review_at: datetime | None = None
    located: bool = False
    case_owner: str | None = None
    detained: bool | None = None
    detention_power: str | None = None
    serving_prison_sentence: bool = False
    stage1_notice: str | None = None
    deportation_decision: str | None = None
    not_pursued_by: str | None = Field(
        default=None, description="Who submitted 'deportation not pursued' (their name)."
    )
    not_pursued_by_id: str | None = Field(
        default=None, description="Their stable identity, when the front door gave one."
    )
    director_approved: bool | None = None
    in_custody: InCustody | None = Field(
        default=None, description="The latest custody event that located the subject."
    )
    custody_events_seen: list[str] = Field(
        default_factory=list, description="Encounters that told this case of a custody."
    )
    # issue 20 (h4)
    whereabouts: str | None = Field(
        default=None,
        description="Where the subject was at step 7 when known (the latest referral's, "
        "or 'in_police_custody' from a custody event); None: not known (NBTC, marker, ICE).",
    )
    overdue: list[str] = Field(
        default_factory=list,
        description="Deadlines passed with nothing done: each told on the timeline, left "
        "standing (the overdue listing shows it) and open to senior caseworkers.",
    )
    # issue 20 (h3)
    cid_certificates: list[str] = Field(
        default_factory=list,
        description="The disclosable certificates whose convictions are on the CID record.",
    )
    # issue 21: allocation, the checklist, Stage 1 to removal, references, reopening
    progress: Progress = Field(default_factory=Progress)


class EncounterInput(BaseModel):
    """Start of an encounter case; ``state`` is set only when continuing as new."""

    event: CustodyEvent
    subject_key: str = Field(description="Subject.subject_key under the deployment's secret.")
    policy: Policy = Field(default_factory=Policy)
    state: EncounterState | None = None
    search_attributes_at_start: bool = Field(
        default=False,
        description="True when the start set the case's search attributes "
        "(``opening_search_attributes``), as intake does.",
    )


class CaseworkInput(BaseModel):
    """Start of a Criminal Casework case for one subject; referrals arrive as signals."""

    case_id: str
    subject_key: str
    nationality: str
    policy: Policy = Field(default_factory=Policy)
    state: CaseworkState | None = None
    reopen: Reopening | None = Field(
        default=None, description="Set when a closed case is reopened (a new run, its state)."
    )
    search_attributes_at_start: bool = Field(
        default=False,
        description="True when the start set the case's search attributes "
        "(``casework_opening_search_attributes``), as the referral does since issue 22.",
    )


class CaseworkConcluded(BaseModel):
    """Sent back to each referring encounter when the casework case reaches its outcome."""

    casework_id: str
    outcome: Outcome


def opening_stage(event: CustodyEvent) -> Stage:
    """The stage an encounter takes when it opens (what ``EncounterWorkflow.open``
    arrives at): awaiting the officer when a target country needs identity data the
    event lacks, else awaiting the countries' replies."""
    targets = event.target_countries()
    if not targets:
        return Stage.RECEIVED
    if any(event.subject.missing_fields(country(c).required_fields) for c in targets):
        return Stage.AWAITING_IDENTITY_DATA
    return Stage.AWAITING_COUNTRY_REPLY
