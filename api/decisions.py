"""``POST /cases/{case_id}/decisions``: a decision on a case; 200 with the new stage,
409 refused."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from access.decisions import send_decision
from access.errors import DecisionRefused
from api.deps import TemporalD
from identity.principal import Principal
from models.decisions import DecisionRequest, DecisionResult

router = APIRouter()


@router.post("/cases/{case_id:path}/decisions")
async def post_decision(case_id: str, req: DecisionRequest, client: TemporalD) -> DecisionResult:
    # Stop-gap (h3) until h2's verified tokens: the identity the request declares.
    who = Principal(subject=req.actor_id or f"declared:{req.actor}", name=req.actor, role=req.role)
    req = req.model_copy(update={"actor_id": who.subject})
    try:
        return await send_decision(client, case_id, who, req)
    except DecisionRefused as exc:
        raise HTTPException(409, str(exc)) from None
