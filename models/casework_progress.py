"""What issue 21 added to a case's state: tasks (every awaited human decision, with an
assignee, candidate roles, due and follow-up dates and a priority), allocation, the
located checklist, detention, Stage 1 to removal, the references other systems gave,
and a reopened case's grounds.

Kept in one model (``CaseworkState.progress``) so that a case continued as new carries
it whole. No subject's personal data here beyond the caseworkers' own words.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Priority = Literal["urgent", "high", "normal"]


class Assignment(BaseModel):
    """Who a task is given to (by a claim or a reassignment), and since when."""

    assignee_id: str
    assignee_name: str
    since: datetime
    follow_up_on: date | None = None
    priority: Priority | None = None


class FollowUp(BaseModel):
    """A task brought forward: when to look at it again, and its priority if set."""

    follow_up_on: date
    priority: Priority | None = None
    by: str
    at: datetime


class Task(BaseModel):
    """An awaited human decision as a task (``CaseView.tasks``)."""

    kind: str = Field(description="The decision kind awaited.")
    stage: str = Field(description="The stage it belongs to (its code).")
    candidate_roles: list[str]
    team: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    due_at: datetime | None = None
    follow_up_on: date | None = None
    priority: Priority = "normal"
    opened_at: datetime


class Representation(BaseModel):
    received_on: date
    attachment_id: str | None = None
    recorded_by: str


class Reopening(BaseModel):
    """Why and by whom a closed case was reopened (a new run with the old state)."""

    grounds: Literal["wrongly_closed", "returned_to_uk"]
    by: str
    by_id: str
    reason: str = Field(min_length=3, max_length=4000)
    previous_outcome: str | None = None
    at: datetime
    role: str | None = Field(default=None, description="The role of whoever reopened it.")


class Progress(BaseModel):
    # tasks and allocation
    assignments: dict[str, Assignment] = Field(
        default_factory=dict, description="Task kind → its assignee (claimed or reassigned)."
    )
    case_owner_id: str | None = None
    team: str | None = None
    stand_ins: list[str] = Field(default_factory=list, description="Identities of stand-ins.")
    # the located checklist (step 8)
    pnc_print_complete: bool | None = None
    pnc_offences_missing: int | None = None
    further_acro_check: bool | None = None
    officer_information_held: bool | None = None
    redocumentation: str | None = None
    charges_pending: int | None = None
    police_proceeding: bool | None = None
    prosecution: Literal["pending", "dropped", "acquitted", "convicted"] | None = None
    proceed_despite_prosecution: bool | None = None
    # detention (step 9)
    detention_proposed: bool | None = None
    gatekeeper_accepted: bool | None = None
    not_detained_reason: str | None = None
    reporting_conditions: str | None = None
    review_on: date | None = None
    ice_detention_power: str | None = None
    # Stage 1 to removal (step 10)
    stage1_means: str | None = None
    stage1_served_at: datetime | None = None
    stage1_response_days: int | None = None
    representations: list[Representation] = Field(default_factory=list)
    order_served_at: datetime | None = None
    appeal: Literal["window", "lodged", "dismissed", "allowed", "none_lodged"] | None = None
    absconded: int = Field(default=0, description="Times the subject absconded.")
    # every reference another system returned: name → reference (ICD.5079, paper file…)
    references: dict[str, str] = Field(default_factory=dict)
    # a reopened case
    reopenings: list[Reopening] = Field(default_factory=list)
    # Stage 1 to removal on the issue-21 path (``workflows.changes.STAGE1_TO_REMOVAL``):
    # the case took it (its validator then requires the decisions' needed fields), and
    # the submission to the CC Director stored in the case store (its document ID).
    stage1_on_instruction: bool = False
    submission_document_id: str | None = None
    # issue 21 (h1): the located checklist and detention, on the new path
    checklist: bool = Field(
        default=False, description="The case took the located checklist (new path)."
    )
    pnc_offences_referred: int | None = None
    certificate_for_immigration: bool | None = Field(
        default=None, description="A certificate for immigration purposes is held."
    )
    acquittal_likely: bool | None = None
    detention_to_be_arranged: bool | None = Field(
        default=None, description="Action 6: detention under immigration powers to be arranged."
    )
    gatekept: bool = Field(
        default=False, description="Detention is decided through the Detention Gatekeeper."
    )
    detention_power: str | None = None
    # tasks brought forward (issue 21, h3): task kind → its follow-up date and priority
    follow_ups: dict[str, FollowUp] = Field(default_factory=dict)
