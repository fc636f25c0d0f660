"""Tasks (issue 21): every awaited human decision as a task, with candidate roles, a
team, an assignee (or none), a due date, a follow-up date and a priority; the task
decisions (claim, unclaim, reassign, bring forward, allocate) checked and applied; the
case owner's rule (an owner decision comes from the owner, a stand-in or the task's
assignee).

Pure functions of the case's state: no I/O, no workflow calls (``now`` is passed in),
so the validators may use them.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from models import search
    from models.case import Deadline, Stage
    from models.casework_progress import Assignment, FollowUp, Progress, Task
    from models.decision_forms import decision_form
    from models.decisions import ROLES_FOR, DecisionRequest
    from models.decisions_casework import (
        TASK_KINDS,
        AllocateCase,
        BringForward,
        ClaimTask,
        ReassignTask,
        UnclaimTask,
    )

# Waits for someone else are not the caseworkers' tasks: ``subject_located`` is ICE's
# news (a task for ICE officers only, while ICE is tasked), and a dormant case waits for a
# custody event (no task at all).
PASSIVE_KINDS = frozenset({"subject_located"})
PASSIVE_STAGES = frozenset({Stage.LIABLE_TO_DEPORT_WANTED})
ICE = "ice_officer"
# A deadline that makes its task urgent whatever its priority (PACE custody clock).
URGENT_DEADLINES = frozenset({"detention before release from police custody"})
RANK = MappingProxyType({"urgent": 0, "high": 1, "normal": 2})
# Who may reassign a task besides its assignee and the case owner.
REASSIGNERS = frozenset({"senior_caseworker", "cc_manager"})


def derive_tasks(
    awaiting: list[str],
    *,
    stage: Stage,
    deadlines: list[Deadline],
    previous: list[Task],
    progress: Progress | None,
    case_owner: str | None,
    now: datetime,
) -> list[Task]:
    """The tasks of the case now: one per awaited kind that is not a passive wait. A task
    already open keeps its stage, due date and opening time."""
    before = {t.kind: t for t in previous}
    due = min((d.due_at for d in deadlines), default=None)
    urgent_clock = any(d.name in URGENT_DEADLINES for d in deadlines)
    tasks: list[Task] = []
    for kind in awaiting:
        roles = list(ROLES_FOR[kind])
        if kind in PASSIVE_KINDS:
            roles = [r for r in roles if r == ICE]
        if not roles or stage in PASSIVE_STAGES:
            continue
        old = before.get(kind)
        task = Task(
            kind=kind,
            stage=old.stage if old else stage.name,
            candidate_roles=roles,
            due_at=old.due_at if old else due,
            opened_at=old.opened_at if old else now,
        )
        if progress is not None:
            task.team = progress.team
            given = progress.assignments.get(kind)
            if given is not None:
                task.assignee_id, task.assignee_name = given.assignee_id, given.assignee_name
            elif "caseworker" in roles and progress.case_owner_id is not None:
                task.assignee_id, task.assignee_name = progress.case_owner_id, case_owner
            follow = progress.follow_ups.get(kind)
            if follow is not None:
                task.follow_up_on = follow.follow_up_on
                task.priority = follow.priority or "normal"
        # Urgent by its state only, never by the clock: a task past its due date is
        # shown overdue by whoever reads it (``access.inbox``). A priority that turned
        # with the time would make the deadline's own workflow task write an upsert
        # that a live worker does not always write (two chaos histories of issue 22,
        # ``tests/histories/after_worker_kill/``), and so a case no worker replays.
        if urgent_clock and kind == "detention":
            task.priority = "urgent"
        tasks.append(task)
    return tasks


def top_priority(tasks: list[Task]) -> str | None:
    return min((t.priority for t in tasks), key=RANK.__getitem__, default=None)


def assignees(tasks: list[Task]) -> list[str]:
    return sorted({t.assignee_id for t in tasks if t.assignee_id})


def task_attributes(tasks: list[Task], team: str | None) -> list[SearchAttributeUpdate[Any]]:
    """FnoAssignee, FnoPriority and FnoTeam of the case's tasks."""
    top = top_priority(tasks)
    return [
        search.ASSIGNEE.value_set(assignees(tasks)),
        search.PRIORITY.value_set(top) if top else search.PRIORITY.value_unset(),
        search.TEAM.value_set(team) if team else search.TEAM.value_unset(),
    ]


def _a(role: str) -> str:
    words = role.replace("_", " ")
    return f"{'an' if words[:1] in 'aeiou' else 'a'} {words}"


