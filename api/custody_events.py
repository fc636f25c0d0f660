"""``POST /custody-events``: a custody event from an integrator (``X-API-Key``); 201 new
case, 200 the same event again, 409 conflicting, 413 too large, 422 invalid. The rules
are intake's (``access.intake``), the same as for files and ``fno intake``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from access.intake import EventInvalid, EventTooLarge, read_event, start_case
from api.deps import ApiKeyH, IntakeD, TemporalD

router = APIRouter()


@router.post(
    "/custody-events",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CustodyEvent"}}
            },
        }
    },
    responses={
        200: {"description": "The same event was already received: the existing case."},
        201: {"description": "A new case was started."},
        401: {"description": "Unknown or missing API key."},
        409: {"description": "Same force and custody reference, different content."},
        413: {"description": "The event is larger than the limit (64 KiB)."},
        422: {"description": "Invalid event: every field error is listed."},
    },
)
async def post_custody_event(
    request: Request, intake: IntakeD, client: TemporalD, api_key: ApiKeyH = None
) -> JSONResponse:
    """A custody event from an integrator: one case per event, idempotently."""
    if intake is None:
        raise HTTPException(503, "intake is not configured on this service")
    integrator = intake.api_keys.get(api_key or "")
    if integrator is None:
        return JSONResponse(
            {
                "detail": "Unknown or missing API key: send the X-API-Key issued to your "
                "custody system."
            },
            status_code=401,
        )
    try:
        event = read_event(await request.body())
    except EventTooLarge as exc:
        return JSONResponse({"detail": str(exc)}, status_code=413)
    except EventInvalid as exc:
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors]
        return JSONResponse({"detail": errors}, status_code=422)
    result = await start_case(
        client,
        event,
        task_queue=intake.task_queue,
        policy=intake.policy,
        subject_key_secret=intake.subject_key_secret,
        integrator=integrator,
    )
    status = {"started": 201, "already_received": 200, "conflict": 409}[result.status]
    return JSONResponse(
        {
            "case_id": result.case_id,
            "status": result.status,
            "detail": result.detail,
            "link": f"/cases/{result.case_id}",
        },
        status_code=status,
    )
