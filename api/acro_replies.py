"""``POST /integrations/acro/replies``: a country's reply, pushed in by ACRO (issue 22).

The caller is a system whose credential has the ``acro-replies`` scope. The body is a
``CountryReply`` (``activities.gateways``) with ACRO's own ``reply_id``, within bounds
(``InboundReply``). The reply is stored and its case signalled with the certificate's
claim check only (``activities.replies_in.deliver_reply``). Answers: 202
``{"reply_id", "status"}`` — ``delivered``, ``duplicate`` (that reply_id again: nothing
more done), ``kept_unknown`` (no case asked that request), ``kept_closed`` (the case
has closed): a kept reply is listed as stuck (``GET /stuck-cases``), never lost. 401 no
or an unknown credential, 403 not ACRO's, 413 too large, 422 invalid (every field
named), 503 with ``Retry-After`` when Temporal or the case store did not answer (the
sender tries again; a retry of the same reply_id is harmless). Never another 5xx.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from activities.gateways import ConvictionRecord, CountryReply
from activities.replies_in import deliver_reply
from api.deps import StoreD, TemporalD, system
from identity.principal import Principal
from models.json_input import JsonInputError, bounded_errors, parse_json
from models.reference import countries
from runtime.logs import get_logger

router = APIRouter()
log = get_logger("fno.api")

MAX_REPLY_BYTES = 256 * 1024
RETRY_AFTER_SECONDS = 30
REF = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"


class InboundConviction(ConvictionRecord):
    offence: str = Field(min_length=1, max_length=40)
    description: str = Field(max_length=2_000)
    convicted_on: str | None = Field(default=None, max_length=40)
    court: str | None = Field(default=None, max_length=200)
    sentence: str | None = Field(default=None, max_length=500)


class InboundReply(CountryReply):
    """A ``CountryReply`` as it may come in: IDs of a bounded form, a known country, a
    bounded number of convictions and text."""

    reply_id: str = Field(min_length=1, max_length=120, pattern=REF)
    request_ref: str = Field(min_length=1, max_length=80, pattern=REF)
    country: str = Field(min_length=2, max_length=2)
    convictions: list[InboundConviction] = Field(default_factory=list, max_length=200)  # type: ignore[assignment]
    text: str = Field(default="", max_length=10_000)

    @field_validator("country")
    @classmethod
    def _known(cls, code: str) -> str:
        if code not in countries():
            raise ValueError("not a country the reference table knows")
        return code


def _invalid(errors: list[dict[str, object]]) -> JSONResponse:
    located = [{**e, "loc": ["body", *e.get("loc", [])]} for e in errors]  # type: ignore[misc]
    return JSONResponse({"detail": bounded_errors(located)}, status_code=422)


def _try_again(why: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"not taken in: {why} did not answer; send the reply again", "why": why},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@router.post(
    "/integrations/acro/replies",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/InboundReply"}}
            },
        }
    },
    responses={
        202: {"description": "Taken in: delivered, duplicate, kept_unknown or kept_closed."},
        401: {"description": "No credential, or an unknown one."},
        403: {"description": "Not a credential with the acro-replies scope."},
        413: {"description": "The body is larger than the limit (256 KiB)."},
        422: {"description": "Invalid reply: every field error is listed."},
        503: {"description": "Temporal or the case store did not answer: send it again."},
    },
)
async def post_reply(
    sender: Annotated[Principal, Depends(system("acro-replies"))],
    request: Request,
    client: TemporalD,
    store: StoreD,
) -> JSONResponse:
    """A country's reply to an ACRO request, delivered to the case that asked."""
    raw = await request.body()
    if len(raw) > MAX_REPLY_BYTES:
        return JSONResponse(
            {"detail": f"reply too large: {len(raw)} bytes, the limit is {MAX_REPLY_BYTES}"},
            status_code=413,
        )
    try:
        inbound = InboundReply.model_validate(parse_json(raw))
    except JsonInputError as exc:
        return _invalid([{"loc": [], "msg": str(exc), "type": "json"}])
    except ValidationError as exc:
        return _invalid(list(exc.errors(include_url=False, include_input=False)))  # type: ignore[arg-type]
    reply = CountryReply.model_validate(inbound.model_dump())
    try:
        status = await deliver_reply(store, client, reply)
    except RPCError as exc:
        log.warning("reply not delivered: temporal", rpc_status=getattr(exc.status, "name", None))
        return _try_again("temporal")
    except SQLAlchemyError as exc:
        log.warning("reply not delivered: case store", error=type(exc).__name__)
        return _try_again("case_store")
    log.info("acro reply taken in", sender=sender.subject, status=status)
    return JSONResponse({"reply_id": reply.reply_id, "status": status}, status_code=202)
