"""The cases: ``/cases`` (search and filter, paginated; the stuck cases apart) and
``/cases/{id}`` (the case page: stage, subject, deadlines, timeline, the access log for
supervisors, the Temporal Web UI link, and the decisions it accepts now from my role).

Both show only what the need-to-know policy lets the signed-in ``Principal`` read
(``access.policy``; a police officer: their force's encounters, redacted). Reading a
case is a consultation logged with its purpose (``access.reading.read_case``): the one
stated, else the user's default; a case opened from another site's link asks for the
purpose first. The decision forms are those the case awaits that the policy lets the
user make; the access log is shown to those who may audit."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from temporalio.service import RPCError

from access.certificates import convictions_shown
from access.errors import CANNOT_REPLAY, QUERY_FAILED, AccessRefused, CaseNotFound, CaseUnreadable
from access.kinds import KIND_NAMES, kind_of_state
from access.listing import CaseFilter, count_cases, list_cases
from access.policy import Capability, case_ref, decisions_for, may, may_decode
from access.reading import audit, read_case
from access.stuck import ClosedProbe, stuck_cases
from access.subject_labels import label_rows
from models.case import CaseView, CaseworkState, EncounterState, Outcome, Stage
from models.decision_forms import DecisionForm, decision_form, decisions_accepted
from models.decisions_casework import TASK_KINDS
from models.stage_names import UnknownStage, stage_code
from runtime.logs import get_logger
from store.notifications import NotificationStore
from web import labels
from web.decision_input import known_kind
from web.routes_case_files import case_files
from web.visits import (
    Config,
    SignedIn,
    Staff,
    Store,
    Temporal,
    problem,
    purpose_of,
    render,
    state_of,
)

PAGE_SIZES = (10, 25, 50, 100)
CASE_KINDS = KIND_NAMES
log = get_logger("fno.web")
router = APIRouter()


# --- cases: search and filter ------------------------------------------------------------
@router.get("/cases", response_model=None)
async def cases(v: Staff, config: Config, store: Store, connect: Temporal) -> Response:
    q = v.request.query_params
    now = datetime.now(UTC)

    def text(name: str, limit: int = 120) -> str:
        return q.get(name, "").strip()[:limit]

    chosen = {
        "stage": text("stage"),
        "outcome": text("outcome"),
        "kind": text("kind"),
        "nationality": text("nationality", 2).upper(),
        "force": text("force", 40).lower(),
        "owner": text("owner"),
        "overdue": q.get("overdue") == "1",
        "stuck": q.get("stuck") == "1",
        "running": q.get("running") == "1",
        "sort": "deadline" if q.get("sort") == "deadline" else "opened",
    }
    try:
        page = max(int(q.get("page", "1")), 1)
        size = int(q.get("size", str(config.page_size)))
    except ValueError:
        page, size = 1, config.page_size
    size = size if size in PAGE_SIZES else config.page_size
    error = None
    stage = chosen["stage"] or None
    if isinstance(stage, str):
        try:  # the code or the words (issue 21)
            stage = chosen["stage"] = stage_code(stage)
        except UnknownStage as err:
            error, stage = str(err), None
    f = CaseFilter(
        kind=chosen["kind"] or None,
        stage=stage,
        outcome=chosen["outcome"] or None,
        nationality=chosen["nationality"] or None,
        force=chosen["force"] or None,
        owner=chosen["owner"] or None,
        overdue=bool(chosen["overdue"]),
        running_only=bool(chosen["running"]),
    )
    rows: list[Any] = []
    total = 0
    why: dict[str, str] = {}
    gaps: list[Any] = []
    try:
        if error:  # an unknown stage: nothing is listed, the valid ones are shown
            raise AccessRefused(error)
        client = await connect()
        if chosen["stuck"]:
            stuck = await stuck_cases(
                client,
                now=now,
                failing_for=config.stuck_failing,
                overdue_by=config.stuck_overdue,
                notifications=NotificationStore(store.engine),
                closed=ClosedProbe(),
                principal=v.principal,
            )
            why = {
                s.case_id: _stuck_why(s.why) + (f" — {s.last_error}" if s.last_error else "")
                for s in stuck
            }
            every = await list_cases(
                client, v.principal, f, now=now, sort=str(chosen["sort"]), page_size=100_000
            )
            matching = [r for r in every if r.case_id in why]
            listed = {r.case_id for r in every}
            # Not a case of the list (a daily file missing, …): shown apart.
            gaps = [s for s in stuck if s.case_id not in listed]
            total = len(matching)
            rows = matching[(page - 1) * size : page * size]
        else:
            total = await count_cases(client, v.principal, f, now=now)
            rows = await list_cases(
                client,
                v.principal,
                f,
                now=now,
                sort=str(chosen["sort"]),
                page=page,
                page_size=size,
            )
    except AccessRefused as err:
        error = str(err)
    except RPCError as err:
        return problem(v, 503, "Cases unavailable", f"Temporal did not answer: {err.message}")
    # Who each case is about, for the cases the user may read (each one logged).
    subjects = label_rows(store, v.principal, rows, purpose_of(v, None))
    pages = max(math.ceil(total / size), 1)
    params = {k: ("1" if val is True else val) for k, val in chosen.items() if val}
    params["size"] = str(size)

    def page_link(n: int) -> str:
        return f"{v.base}/cases?{urlencode(params | {'page': str(n)})}"

    return render(
        v,
        "cases.html",
        rows=rows,
        chosen=chosen,
        stages=[(s.name, s.value) for s in Stage],
        outcomes=[(o.name, o.value) for o in Outcome],
        kinds=CASE_KINDS,
        page=page,
        pages=pages,
        size=size,
        sizes=PAGE_SIZES,
        total=total,
        why=why,
        subjects=subjects,
        gaps=gaps,
        error=error,
        page_link=page_link,
        now=now,
    )


# --- the case page -----------------------------------------------------------------
@router.get("/cases/{case_id:path}", response_model=None)
async def show_case(v: Staff, case_id: str, purpose: str | None = None) -> Response:
    why = purpose_of(v, purpose)
    # Opened from another site's link: ask first, so no other site can make a
    # signed-in user's browser record a consultation in their name.
    cross_site = v.request.headers.get("sec-fetch-site") == "cross-site"
    if not why or cross_site:
        return render(v, "purpose.html", case_id=case_id, suggested=why or "")
    return await case_page(v, case_id, why)


async def case_page(
    v: SignedIn,
    case_id: str,
    purpose: str,
    *,
    status: int = 200,
    refusal: str | None = None,
    errors: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The case page read with ``purpose`` (also the answer to a decision refused or
    with mistakes: ``refusal``, ``errors``)."""
    web = state_of(v.request)
    config, store = web.config, web.store
    client = await web.connect()
    who = v.principal
    try:
        state = await read_case(client, store, case_id, who, purpose)
    except CaseNotFound:
        return problem(v, 404, "No such case", f"There is no case {case_id}.")
    except AccessRefused as err:
        return problem(v, 403, "Not allowed", str(err))
    except CaseUnreadable as err:
        log.warning("web case unreadable", case_id=case_id, why=err.why)
        return problem(
            v, 409, "Case cannot be read right now", f"{err.detail} (Error: {err.error})"
        )
    except RPCError as err:
        return problem(v, 503, "Case unavailable", f"Temporal did not answer: {err.message}")
    access_log = None
    if may(who, Capability.AUDIT):
        access_log = list(reversed(audit(store, who, case_id=case_id)))
    temporal_link = None
    if config.temporal_ui and may_decode(who, case_id):  # else it would show ciphertext
        try:
            described = await client.get_workflow_handle(case_id).describe()
            temporal_link = (
                f"{config.temporal_ui.rstrip('/')}/namespaces/{quote(config.namespace)}"
                f"/workflows/{quote(case_id, safe='')}/{quote(described.run_id)}/history"
            )
        except RPCError:
            temporal_link = None
    # The force is known once the case is read: its event's (an encounter) or the ID's.
    force = state.event.force if isinstance(state, EncounterState) else None
    mine = decisions_for(who, case_ref(case_id, force=force))
    forms: list[DecisionForm] = [
        f for f in decisions_accepted(state.awaiting, who.role) if f.kind in mine
    ]
    if state.tasks:  # issue 21: claim, give back, reassign, bring forward, allocate
        forms += [
            _task_form(k, [t.kind for t in state.tasks])
            for k in sorted(TASK_KINDS)
            if k in mine and k not in state.awaiting
        ]
    others = [
        (kind, decision_form(kind).roles if known_kind(kind) else [])
        for kind in state.awaiting
        if kind not in {f.kind for f in forms}
    ]
    return render(
        v,
        "case.html",
        status,
        case=state,
        kind=_kind_of(state),
        facts=_facts(state),
        purpose=purpose,
        access_log=access_log,
        temporal_link=temporal_link,
        forms=forms,
        others=others,
        refusal=refusal,
        errors=errors or {},
        timeline=list(reversed(state.timeline)),
        convictions=convictions_shown(store, state, who, purpose),
        now=datetime.now(UTC),
        prefill={},  # issue 21: no answer filled in for the user (not even their name)
        files=case_files(store, case_id, who, purpose),
        may_reopen=may(who, Capability.REOPEN) and _kind_of(state) == "casework",
    )


def _stuck_why(why: str) -> str:
    """A stuck row's reason in words (a reason code is named as such)."""
    if why == CANNOT_REPLAY:
        return "its history cannot be replayed by the current workers (cannot_replay)"
    if why == QUERY_FAILED:
        return "its state cannot be read (query_failed)"
    return why


def _kind_of(state: CaseView) -> str:
    kind = kind_of_state(state)
    return kind.name if kind else "other"


def _facts(state: CaseView) -> list[tuple[str, Any]]:
    """A case of another kind (a notification, …): its own simple fields, by name."""
    if isinstance(state, (CaseworkState, EncounterState)):
        return []
    simple = (str, int, float, bool, datetime, date)
    return [
        (labels.words(name), value)
        for name in type(state).model_fields
        if name not in CaseView.model_fields
        and isinstance(value := getattr(state, name), simple)
        and value != ""
    ]


def _task_form(kind: str, open_tasks: list[str]) -> DecisionForm:
    """A task decision's form, its ``task`` a choice of the case's open tasks."""
    form = decision_form(kind)
    fields = [
        f.model_copy(update={"choices": open_tasks}) if f.name == "task" else f for f in form.fields
    ]
    return form.model_copy(update={"fields": fields})
