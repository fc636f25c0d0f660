"""``GET /cases`` (cases by search attributes: the filter of ``fno cases``) and
``GET /cases/{case_id}`` (a case's state and timeline, read for a stated purpose)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from access.certificates import convictions_shown
from access.listing import CaseFilter, list_cases, start_of_day
from access.reading import read_case
from access.subject_labels import label_rows
from api.deps import PersonD, PurposeD, StoreD, TemporalD
from models.stage_names import UnknownStage, stage_code, stage_words
from runtime.logs import get_logger

log = get_logger("fno.api")
router = APIRouter()
# The deepest row a listing serves (page × page_size): beyond it a filter finds a case
# sooner than paging does, and every listing sorts all the cases its filter matches.
MAX_WINDOW = 10_000
# Filter values become quoted search-attribute values: no quotes or backslashes (422).
Value = Annotated[str | None, Query(pattern=r"^[^'\\]*$", max_length=120)]


def _no_answer(case_id: str | None, err: RPCError) -> JSONResponse:
    # A code and what to do; the error's own text goes to the log only.
    reference = uuid.uuid4().hex[:12]
    log.warning(
        "temporal did not answer",
        case_id=case_id,
        rpc_status=err.status.name if err.status is not None else None,
        reference=reference,
    )
    what = f"Case {case_id} cannot be read" if case_id else "Cases cannot be listed"
    return JSONResponse(
        {
            "detail": f"{what} right now: Temporal did not answer. Try again in a minute; "
            f"if it goes on, tell your administrator (reference {reference}).",
            "case_id": case_id,
            "why": "no_answer",
            "reference": reference,
        },
        status_code=503,
    )


@router.get("/cases")
async def get_cases(
    who: PersonD,
    client: TemporalD,
    store: StoreD,
    reason: PurposeD,
    kind: Value = None,
    stage: Value = None,
    outcome: Value = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    force: Value = None,
    owner: Value = None,
    mine: Annotated[bool, Query(description="Awaiting a decision from my role.")] = False,
    overdue: bool = False,
    running: Annotated[bool, Query(description="Open cases only.")] = False,
    opened_after: date | None = None,
    opened_before: date | None = None,
    sort: Literal["opened", "deadline"] = "opened",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    subjects: Annotated[
        bool,
        Query(
            description="Also who each case is about (name, nationality), from the case "
            "store, for the cases you may read: each one shown is logged under you."
        ),
    ] = False,
) -> Any:
    """Cases matching the filter (search attributes only: no personal data), sorted
    (``opened``: newest first, or ``deadline``) and one page of them. ``stage``: a
    stage's code or its words, in any case (422 listing the valid ones when neither)."""
    if page * page_size > MAX_WINDOW:
        return JSONResponse(
            {
                "detail": f"page × page_size may be at most {MAX_WINDOW} (asked "
                f"{page} × {page_size}): narrow the filter (stage, force, owner, "
                "opened_after, opened_before, running) or ask for a larger page_size.",
                "why": "page_too_deep",
            },
            status_code=422,
        )
    if stage:
        try:
            stage = stage_code(stage)
        except UnknownStage as err:
            return JSONResponse({"detail": str(err), "why": "unknown_stage"}, status_code=422)
    f = CaseFilter(
        kind=kind,
        stage=stage,
        outcome=outcome,
        nationality=nationality,
        force=force,
        owner=owner,
        awaiting_role=who.role if mine else None,
        overdue=overdue,
        opened_after=start_of_day(opened_after) if opened_after else None,
        opened_before=start_of_day(opened_before) if opened_before else None,
        running_only=running,
    )
    try:
        rows = await list_cases(
            client,
            who,
            f,
            now=datetime.now().astimezone(),
            sort=sort,
            page=page,
            page_size=page_size,
        )
    except RPCError as err:
        return _no_answer(None, err)
    body = [r.model_dump(mode="json") | {"stage_words": stage_words(r.stage)} for r in rows]
    if subjects:
        labels = await asyncio.to_thread(label_rows, store, who, rows, reason)
        for item in body:
            label = labels.get(item["case_id"])
            item["subject"] = label.model_dump(mode="json") if label else None
    return JSONResponse(body)


# ":path": a custody reference is kept as sent and may hold "/" ("CU/7/2026").
@router.get("/cases/{case_id:path}")
async def get_case(
    case_id: str,
    who: PersonD,
    reason: PurposeD,
    client: TemporalD,
    store: StoreD,
    convictions: Annotated[
        bool,
        Query(
            description="Also the convictions on each kept certificate, read from the case "
            "store (each read logged under you); a case holds only claim checks of them."
        ),
    ] = False,
) -> Any:
    try:
        state = await read_case(client, store, case_id, who, reason)
    except RPCError as err:  # Temporal did not answer (no worker polling, …)
        return _no_answer(case_id, err)
    body = state.model_dump(mode="json")
    if convictions:
        purpose = (reason or "").strip() or (who.reason or "").strip()
        shown = await asyncio.to_thread(convictions_shown, store, state, who, purpose)
        body["convictions"] = {k: [c.model_dump() for c in v] for k, v in shown.items()}
    return JSONResponse(body)
