"""``POST /custody-events``: a custody event from a custody system, proven by its
credential (the ``custody-events`` scope, for its own forces: ``identity.clients``); 201
new case, 200 the same event again, 401 no or an unknown credential, 403 a credential
without the scope or an event for another force, 409 conflicting, 413 too large, 422
invalid. The rules are intake's (``access.intake``), the same as for files and ``fno
intake``. The case is started through the front door (``runtime.front_door``), as the
sending system."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from access.intake import (
    EventInvalid,
    EventTooLarge,
    SenderRefused,
    check_sender,
    read_event,
    start_case,
)
from api.deps import IntakeD, TemporalD, system
from identity.principal import Principal
from runtime.front_door import acting_as
from runtime.http_metrics import intake_events

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
        401: {"description": "No credential, or an unknown one."},
        403: {"description": "Not a custody system's credential, or another force's event."},
        409: {"description": "Same force and custody reference, different content."},
        413: {"description": "The event is larger than the limit (64 KiB)."},
        422: {"description": "Invalid event: every field error is listed."},
    },
)
async def post_custody_event(
    sender: Annotated[Principal, Depends(system("custody-events"))],
    request: Request,
    intake: IntakeD,
    client: TemporalD,
) -> JSONResponse:
    """A custody event from a custody system: one case per event, idempotently."""
    if intake is None:
        raise HTTPException(503, "intake is not configured on this service")
    try:
        event = read_event(await request.body())
        check_sender(sender, event)
    except EventTooLarge as exc:
        intake_events.labels("too_large").inc()
        return JSONResponse({"detail": str(exc)}, status_code=413)
    except EventInvalid as exc:
        intake_events.labels("invalid").inc()
        errors = [{**e, "loc": ["body", *e["loc"]]} for e in exc.errors]
        return JSONResponse({"detail": errors}, status_code=422)
    except SenderRefused as exc:
        intake_events.labels("refused").inc()
        return JSONResponse({"detail": str(exc)}, status_code=403)
    with acting_as(sender.subject, sender.name, sender.role):
        result = await start_case(
            client,
            event,
            task_queue=intake.task_queue,
            policy=intake.policy,
            subject_key_secret=intake.subject_key_secret,
            integrator=sender.name,
        )
    status = {"started": 201, "already_received": 200, "conflict": 409}[result.status]
    intake_events.labels(result.status).inc()
    return JSONResponse(
        {
            "case_id": result.case_id,
            "status": result.status,
            "detail": result.detail,
            "link": f"/cases/{result.case_id}",
        },
        status_code=status,
    )
