"""``POST /cases/{case_id}/decisions``: a decision on a case, by the proven person; 200
with the new stage, 403 a decision the need-to-know policy does not give the caller on
that case, 409 refused by the case (logged in the case store's refusal log, not in the
case's history: ``access.decisions``), 429 too many decisions from the caller
(``Retry-After``: ``access.rate_limit``) or the case taking as many decisions at once as
Temporal lets it (``why``: ``case_busy``, ``Retry-After``; nothing sent: ``CaseBusy``).

The body carries the decision and why (``{"reason", "decision"}``); who decides and in
which role come from the token (a body naming ``actor`` or ``role`` is a 422 saying so).
The decision reaches the case through the front door (``runtime.front_door.acting_as``):
the case checks who sent it, and records the person's stable ``subject`` as ``actor_id``
(what separation of duties compares)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from access.decisions import request_for, send_decision
from access.errors import DecisionRefused
from api.deps import DeciderD, StoreD, TemporalD
from models.decisions import Decision, DecisionResult

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
    case_id: str, body: DecisionBody, who: DeciderD, client: TemporalD, store: StoreD
) -> DecisionResult:
    # Who may make which decision on which case is the policy's (access.decisions asks
    # it before anything is sent, 403), and send_decision goes through the front door.
    req = request_for(who, body.reason, body.decision.model_dump(mode="json"))
    try:
        return await send_decision(client, case_id, who, req, refusals=store)
    except DecisionRefused as exc:
        raise HTTPException(409, str(exc)) from None
