"""``/inbox``: my tasks first, then my team's unassigned ones (a task of my role nobody
holds), overdue and urgent on top within each — of the open cases the need-to-know
policy lets me read (``access.inbox``). Each row names the task, its due and follow-up
dates; claiming or giving a task back is a decision on the case page."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response
from temporalio.service import RPCError

from access.errors import NotPermitted
from access.inbox import inbox_rows
from access.subject_labels import label_rows
from web.visits import Staff, Store, Temporal, problem, purpose_of, render

INBOX_LIMIT = 500
router = APIRouter()


@router.get("/inbox", response_model=None)
async def inbox(v: Staff, store: Store, connect: Temporal) -> Response:
    now = datetime.now(UTC)
    try:
        rows = await inbox_rows(await connect(), v.principal, now=now, limit=INBOX_LIMIT)
    except NotPermitted as err:
        return problem(v, 403, "Not allowed", err.detail)
    except RPCError as err:
        return problem(v, 503, "Cases unavailable", f"Temporal did not answer: {err.message}")
    # Who each case is about, for the cases the user may read (each one logged).
    once = list({r.case_id: r for r in rows}.values())  # a case with two tasks: one read
    subjects = label_rows(store, v.principal, once, purpose_of(v, None))
    return render(v, "inbox.html", rows=rows, now=now, limit=INBOX_LIMIT, subjects=subjects)
