"""Human decisions sent into running cases, each with who decided, their role and why.

A decision is a ``DecisionRequest`` sent as the ``decide`` update. The workflow's
validator refuses it, with a reason a caseworker understands, when it is not
expected at the case's stage, comes from the wrong role, or would be unlawful.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.case import Role
from models.decision_kind import Kind as _Kind
from models.decision_kind import needed
from models.decisions_casework import (
    NEW_ROLES_FOR,
    Absconded,
    AllocateCase,
    AppealDetermined,
    AppealLodged,
    BringForward,
    ClaimTask,
    DetentionGatekeeper,
    InvestigatingOfficerAnswer,
    OffendingHistoryReview,
    PendingProsecution,
    ProsecutionConsideration,
    ProsecutionOutcome,
    ReassignTask,
    Representations,
    ServeDeportationOrder,
    ServeStage1,
    SubjectDetained,
    UnclaimTask,
)


class IdentityDataSupplied(_Kind):
    """The requesting officer supplies identity data a country needs (DOMAIN step 2)."""

    kind: Literal["identity_data_supplied"] = "identity_data_supplied"
    father_name: str | None = Field(default=None, min_length=1, max_length=120)
    mother_name: str | None = Field(default=None, min_length=1, max_length=120)
    place_of_birth: str | None = Field(default=None, min_length=1, max_length=120)


class ExclusionConsultation(_Kind):
    """Senior caseworker's view on excluding a subject who left the UK (step 7)."""

    kind: Literal["exclusion_consultation"] = "exclusion_consultation"
    pursue_exclusion: bool


class SubjectLocated(_Kind):
    """The subject has been located (step 8); a CC manager then allocates the case."""

    kind: Literal["subject_located"] = "subject_located"
    # issue 21: allocation is a CC manager's (``allocate_case``); pending prosecutions are
    # clarified with the police (``pending_prosecution``). Decisions recorded before
    # carry these two; new ones leave them out.
    case_owner: str | None = Field(default=None, min_length=1, max_length=120, deprecated=True)
    pending_prosecution: Literal["none", "police_not_proceeding", "police_proceeding"] | None = (
        Field(default=None, deprecated=True)
    )


class DetentionDecision(_Kind):
    """Detain, or manage non-detained (step 9). Only on disclosable information."""

    kind: Literal["detention"] = "detention"
    detain: bool
    # issue 21: why not detained, and how the subject is managed instead.
    not_detained_reason: (
        Literal[
            "unsuitable_vulnerability",
            "unsuitable_medical",
            "no_realistic_prospect_of_removal",
            "serving_prison_sentence",
            "other",
        ]
        | None
    ) = needed("Why the subject is not detained.", when="detain=false")
    reporting_conditions: str | None = needed(
        "Non-detained management: the reporting conditions.",
        when="detain=false",
        min_length=3,
        max_length=2000,
    )
    review_on: date | None = needed(
        "Non-detained management: when the case is reviewed.", when="detain=false"
    )
    serving_prison_sentence: bool | None = Field(
        default=None,
        description="Left out: as the referral says (serving a sentence or not).",
    )  # issue 20 (h4): was ``bool = False``; recorded decisions all carry a value


class DeportationDecision(_Kind):
    """After the Stage 1 response window: deport, or submit 'not pursued' (step 10)."""

    kind: Literal["deportation"] = "deportation"
    decision: Literal["deport", "not_pursued"]
    # issue 21: no answer pre-selected (decisions recorded before carry a value).
    address_known: bool | None = needed("The subject's address is known.", when="decision=deport")
    in_country_right_of_appeal: bool | None = needed(
        "The subject has an in-country right of appeal.", when="decision=deport"
    )
    # issue 21: the three factors the guidance names, each recorded.
    foreign_convictions: str | None = needed(
        "The foreign convictions taken into account.", min_length=3, max_length=2000
    )
    uk_convictions: str | None = needed(
        "The existing UK convictions taken into account.", min_length=3, max_length=2000
    )
    outstanding_uk_activity: str | None = needed(
        "Outstanding UK law enforcement activity (pending prosecutions, investigations).",
        min_length=3,
        max_length=2000,
    )
    submission_reasons: str | None = needed(
        "Not pursued: the reasons, for the submission to the CC Director.",
        when="decision=not_pursued",
        min_length=3,
        max_length=4000,
    )


class DirectorApproval(_Kind):
    """The CC Director approves (or rejects) not pursuing deportation."""

    kind: Literal["director_approval"] = "director_approval"
    approve: bool


class AdministrativeRemovalReferral(_Kind):
    """After the Director's approval: refer to Removals Casework, or not (lawfully resident)."""

    kind: Literal["admin_removal_referral"] = "admin_removal_referral"
    refer: bool
    lawful_residence_basis: str | None = needed(
        "Not referred: the finding that the subject resides lawfully, and on what basis.",
        when="refer=false",
        min_length=3,
        max_length=2000,
    )


class DeportationEnforced(_Kind):
    """ICE reports the deportation was enforced."""

    kind: Literal["deportation_enforced"] = "deportation_enforced"
    removed_on: date
    removal_reference: str | None = needed(
        "ICE's reference of the removal.", min_length=1, max_length=80
    )


