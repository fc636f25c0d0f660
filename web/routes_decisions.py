"""``POST /cases/{id}/decisions``: a decision on a case (CSRF token, a stated reason).

The need-to-know policy (``access.policy``) is asked first: a supervisor makes no
decision, and a role that may not make this kind of decision on this case (a police
officer: only their own force's encounters) is refused here (403), before it reaches
the case. The decision is the signed-in ``Principal``'s (``access.decisions.request_for``:
name, role and ``actor_id``) and goes through the front door
(``access.decisions.send_decision``, inside ``runtime.front_door.acting_as``), so the
case can check who sent it. The form's mistakes come back on the case page (422), and
so does the case's own refusal, with the workflow's reason (409; logged in the case
store's refusal log, not in the case's history). A person's decisions count against the
same rate limit as the HTTP API's (``access.rate_limit``): over it, 429 with
``Retry-After`` and nothing sent; and so is a case taking as many decisions at once as
Temporal lets it (``access.errors.CaseBusy``)."""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError
from temporalio.service import RPCError

from access.decisions import request_for, send_decision
from access.errors import CaseBusy, CaseNotFound, CaseUnreadable, DecisionRefused, NotPermitted
from access.policy import case_ref, may_decide, needs_lookup, resolve_case
from access.rate_limit import RateLimitConfigError, RateLimited, Scope, shared
from models.decision_forms import decision_form
from runtime.logs import get_logger
from web import labels
from web.decision_input import decision_from_form, known_kind
from web.routes_cases import case_page
from web.sessions import csrf_ok
from web.visits import Staff, Store, Temporal, form_of, problem, purpose_of, redirect

log = get_logger("fno.web")
router = APIRouter()


@router.post("/cases/{case_id:path}/decisions", response_model=None)
async def decide(v: Staff, case_id: str, connect: Temporal, store: Store) -> Response:
    form = await form_of(v.request)
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(
            v,
            403,
            "Form expired",
            "The form had expired or did not come from this site: nothing was sent. "
            "Open the case again and resend your decision.",
        )
    kind = form.get("kind", "")
    who = v.principal
    if who.role == "supervisor":
        log.warning("web decision refused: supervisor", case_id=case_id, kind=kind)
        return problem(v, 403, "Not allowed", "A supervisor may read cases but makes no decision.")
    ref = case_ref(case_id)
    try:  # Temporal is asked only when the ID does not tell the force the policy needs
        if needs_lookup(who, ref):
            ref = await resolve_case(await connect(), case_id, who)
    except RPCError as err:
        return problem(v, 503, "Decision not sent", f"Temporal did not answer: {err.message}")
    allowed = known_kind(kind) and may_decide(who, ref, kind)
    if not allowed:
        log.warning("web decision refused: policy", case_id=case_id, kind=kind, role=who.role)
        return problem(
            v,
            403,
            "Not allowed",
            f"A {labels.role(who.role).lower()} may not make this decision on this case.",
        )
    purpose = purpose_of(v, form.get("purpose")) or "deciding on the case"
    spec = decision_form(kind)
    decision, errors = decision_from_form(spec, form)
    reason = form.get("reason", "").strip()
    if len(reason) < 3:
        errors["reason"] = "State the reason for your decision (at least 3 characters)."
    if not errors:
        try:
            req = request_for(who, reason, decision)
        except ValidationError as err:
            for e in err.errors(include_url=False, include_input=False):
                loc = [str(p) for p in e["loc"]]
                name = loc[-1] if loc and loc[0] == "decision" else (loc[0] if loc else "")
                errors[name or "form"] = e["msg"]
    if errors:
        errors["_kind"] = kind
        errors["_values"] = form
        return await case_page(v, case_id, purpose, status=422, errors=errors)
    try:
        shared(os.environ).hit(Scope.DECISION, who.subject)
    except RateLimited as over:
        log.warning("web decision rate limited", case_id=case_id, role=who.role)
        answer = problem(v, 429, "Too many decisions", over.detail)
        answer.headers["Retry-After"] = str(over.retry_after)
        return answer
    except RateLimitConfigError as err:
        log.error("rate limits misconfigured", error=str(err))
        return problem(v, 503, "Decision not sent", "The service is misconfigured; try later.")
    try:
        result = await send_decision(await connect(), case_id, who, req, refusals=store)
    except NotPermitted as err:
        return problem(v, 403, "Not allowed", err.detail)
    except DecisionRefused as err:
        log.info("web decision refused by the case", case_id=case_id, kind=kind)
        return await case_page(
            v, case_id, purpose, status=409, refusal=str(err), errors={"_values": form}
        )
    except CaseBusy as busy:  # back-pressure: nothing sent, send it again
        answer = problem(v, 429, "Case busy", busy.detail)
        answer.headers["Retry-After"] = str(busy.retry_after)
        return answer
    except CaseNotFound:
        return problem(v, 404, "No such case", f"There is no case {case_id}.")
    except CaseUnreadable as err:
        log.warning("web decision to an unreadable case", case_id=case_id, why=err.why)
        return problem(v, 409, "Decision not sent", err.detail)
    except RPCError as err:
        return problem(
            v,
            503,
            "Decision not sent",
            f"Temporal did not answer ({err.message}); the decision may not have been "
            "recorded. Open the case again to see.",
        )
    log.info("web decision", case_id=case_id, kind=kind, role=who.role)
    v.session["flash"] = (
        f"Decision recorded: {labels.decision(kind)}. The case is now at: {result.stage}"
    )
    target = f"{v.base}/cases/{quote(case_id, safe='')}?{urlencode({'purpose': purpose})}"
    return redirect(v, target)