def task_refusal(
    req: DecisionRequest, tasks: list[Task], progress: Progress | None, *, located: bool
) -> str | None:
    """Why a task decision is refused (None: accepted). ``req.actor_id`` is the proven
    identity of the decider."""
    d = req.decision
    if progress is None:
        return "Refused: this kind of case has no task to manage."
    if req.role not in ROLES_FOR[d.kind]:
        who = " or ".join(refusal_role(r) for r in ROLES_FOR[d.kind])
        return f"Refused: “{refusal_words(d.kind)}” must come from {who}."
    if isinstance(d, AllocateCase):
        if req.role != "cc_manager":
            return "Refused: only a CC manager allocates a case to a case owner."
        if not located:
            return "Refused: a case is allocated to a case owner once the subject is located."
        return None
    task = next((t for t in tasks if t.kind == getattr(d, "task", None)), None)
    if task is None:
        open_ = ", ".join(t.kind.replace("_", " ") for t in tasks) or "none"
        return f"Refused: the case has no such open task (its tasks now: {open_})."
    me = req.actor_id
    mine = me is not None and task.assignee_id == me
    if isinstance(d, ClaimTask):
        if req.role not in task.candidate_roles:
            roles = " or ".join(_a(r) for r in task.candidate_roles)
            return f"Refused: this task is for {roles}, not {_a(req.role)}."
        if mine:
            return "Refused: the task is already yours."
    elif isinstance(d, UnclaimTask):
        if task.kind not in progress.assignments:
            return "Refused: nobody has claimed this task."
        if not (mine or req.role == "cc_manager"):
            return "Refused: only the task's assignee or a CC manager may give it back."
    elif isinstance(d, ReassignTask):
        owner = me is not None and me == progress.case_owner_id
        if not (mine or owner or req.role in REASSIGNERS):
            return (
                "Refused: a task is reassigned by its assignee, the case owner, a senior "
                "caseworker or a CC manager."
            )
    elif isinstance(d, BringForward):
        if req.role != "cc_manager" and not mine and me != progress.case_owner_id:
            if req.role not in task.candidate_roles:
                return "Refused: only those who may do the task, or a CC manager, bring it forward."
    return None


def apply_task(
    req: DecisionRequest, progress: Progress, tasks: list[Task], now: datetime
) -> tuple[str, dict[str, Any]]:
    """Act on a task decision: the timeline's text and data."""
    d = req.decision
    me = req.actor_id or f"name:{req.actor}"
    if isinstance(d, AllocateCase):
        allocate(progress, d)
        return (
            f"Case allocated to case owner {d.owner_name} ({d.team})",
            {"owner_id": d.owner_id, "team": d.team, "stand_ins": [s.id for s in d.stand_ins]},
        )
    assert isinstance(d, ClaimTask | UnclaimTask | ReassignTask | BringForward)
    words = d.task.replace("_", " ")
    if isinstance(d, ClaimTask):
        progress.assignments[d.task] = Assignment(
            assignee_id=me, assignee_name=req.actor, since=now
        )
        return f"Task claimed: {words}, by {req.actor}", {"task": d.task, "assignee_id": me}
    if isinstance(d, UnclaimTask):
        progress.assignments.pop(d.task, None)
        return f"Task given back to the team: {words}", {"task": d.task}
    if isinstance(d, ReassignTask):
        progress.assignments[d.task] = Assignment(
            assignee_id=d.to_id, assignee_name=d.to_name, since=now
        )
        return (
            f"Task reassigned: {words}, to {d.to_name}",
            {"task": d.task, "assignee_id": d.to_id},
        )
    progress.follow_ups[d.task] = FollowUp(
        follow_up_on=d.follow_up_on, priority=d.priority, by=req.actor, at=now
    )
    return (
        f"Task brought forward: {words}, to {d.follow_up_on.isoformat()}",
        {"task": d.task, "follow_up_on": d.follow_up_on.isoformat(), "priority": d.priority},
    )


def allocate(progress: Progress, d: AllocateCase) -> None:
    progress.case_owner_id = d.owner_id
    progress.team = d.team
    progress.stand_ins = [s.id for s in d.stand_ins]
    # The owner's tasks come back to the owner: claims by others of owner decisions end.
    for kind in [k for k in progress.assignments if "caseworker" in ROLES_FOR.get(k, ())]:
        progress.assignments.pop(kind)


def owner_refusal(
    req: DecisionRequest,
    tasks: list[Task],
    progress: Progress,
    now: datetime,
    owner_name: str | None = None,
) -> str | None:
    """Once the case has an owner, a decision a caseworker makes comes from the owner, a
    stand-in, or the task's assignee (by identity; by name for a request without one). A
    senior caseworker also decides a task that is
    overdue (escalated to them) or that nobody else holds; other roles are not bound."""
    kind = req.decision.kind
    if (
        progress.case_owner_id is None
        or kind in TASK_KINDS
        or kind in PASSIVE_KINDS  # anyone of its roles may say where the subject is
        or "caseworker" not in ROLES_FOR.get(kind, ())
        or req.role not in ("caseworker", "senior_caseworker")
    ):
        return None
    me = req.actor_id
    task = next((t for t in tasks if t.kind == kind), None)
    holder = task.assignee_id if task is not None else progress.case_owner_id
    if me is not None and me in {progress.case_owner_id, holder, *progress.stand_ins}:
        return None
    if me is None:
        # A request without a proven identity (recorded before the front door filled
        # it): by name, as the separation of duties compares.
        names = {owner_name, task.assignee_name if task is not None else None} - {None}
        if req.actor.strip().casefold() in {n.strip().casefold() for n in names if n}:
            return None
    if req.role == "senior_caseworker" and task is not None:
        overdue = task.due_at is not None and task.due_at <= now
        if overdue or task.priority == "urgent":
            return None
    return (
        "Refused: this case is allocated to a case owner; its decisions come from the owner, "
        "a stand-in or whoever holds the task (claim it, or ask for it to be reassigned)."
    )


def refusal_words(kind: str) -> str:
    """A decision kind in the guidance's words: its form's title (first sentence)."""
    try:
        text = decision_form(kind).description
    except KeyError:
        return kind.replace("_", " ")
    first = text.split(". ")[0].split(": ")[0].split("; ")[0].rstrip(".")
    return first if first and first != kind else kind.replace("_", " ")


def refusal_role(role: str) -> str:
    words = role.replace("_", " ")
    words = "CC Director" if role == "director" else words.replace("cc ", "CC ")
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"
