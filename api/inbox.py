"""``GET /inbox``: my tasks first, then my team's unassigned ones, overdue and urgent on
top within each (``access.inbox``): what ``fno cases --mine`` lists. Task kinds, stages,
dates and staff identities only: no subject's data, no read of a case logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from access.inbox import inbox_rows
from api.deps import PersonD, TemporalD

router = APIRouter()


@router.get("/inbox")
async def get_inbox(
    who: PersonD,
    client: TemporalD,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many cases.")] = 500,
) -> Any:
    """My inbox's rows: one per task (case, task, stage, assignee, due and follow-up
    dates, priority, overdue)."""
    try:
        rows = await inbox_rows(client, who, now=datetime.now().astimezone(), limit=limit)
    except RPCError:
        return JSONResponse(
            {
                "detail": "The inbox cannot be listed right now: Temporal did not answer.",
                "why": "no_answer",
            },
            status_code=503,
        )
    return JSONResponse([r.model_dump(mode="json") for r in rows])
