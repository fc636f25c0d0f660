"""``POST /cases/{case_id}/decisions``: a decision on a case, by the proven person; 200
with the new stage, 403 a role that may never make it, 409 refused by the case.

The body carries the decision and why (``{"reason", "decision"}``); who decides and in
which role come from the token (a body naming ``actor`` or ``role`` is a 422 saying so).
The decision reaches the case through the front door (``runtime.front_door.acting_as``):
the case checks who sent it, and records the person's stable ``subject`` as ``actor_id``
(what separation of duties compares)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from access.decisions import send_decision
from access.errors import DecisionRefused
from api.deps import PersonD, TemporalD
from models.decisions import ROLES_FOR, Decision, DecisionRequest, DecisionResult
from runtime.front_door import acting_as

router = APIRouter()


class DecisionBody(BaseModel):
    """A decision and why; who decides is the caller."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=4000, description="Why: recorded on the case.")
    decision: Decision

    @model_validator(mode="before")
    @classmethod
    def _no_declared_identity(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"actor", "role", "actor_id"} & data.keys()):
            raise ValueError(
                "actor and role come from your token: remove them from the body "
                "(send only reason and decision)"
            )
        return data


@router.post("/cases/{case_id:path}/decisions")
async def post_decision(
    case_id: str, body: DecisionBody, who: PersonD, client: TemporalD
) -> DecisionResult:
    kind = body.decision.kind
    if who.role not in ROLES_FOR[kind]:
        raise HTTPException(
            403,
            f"your role ({who.role}) may not make the decision {kind!r} "
            f"(it is for: {', '.join(ROLES_FOR[kind])})",
        )
    req = DecisionRequest.model_validate(
        {
            "actor": who.name,
            "role": who.role,
            "actor_id": who.subject,
            "reason": body.reason,
            "decision": body.decision.model_dump(mode="json"),
        }
    )
    try:
        with acting_as(who.subject, who.name, who.role):
            return await send_decision(client, case_id, req)
    except DecisionRefused as exc:
        raise HTTPException(409, str(exc)) from None
