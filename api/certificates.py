"""``GET /certificates/{document_id}``: a stored certificate's content (the convictions
a case's claim check names), for a person who may read its case in full — the ACRO
officer triaging a reply reads it here (``access.certificates``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from access.certificates import read_certificate
from api.deps import PersonD, PurposeD, StoreD, TemporalD

router = APIRouter()


@router.get("/certificates/{document_id}")
async def get_certificate(
    document_id: str, who: PersonD, reason: PurposeD, client: TemporalD, store: StoreD
) -> Any:
    return JSONResponse(await read_certificate(client, store, document_id, who, reason))
