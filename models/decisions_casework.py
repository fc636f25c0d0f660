"""Decision kinds of issue 21: tasks and allocation, the located checklist, detention
through the Detention Gatekeeper, Stage 1 on instruction, the deportation order, the
appeal, removal and absconding (DOMAIN.md steps 8-10).

Free text here is a caseworker's own words about the case (like a decision's reason):
encrypted in Temporal, never logged. Documents (representations, police forms, the
submission) are attachments in the case store; a decision carries their IDs.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from models.decision_kind import Kind

Priority = Literal["urgent", "high", "normal"]
ServiceMeans = Literal["in_person", "via_prison", "recorded_post", "to_representative"]
TEXT = {"min_length": 3, "max_length": 2000}
ATTACHMENT_ID = r"^att-[0-9a-f]{32}$"


# --- tasks and allocation (any time while the case is open; not awaited) ------------
class ClaimTask(Kind):
    """Take a task of this case: it becomes yours (someone of the task's roles)."""

    kind: Literal["claim_task"] = "claim_task"
    task: str = Field(min_length=1, max_length=60, description="The task: its decision kind.")


class UnclaimTask(Kind):
    """Give a task back to its team (its assignee, or a CC manager)."""

    kind: Literal["unclaim_task"] = "unclaim_task"
    task: str = Field(min_length=1, max_length=60, description="The task: its decision kind.")


class ReassignTask(Kind):
    """Give a task to someone else of its roles (its assignee, the case owner, a senior
    caseworker or a CC manager)."""

    kind: Literal["reassign_task"] = "reassign_task"
    task: str = Field(min_length=1, max_length=60, description="The task: its decision kind.")
    to_id: str = Field(
        min_length=1, max_length=300, description="Their identity (as `fno whoami` shows it)."
    )
    to_name: str = Field(min_length=1, max_length=120, description="Their name, as shown.")


class BringForward(Kind):
    """Set a task's follow-up ("bring forward") date and, optionally, its priority."""

    kind: Literal["bring_forward"] = "bring_forward"
    task: str = Field(min_length=1, max_length=60, description="The task: its decision kind.")
    follow_up_on: date = Field(description="When to look at it again.")
    priority: Priority | None = Field(default=None, description="Left out: unchanged.")


class StandIn(Kind):
    id: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=120)


class AllocateCase(Kind):
    """A CC manager allocates the case to a case owner in a team (step 8), or moves it
    to another; the stand-ins may decide for the owner."""

    kind: Literal["allocate_case"] = "allocate_case"
    owner_id: str = Field(
        min_length=1, max_length=300, description="The case owner's identity (`fno whoami`)."
    )
    owner_name: str = Field(min_length=1, max_length=120, description="Their name, as shown.")
    team: str = Field(min_length=1, max_length=80, description="The CC team.")
    stand_ins: list[StandIn] = Field(default_factory=list, max_length=10)


# --- step 8: the located checklist ------------------------------------------------------
class OffendingHistoryReview(Kind):
    """The PNC print compared with ACRO's referral: whether there is evidence the subject
    left the UK and offended abroad since the referral (then a further ACRO check)."""

    kind: Literal["offending_history_review"] = "offending_history_review"
    offended_abroad_since: bool = Field(
        description="Evidence the subject left the UK and offended abroad since the referral."
    )


class InvestigatingOfficerAnswer(Kind):
    """What the police investigating officer answered when told of CC's interest."""

    kind: Literal["investigating_officer_answer"] = "investigating_officer_answer"
    officer_reference: str = Field(
        min_length=1, max_length=80, description="The police reference of the contact."
    )
    information_held: bool = Field(description="The police hold further relevant information.")
    redocumentation: Literal[
        "passport_held", "identity_card_held", "copy_of_document", "none_held"
    ] = Field(description="Re-documentation information the police hold.")
    attachment_id: str | None = Field(
        default=None, pattern=ATTACHMENT_ID, description="The officer's answer, if sent."
    )


class PendingProsecution(Kind):
    """Pending prosecutions clarified with the police: the charges, and whether the
    police proceed (actions 5-7)."""

    kind: Literal["pending_prosecution"] = "pending_prosecution"
    charges: int = Field(ge=0, le=50, description="How many charges are pending (0: none).")
    police_proceeding: bool | None = Field(
        default=None, description="Whether the police proceed; needed when charges are pending."
    )
    acquittal_likely: bool | None = Field(
        default=None, description="Acquittal is likely; needed when the police proceed."
    )


