"""My inbox (issue 21): the tasks of the open cases I may read, as rows — *my* tasks
first (assigned to me, or mine as the case owner), then my team's unassigned ones (a
task of my role nobody holds); within each, overdue and urgent on top, then by
priority, a follow-up date still ahead last, then by due date. A case on the path
before tasks (its ``tasks`` query answers None, or does not answer) that awaits my role
is one row, with no task named. Passive waits (ICE tasking, dormant) are not tasks, so
not listed.

The cases come from the search attributes (``FnoAssignee`` holds me, or
``FnoAwaitingRole`` my role), narrowed to what the policy lets me read; each case's
tasks from its ``tasks`` query (decision kinds and staff identities only, no subject's
data: no read of the case is logged).

    await inbox_rows(client, principal, now=now, limit=500) -> list[InboxRow]
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any, cast

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution

from access.listing import CaseFilter, quoted, scoped_query
from access.policy import case_ref, may_read
from identity.principal import Principal
from models import search
from models.casework_progress import Task

RANK = {"urgent": 0, "high": 1, "normal": 2}
QUERY_TIMEOUT = timedelta(seconds=5)
PARALLEL = 8
OPTIONAL_TASKS: Any = list[Task] | None


class InboxRow(BaseModel):
    """One task of one case, as the inbox lists it."""

    case_id: str
    case_kind: str | None
    case_stage: str | None = None
    task: str | None = None
    task_stage: str | None = None
    candidate_roles: list[str] = []
    team: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    mine: bool = False
    due_at: datetime | None = None
    follow_up_on: date | None = None
    priority: str = "normal"
    overdue: bool = False


def inbox_query(principal: Principal, now: datetime) -> str:
    """Open cases with a task of mine or awaiting my role, within what I may read."""
    scoped = scoped_query(principal, CaseFilter(running_only=True), now)
    mine = f"{search.ASSIGNEE.name} = {quoted(principal.subject)}"
    role = f"{search.AWAITING_ROLE.name} = {quoted(principal.role)}"
    return f"{scoped} AND ({mine} OR {role})"


def rows_of(
    w: WorkflowExecution, tasks: list[Task] | None, principal: Principal, now: datetime
) -> list[InboxRow]:
    """The rows of one case for ``principal``: their tasks and their role's unassigned."""
    sa = w.typed_search_attributes
    base: dict[str, Any] = {
        "case_id": w.id,
        "case_kind": sa.get(search.CASE_KIND),
        "case_stage": sa.get(search.STAGE),
    }
    if tasks is None:  # before tasks (or no answer): the case as awaiting my role
        due = sa.get(search.NEXT_DEADLINE)
        roles = list(sa.get(search.AWAITING_ROLE) or [])
        if principal.role not in roles:
            return []
        return [
            InboxRow(
                **base, candidate_roles=roles, due_at=due, overdue=due is not None and due <= now
            )
        ]
    rows: list[InboxRow] = []
    for t in tasks:
        mine = t.assignee_id is not None and t.assignee_id == principal.subject
        if not mine and (t.assignee_id is not None or principal.role not in t.candidate_roles):
            continue  # someone else's, or not my role's
        rows.append(
            InboxRow(
                **base,
                task=t.kind,
                task_stage=t.stage,
                candidate_roles=t.candidate_roles,
                team=t.team,
                assignee_id=t.assignee_id,
                assignee_name=t.assignee_name,
                mine=mine,
                due_at=t.due_at,
                follow_up_on=t.follow_up_on,
                priority=t.priority,
                overdue=t.due_at is not None and t.due_at <= now,
            )
        )
    return rows


def order(rows: list[InboxRow], now: datetime) -> list[InboxRow]:
    """Mine first, then my team's unassigned; overdue and urgent on top within each."""
    far = datetime.max.replace(tzinfo=now.tzinfo)
    today = now.date()

    def key(r: InboxRow) -> tuple[Any, ...]:
        hot = r.overdue or r.priority == "urgent"
        later = r.follow_up_on is not None and r.follow_up_on > today
        return (not r.mine, not hot, RANK.get(r.priority, 2), later, r.due_at or far, r.case_id)

    return sorted(rows, key=key)


async def _tasks(client: Client, case_id: str, gate: asyncio.Semaphore) -> list[Task] | None:
    async with gate:
        try:
            answer = await client.get_workflow_handle(case_id).query(
                "tasks", result_type=OPTIONAL_TASKS, rpc_timeout=QUERY_TIMEOUT
            )
            return cast(list[Task] | None, answer)
        except Exception:  # no worker answering, an old case without the query
            return None


async def inbox_rows(
    client: Client, principal: Principal, *, now: datetime, limit: int = 500
) -> list[InboxRow]:
    """My inbox's rows, in order (see the module), at most ``limit`` cases."""
    found: list[WorkflowExecution] = []
    async for w in client.list_workflows(inbox_query(principal, now), limit=limit):
        sa = w.typed_search_attributes
        ref = case_ref(w.id, force=sa.get(search.FORCE))
        if sa.get(search.CASE_KIND) == ref.kind and may_read(principal, ref):
            found.append(w)
    gate = asyncio.Semaphore(PARALLEL)
    tasks = await asyncio.gather(*(_tasks(client, w.id, gate) for w in found))
    rows = [r for w, t in zip(found, tasks, strict=True) for r in rows_of(w, t, principal, now)]
    return order(rows, now)
