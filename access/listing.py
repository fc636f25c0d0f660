"""Finding cases: the filter ``fno cases``, ``GET /cases`` and the web app's search
share, the Temporal visibility query it becomes (values quoted, never spliced), and one
sorted page of matching cases — only cases the principal may read (``access.policy``:
the query is narrowed to the kinds, and for a police officer the force, they may read,
and each row is checked again).

    await list_cases(client, principal, f, *, now, sort, page, page_size, figures=False)
    await count_cases(client, principal, f, *, now) -> int
    scoped_query(principal, f, now) -> str     visibility_query(f, now) within the policy
    visibility_query(f, now) -> str            the filter alone"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from access.errors import AccessRefused
from access.kinds import KIND_NAMES
from access.policy import (
    Capability,
    case_ref,
    force_bound,
    may_read,
    require,
    require_some_read,
)
from identity.principal import Principal
from models import search


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day``, local time: the meaning of a date filter."""
    return datetime.combine(day, time.min).astimezone()


class CaseFilter(BaseModel):
    """What ``fno cases`` and ``GET /cases`` filter on: search attributes only, so no
    personal data is needed (or possible) in a filter."""

    kind: str | None = None
    stage: str | None = None
    outcome: str | None = None
    nationality: str | None = None
    force: str | None = None
    owner: str | None = None
    awaiting_role: str | None = None
    overdue: bool = False
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    running_only: bool = False


class CaseRow(BaseModel):
    case_id: str
    kind: str | None
    status: str
    stage: str | None
    outcome: str | None
    nationality: str | None
    force: str | None
    owner: str | None
    awaiting_roles: list[str]
    next_deadline: datetime | None
    opened_at: datetime
    closed_at: datetime | None = None


def quoted(value: str) -> str:
    if "'" in value or "\\" in value:
        raise AccessRefused(f"filter value {value!r} may not contain quotes or backslashes")
    return f"'{value}'"


def visibility_query(f: CaseFilter, now: datetime) -> str:
    """The Temporal visibility query for a filter (values are quoted, never spliced)."""
    clauses: list[str] = []
    keyed: list[tuple[SearchAttributeKey[Any], str | None]] = [
        (search.CASE_KIND, f.kind),
        (search.STAGE, f.stage),
        (search.OUTCOME, f.outcome),
        (search.NATIONALITY, f.nationality),
        (search.FORCE, f.force),
        (search.CASE_OWNER, f.owner),
        (search.AWAITING_ROLE, f.awaiting_role),
    ]
    for key, value in keyed:
        if value:
            clauses.append(f"{key.name} = {quoted(value)}")
    if f.overdue:
        clauses.append(f"{search.NEXT_DEADLINE.name} < {quoted(now.isoformat())}")
    if f.opened_after:
        clauses.append(f"StartTime >= {quoted(f.opened_after.isoformat())}")
    if f.opened_before:
        clauses.append(f"StartTime < {quoted(f.opened_before.isoformat())}")
    if f.running_only:
        clauses.append("ExecutionStatus = 'Running'")
    if not clauses:
        clauses.append(f"{search.CASE_KIND.name} IS NOT NULL")
    return " AND ".join(clauses)


def scoped_query(principal: Principal, f: CaseFilter, now: datetime) -> str:
    """``visibility_query(f, now)`` narrowed to what ``principal`` may read: the kinds of
    case, and a force-bound role's own force. ``NotPermitted`` when that is nothing."""
    kinds = require_some_read(principal)
    clauses = [visibility_query(f, now)]
    if set(kinds) != set(KIND_NAMES):
        clauses.append(f"{search.CASE_KIND.name} IN ({', '.join(quoted(k) for k in kinds)})")
    if force_bound(principal):
        clauses.append(f"{search.FORCE.name} = {quoted((principal.force or '').strip().lower())}")
    return " AND ".join(clauses)


def _readable(principal: Principal, row: CaseRow) -> bool:
    ref = case_ref(row.case_id, force=row.force)
    return row.kind == ref.kind and may_read(principal, ref)


async def count_cases(client: Client, principal: Principal, f: CaseFilter, *, now: datetime) -> int:
    """How many cases ``principal`` may read match the filter (by the scoped query)."""
    return (await client.count_workflows(scoped_query(principal, f, now))).count


async def list_cases(
    client: Client,
    principal: Principal,
    f: CaseFilter,
    *,
    now: datetime,
    sort: str = "opened",
    page: int = 1,
    page_size: int = 50,
    figures: bool = False,
) -> list[CaseRow]:
    """Cases matching the filter that ``principal`` may read, sorted (``opened``,
    ``deadline``), one page of them. ``figures``: every case, for counting (search
    attributes only, no personal data), for those who may see the figures."""
    if figures:
        require(principal, Capability.FIGURES)
        query = visibility_query(f, now)
    else:
        query = scoped_query(principal, f, now)
    rows = await _walk(client, query)
    if not figures:
        rows = [r for r in rows if _readable(principal, r)]
    if sort == "deadline":
        far = datetime.max.replace(tzinfo=now.tzinfo)
        rows.sort(key=lambda r: (r.next_deadline or far, r.case_id))
    else:
        rows.sort(key=lambda r: (r.opened_at, r.case_id), reverse=True)
    start = (max(page, 1) - 1) * page_size
    return rows[start : start + page_size]


# Visibility answers a busy cluster may give for a moment (its rate limit, a slow
# store): the walk starts again after a pause, a few times, before it gives up (503).
TRANSIENT = frozenset(
    {RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}
)
WALK_ATTEMPTS = 4
WALK_PAUSE_S = 0.5  # doubled after each attempt: 0.5 s, 1 s, 2 s


async def _walk(client: Client, query: str) -> list[CaseRow]:
    """Every case the query matches, as rows; retried whole on a transient answer."""
    pause = WALK_PAUSE_S
    for attempt in range(1, WALK_ATTEMPTS + 1):
        try:
            return [_row(w) async for w in client.list_workflows(query)]
        except RPCError as err:
            if err.status not in TRANSIENT or attempt == WALK_ATTEMPTS:
                raise
            await asyncio.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


def _row(w: Any) -> CaseRow:
    sa = w.typed_search_attributes
    return CaseRow(
        case_id=w.id,
        kind=sa.get(search.CASE_KIND),
        status=w.status.name if w.status else "UNKNOWN",
        stage=sa.get(search.STAGE),
        outcome=sa.get(search.OUTCOME),
        nationality=sa.get(search.NATIONALITY),
        force=sa.get(search.FORCE),
        owner=sa.get(search.CASE_OWNER),
        awaiting_roles=list(sa.get(search.AWAITING_ROLE) or []),
        next_deadline=sa.get(search.NEXT_DEADLINE),
        opened_at=w.start_time,
        closed_at=w.close_time,
    )