class ProsecutionConsideration(Kind):
    """The police continue the prosecution: proceed with a deportation decision and
    order anyway (case by case: nature, seriousness, timescales), or wait for it."""

    kind: Literal["prosecution_consideration"] = "prosecution_consideration"
    proceed_with_deportation: bool = Field(
        description="Proceed now; otherwise wait for the prosecution's outcome."
    )


class ProsecutionOutcome(Kind):
    """The outcome of the UK prosecution the case waited for."""

    kind: Literal["prosecution_outcome"] = "prosecution_outcome"
    outcome: Literal["dropped", "acquitted", "convicted"]


# --- step 9: detention --------------------------------------------------------------------
class DetentionGatekeeper(Kind):
    """The Detention Gatekeeper accepts or rejects the case owner's proposal to detain."""

    kind: Literal["detention_gatekeeper"] = "detention_gatekeeper"
    accept: bool


class SubjectDetained(Kind):
    """ICE detained the subject (after a decision to deport)."""

    kind: Literal["subject_detained"] = "subject_detained"
    detained_on: date
    ice_reference: str = Field(min_length=1, max_length=80)


# --- step 10: Stage 1, the decision, the order, the appeal, removal ------------------
class ServeStage1(Kind):
    """The case owner's instruction to serve the Stage 1 notice, and how."""

    kind: Literal["serve_stage1"] = "serve_stage1"
    means: ServiceMeans
    sufficient_time: bool | None = Field(
        default=None,
        description="Serving a prison sentence: whether there is sufficient time for 20 "
        "days to respond (needed then; otherwise 10 days).",
    )


class Representations(Kind):
    """Representations the subject made in the Stage 1 response window."""

    kind: Literal["representations"] = "representations"
    received_on: date
    attachment_id: str | None = Field(
        default=None, pattern=ATTACHMENT_ID, description="The representations, attached."
    )


class ServeDeportationOrder(Kind):
    """The deportation order signed and to be served, and how."""

    kind: Literal["serve_deportation_order"] = "serve_deportation_order"
    means: ServiceMeans


class AppealLodged(Kind):
    """The subject lodged an appeal against the decision: removal is held."""

    kind: Literal["appeal_lodged"] = "appeal_lodged"
    lodged_on: date
    appeal_reference: str = Field(min_length=1, max_length=80)


class AppealDetermined(Kind):
    """The tribunal determined the appeal."""

    kind: Literal["appeal_determined"] = "appeal_determined"
    result: Literal["dismissed", "allowed"]
    determined_on: date


class Absconded(Kind):
    """The subject absconded before removal: wanted/missing again."""

    kind: Literal["absconded"] = "absconded"
    last_seen_on: date


NEW_ROLES_FOR: dict[str, tuple[str, ...]] = {
    "claim_task": ("caseworker", "senior_caseworker", "cc_manager", "detention_gatekeeper"),
    "unclaim_task": ("caseworker", "senior_caseworker", "cc_manager", "detention_gatekeeper"),
    "reassign_task": ("caseworker", "senior_caseworker", "cc_manager"),
    "bring_forward": ("caseworker", "senior_caseworker", "cc_manager"),
    "allocate_case": ("cc_manager",),
    "offending_history_review": ("caseworker", "senior_caseworker"),
    "investigating_officer_answer": ("caseworker", "senior_caseworker"),
    "pending_prosecution": ("caseworker", "senior_caseworker"),
    "prosecution_consideration": ("caseworker", "senior_caseworker"),
    "prosecution_outcome": ("caseworker", "senior_caseworker"),
    "detention_gatekeeper": ("detention_gatekeeper",),
    "subject_detained": ("ice_officer",),
    "serve_stage1": ("caseworker", "senior_caseworker"),
    "representations": ("caseworker", "senior_caseworker"),
    "serve_deportation_order": ("caseworker", "senior_caseworker"),
    "appeal_lodged": ("caseworker", "senior_caseworker"),
    "appeal_determined": ("caseworker", "senior_caseworker"),
    "absconded": ("ice_officer", "caseworker", "senior_caseworker"),
}
# Task management: accepted whenever the case is open (not awaited), acted on at once.
TASK_KINDS: frozenset[str] = frozenset(
    {"claim_task", "unclaim_task", "reassign_task", "bring_forward", "allocate_case"}
)
