"""``/inbox``: the running cases awaiting a decision from my role, overdue first — of
those the need-to-know policy lets me read (a police officer: their force's)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response
from temporalio.service import RPCError

from access.errors import NotPermitted
from access.listing import CaseFilter, list_cases
from web.visits import Staff, Temporal, problem, render

INBOX_LIMIT = 500
router = APIRouter()


@router.get("/inbox", response_model=None)
async def inbox(v: Staff, connect: Temporal) -> Response:
    now = datetime.now(UTC)
    try:
        rows = await list_cases(
            await connect(),
            v.principal,
            CaseFilter(awaiting_role=v.principal.role, running_only=True),
            now=now,
            sort="deadline",
            page_size=INBOX_LIMIT,
        )
    except NotPermitted as err:
        return problem(v, 403, "Not allowed", err.detail)
    except RPCError as err:
        return problem(v, 503, "Cases unavailable", f"Temporal did not answer: {err.message}")
    return render(v, "inbox.html", rows=rows, now=now, limit=INBOX_LIMIT)
