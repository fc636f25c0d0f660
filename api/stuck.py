"""``GET /stuck-cases``: cases not moving or that cannot be read, with why and a reason
code: a step failing for long, a deadline passed unattended, a history the workers
cannot replay or growing towards Temporal's limit (``history_large``), and the cases
that ended without an outcome (``terminated``, ``failed``, ``timed_out``).

Every query parameter is bounded (a year at most for durations): a value out of range
is a 422 saying so, never an overflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from access.stuck import ClosedProbe, EndedProbe, stuck_cases
from api.deps import NotificationsD, PersonD, TemporalD

router = APIRouter()

A_YEAR_IN_MINUTES = 60 * 24 * 366


@router.get("/stuck-cases")
async def get_stuck(
    who: PersonD,
    client: TemporalD,
    notifications: NotificationsD,
    failing_minutes: Annotated[float, Query(ge=0, le=A_YEAR_IN_MINUTES)] = 30,
    overdue_minutes: Annotated[float, Query(ge=0, le=A_YEAR_IN_MINUTES)] = 60,
    probe_closed: Annotated[int, Query(ge=0, le=500)] = ClosedProbe.limit,
    closed_within_hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24,
    ended_within_hours: Annotated[float, Query(ge=0, le=24 * 90)] = 24 * 7,
) -> list[dict[str, Any]]:
    """Cases not moving: a step failing for long, a deadline passed unattended, a
    history the workers cannot replay or past the alert's size; of the ``probe_closed``
    cases closed most recently (within ``closed_within_hours``), those whose state cannot
    be read; and the cases that ended without an outcome within ``ended_within_hours``
    (0: none). Each row: ``case_id``, ``stage``, ``why`` (words), ``code``,
    ``last_error``, ``since``, ``closed_at``."""
    rows = await stuck_cases(
        client,
        now=datetime.now().astimezone(),
        failing_for=timedelta(minutes=failing_minutes),
        overdue_by=timedelta(minutes=overdue_minutes),
        notifications=notifications,
        closed=ClosedProbe(within=timedelta(hours=closed_within_hours), limit=probe_closed),
        principal=who,
        ended=EndedProbe(within=timedelta(hours=ended_within_hours))
        if ended_within_hours
        else None,
    )
    return [r.model_dump(mode="json") for r in rows]
