"""``POST /cases/{case_id}/reopen``: a closed Criminal Casework case reopened with its
history, by a senior caseworker or a CC manager (``access.reopening``): 200 reopened,
403 not theirs to reopen, 404 no such case, 409 the case is open (or cannot be
reopened). The body: ``{"grounds": "wrongly_closed" | "returned_to_uk", "reason"}``;
who reopens comes from the token. Logged in the access log under the proven person."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from access.reopening import ReopenRefused, reopen_case
from api.deps import DeciderD, StoreD, TemporalD

router = APIRouter()


class ReopenBody(BaseModel):
    """Why the closed case is reopened; who reopens it is the caller."""

    model_config = ConfigDict(extra="forbid")
    grounds: Literal["wrongly_closed", "returned_to_uk"] = Field(
        description="wrongly_closed, or returned_to_uk (the subject left, or was removed, "
        "and is back)."
    )
    reason: str = Field(min_length=3, max_length=4000, description="Why: recorded on the case.")


@router.post("/cases/{case_id:path}/reopen")
async def post_reopen(
    case_id: str, body: ReopenBody, who: DeciderD, client: TemporalD, store: StoreD
) -> Any:
    try:
        reopened = await reopen_case(client, store, case_id, who, body.grounds, body.reason)
    except ReopenRefused as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse(reopened.as_dict())
