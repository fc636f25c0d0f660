"""``POST /custody-events/{case_id}/amendments``: a correction of a custody event by the
custody system that sent it (the ``custody-events`` scope, its own forces only), proven
by its credential. 200 applied (or ``already_applied``: the same ``amendment_id`` again,
nothing more done), 401 no or an unknown credential, 403 not a custody system's
credential or another force's case, 404 no such case (with how to name it), 409 the case
is closed, 413 too large, 422 an invalid correction (every field named). The rules are
``access.amendments``'."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from access.amendments import AmendmentInvalid, AmendmentRefused, amend_event
from access.intake import SenderRefused
from api.deps import IntakeD, StoreD, TemporalD, system
from identity.principal import Principal
from models.event import MAX_EVENT_BYTES
from models.json_input import JsonInputError, bounded_errors, parse_json
from models.located import EventCorrection

router = APIRouter()


def _invalid(errors: list[dict[str, object]]) -> JSONResponse:
    located = [{**e, "loc": ["body", *e.get("loc", [])]} for e in errors]  # type: ignore[misc]
    return JSONResponse({"detail": bounded_errors(located)}, status_code=422)


@router.post(
    "/custody-events/{case_id:path}/amendments",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EventCorrection"}}
            },
        }
    },
    responses={
        200: {"description": "Applied, or already applied (the same amendment_id)."},
        401: {"description": "No credential, or an unknown one."},
        403: {"description": "Not a custody system's credential, or another force's case."},
        404: {"description": "No such custody event case."},
        409: {"description": "The case is closed: its event can no longer be corrected."},
        413: {"description": "The body is larger than the limit (64 KiB)."},
        422: {"description": "Invalid correction: every field error is listed."},
    },
)
async def post_amendment(
    case_id: str,
    sender: Annotated[Principal, Depends(system("custody-events"))],
    request: Request,
    intake: IntakeD,
    client: TemporalD,
    store: StoreD,
) -> JSONResponse:
    """A correction of a custody event the caller sent: names, date of birth, PNC ID,
    other subject fields, whereabouts. Recorded as an alteration in the access log."""
    if intake is None:
        raise HTTPException(503, "intake is not configured on this service")
    raw = await request.body()
    if len(raw) > MAX_EVENT_BYTES:
        return JSONResponse(
            {"detail": f"amendment too large: {len(raw)} bytes, the limit is {MAX_EVENT_BYTES}"},
            status_code=413,
        )
    try:
        correction = EventCorrection.model_validate(parse_json(raw))
    except JsonInputError as exc:
        return _invalid([{"loc": [], "msg": str(exc), "type": "json"}])
    except ValidationError as exc:
        return _invalid(list(exc.errors(include_url=False, include_input=False)))  # type: ignore[arg-type]
    try:
        outcome = await amend_event(
            client,
            store,
            sender,
            case_id,
            correction,
            subject_key_secret=intake.subject_key_secret,
        )
    except SenderRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=403)
    except AmendmentRefused as exc:
        return JSONResponse({"detail": str(exc), "why": exc.why}, status_code=409)
    except AmendmentInvalid as exc:
        return _invalid(exc.errors)
    return JSONResponse(outcome.as_dict(), status_code=200)
