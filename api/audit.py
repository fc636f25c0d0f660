"""``GET /audit?case_id=…|actor=…&since=…``: the access log (supervisors and the
Director; the role is the token's)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from access.listing import start_of_day
from access.reading import audit
from api.deps import PersonD, StoreD

router = APIRouter()


@router.get("/audit")
async def get_audit(
    who: PersonD,
    store: StoreD,
    case_id: Annotated[str | None, Query(max_length=300)] = None,
    of_actor: Annotated[str | None, Query(alias="actor", max_length=300)] = None,
    since: Annotated[date | None, Query()] = None,
) -> list[dict[str, Any]]:
    since_at = start_of_day(since) if since else None
    rows = audit(store, who, case_id=case_id, actor=of_actor, since=since_at)
    return [r.model_dump(mode="json") for r in rows]
