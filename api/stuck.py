"""``GET /stuck-cases``: cases not moving or that cannot be read, with why."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from access.stuck import ClosedProbe, stuck_cases
from api.deps import NotificationsD, PersonD, TemporalD

router = APIRouter()


@router.get("/stuck-cases")
async def get_stuck(
    who: PersonD,
    client: TemporalD,
    notifications: NotificationsD,
    failing_minutes: Annotated[float, Query(ge=0)] = 30,
    overdue_minutes: Annotated[float, Query(ge=0)] = 60,
    probe_closed: Annotated[int, Query(ge=0, le=500)] = ClosedProbe.limit,
    closed_within_hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24,
) -> list[dict[str, Any]]:
    """Cases not moving: a step failing for long, a deadline passed unattended, a
    history the workers cannot replay; and of the ``probe_closed`` cases closed most
    recently (within ``closed_within_hours``), those whose state cannot be read."""
    rows = await stuck_cases(
        client,
        now=datetime.now().astimezone(),
        failing_for=timedelta(minutes=failing_minutes),
        overdue_by=timedelta(minutes=overdue_minutes),
        notifications=notifications,
        closed=ClosedProbe(within=timedelta(hours=closed_within_hours), limit=probe_closed),
    )
    return [r.model_dump(mode="json") for r in rows]