class ResumeAfterFault(_Kind):
    """After another system refused a step for good and the cause was put right there."""

    kind: Literal["resume_after_fault"] = "resume_after_fault"


class NotificationEscalation(_Kind):
    """A conviction notification the home state has not acknowledged: a senior
    caseworker decides (keep chasing, confirmed or sent by other means, or not required)."""

    kind: Literal["notification_escalation"] = "notification_escalation"
    action: Literal[
        "keep_trying", "confirmed_by_other_means", "sent_by_other_channel", "not_required"
    ]
    channel: str | None = Field(
        default=None, min_length=1, max_length=120, description="The other channel used."
    )


# issue 20 (h2) ---------------------------------------------------------------------
class TriageDecision(_Kind):
    """An ACRO officer triages a country's reply the offence table cannot classify (an
    offence it does not know, or marks borderline), having read the certificate:
    serious offending is referred to Criminal Casework; otherwise the convictions are
    recorded on the PNC and the check closes as not serious. The reason is recorded."""

    kind: Literal["triage"] = "triage"
    serious: bool = Field(description="Serious offending: refer to Criminal Casework.")
    most_serious: bool = Field(
        default=False,
        description="Of the most serious nature (exclusion considered if the subject has "
        "left the UK); only with serious.",
    )


# issue 20 (h4)
class IceTaskingReview(_Kind):
    """ICE tasking ended without ICE's answer: the subject is liable to deport (unable to
    be located, all avenues to detain exhausted: the case sleeps until located), or the
    tasking is extended (step 7)."""

    kind: Literal["ice_tasking_review"] = "ice_tasking_review"
    action: Literal["liable_to_deport", "extend_tasking"]
    extend_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Extend the tasking by this many days (default: the policy's tasking).",
    )


# issue 20 (h3)
class ImmigrationCertificateOutcome(_Kind):
    """The certificate asked of ACRO for immigration purposes was not obtained (no
    answer after the chasers, or the answer is not disclosable either): ask again, or
    close the referral as not disclosable (CID is noted; only a further referral can
    bring a disclosable certificate)."""

    kind: Literal["immigration_certificate_outcome"] = "immigration_certificate_outcome"
    action: Literal["request_again", "close_not_disclosable"]
    country: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="The country of the failed request (needed only when several failed).",
    )


Decision = Annotated[
    IdentityDataSupplied
    | ExclusionConsultation
    | SubjectLocated
    | DetentionDecision
    | DeportationDecision
    | DirectorApproval
    | AdministrativeRemovalReferral
    | DeportationEnforced
    | ResumeAfterFault
    | NotificationEscalation
    | TriageDecision
    | IceTaskingReview
    | ImmigrationCertificateOutcome
    # issue 21
    | ClaimTask
    | UnclaimTask
    | ReassignTask
    | BringForward
    | AllocateCase
    | OffendingHistoryReview
    | InvestigatingOfficerAnswer
    | PendingProsecution
    | ProsecutionConsideration
    | ProsecutionOutcome
    | DetentionGatekeeper
    | SubjectDetained
    | ServeStage1
    | Representations
    | ServeDeportationOrder
    | AppealLodged
    | AppealDetermined
    | Absconded,
    Field(discriminator="kind"),
]

# Who may make each decision. A supervisor decides nothing.
ROLES_FOR: dict[str, tuple[Role, ...]] = {
    "identity_data_supplied": ("police_officer", "caseworker"),
    "exclusion_consultation": ("senior_caseworker",),
    "subject_located": ("caseworker", "senior_caseworker", "ice_officer"),
    "detention": ("caseworker", "senior_caseworker"),
    "deportation": ("caseworker", "senior_caseworker"),
    "director_approval": ("director",),
    "admin_removal_referral": ("caseworker", "senior_caseworker"),
    "deportation_enforced": ("ice_officer", "caseworker", "senior_caseworker"),
    "resume_after_fault": ("caseworker", "senior_caseworker"),
    "notification_escalation": ("senior_caseworker",),
    "triage": ("acro_officer",),  # issue 20 (h2)
    "ice_tasking_review": ("caseworker", "senior_caseworker"),  # issue 20 (h4)
    "immigration_certificate_outcome": ("caseworker", "senior_caseworker"),  # issue 20 (h3)
    **NEW_ROLES_FOR,  # type: ignore[dict-item]  # issue 21 (models.decisions_casework)
}


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str = Field(min_length=1, max_length=120, description="Who decides.")
    actor_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="The decider's stable identity (the principal's subject): what "
        "separation of duties compares. The front door fills it.",
    )
    role: Role
    reason: str = Field(min_length=3, max_length=4000, description="Why: recorded on the case.")
    decision: Decision


class DecisionResult(BaseModel):
    accepted: bool
    stage: str
    message: str


class DecisionRefusal(BaseModel):
    """A decision the case refused, for its timeline (sent by the client that tried)."""

    actor: str = Field(max_length=120)
    role: str = Field(max_length=40)
    kind: str = Field(max_length=60)
    reason: str = Field(max_length=2000)
