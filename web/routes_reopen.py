"""Reopening a closed Criminal Casework case from its page (issue 21;
``access.reopening``): ``POST /cases/{id}/reopen`` with the grounds and the reason,
CSRF-checked, by a senior caseworker or a CC manager; the case page then shows it back
at allocation. Registered before the case page's route, whose path would take it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from temporalio.service import RPCError

from access.errors import AccessRefused, CaseNotFound
from access.reopening import ReopenRefused, reopen_case
from web.sessions import csrf_ok
from web.visits import Staff, Store, Temporal, form_of, problem, purpose_of, redirect

router = APIRouter()
GROUNDS = ("wrongly_closed", "returned_to_uk")


@router.post("/cases/{case_id:path}/reopen", response_model=None)
async def reopen(v: Staff, case_id: str, connect: Temporal, store: Store) -> Response:
    form = await form_of(v.request)
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(v, 403, "Form expired", "The form had expired: the case was not reopened.")
    grounds, reason = form.get("grounds", ""), form.get("reason", "").strip()
    if grounds not in GROUNDS or not 3 <= len(reason) <= 4000:
        return problem(
            v, 422, "Not reopened", "Choose the grounds and give the reason (3 characters or more)."
        )
    try:
        await reopen_case(await connect(), store, case_id, v.principal, grounds, reason)
    except AccessRefused as err:
        return problem(v, 403, "Not allowed", str(err))
    except CaseNotFound:
        return problem(v, 404, "No such case", f"There is no case {case_id}.")
    except ReopenRefused as err:
        return problem(v, 409, "Not reopened", str(err))
    except RPCError as err:
        return problem(v, 503, "Not reopened", f"Temporal did not answer: {err.message}")
    v.session["flash"] = "Case reopened: back to allocation to a CC case owner."
    purpose = purpose_of(v, form.get("purpose")) or "reopening the case"
    return redirect(
        v, f"{v.base}/cases/{quote(case_id, safe='')}?{urlencode({'purpose': purpose})}"
    )
