"""``GET /cases/{case_id}``: a case's state and timeline, read for a stated purpose."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from access.reading import read_case
from api.deps import ReaderD, StoreD, TemporalD

router = APIRouter()


# ":path": a custody reference is kept as sent and may hold "/" ("CU/7/2026").
@router.get("/cases/{case_id:path}")
async def get_case(case_id: str, who: ReaderD, client: TemporalD, store: StoreD) -> Any:
    try:
        state = await read_case(client, store, case_id, who)
    except RPCError as err:  # Temporal did not answer (no worker polling, …)
        return JSONResponse(
            {
                "detail": f"Case {case_id} cannot be read right now: Temporal did not "
                f"answer ({err.message}).",
                "case_id": case_id,
                "why": "no_answer",
            },
            status_code=503,
        )
    return JSONResponse(state.model_dump(mode="json"))
