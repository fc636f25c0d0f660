"""``POST /cases/{case_id}/decisions``: a decision on a case; 200 with the new stage,
409 refused."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from access.decisions import send_decision
from access.errors import DecisionRefused
from api.deps import TemporalD
from models.decisions import DecisionRequest, DecisionResult

router = APIRouter()


@router.post("/cases/{case_id:path}/decisions")
async def post_decision(case_id: str, req: DecisionRequest, client: TemporalD) -> DecisionResult:
    try:
        return await send_decision(client, case_id, req)
    except DecisionRefused as exc:
        raise HTTPException(409, str(exc)) from None
