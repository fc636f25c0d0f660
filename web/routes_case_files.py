"""A case's staff notes and attachments in the web app (issue 21; ``access.case_files``,
``store.case_files``): ``POST /cases/{id}/notes`` adds a note (CSRF-checked; logged as
a collection) and ``GET /cases/{id}/attachments/{att}?purpose=…`` opens an attachment
(logged as a consultation with the purpose). The case page lists both (``case_files``).
Registered before the case page's route, whose path would take these."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from temporalio.service import RPCError

from access.case_files import case_files_allowed, staff
from access.errors import AccessRefused, CaseNotFound
from access.policy import Access, case_ref, read_access
from identity.principal import Principal
from store.case_files import MAX_NOTE_CHARS, is_attachment_id
from store.cases import CaseStore
from web.sessions import csrf_ok
from web.visits import Staff, Store, Temporal, form_of, problem, purpose_of, redirect

router = APIRouter()


def case_files(store: CaseStore, case_id: str, who: Principal, purpose: str) -> dict[str, Any]:
    """The notes (their read logged) and attachments (described) the case page shows;
    none for a case ``who`` does not read in full or that is not casework."""
    ref = case_ref(case_id)
    if ref.kind != "casework" or read_access(who, ref) is not Access.FULL:
        return {"notes": [], "attachments": []}
    return {
        "notes": store.notes(case_id, by=staff(who), purpose=purpose),
        "attachments": store.attachments(case_id),
    }


@router.post("/cases/{case_id:path}/notes", response_model=None)
async def add_note(v: Staff, case_id: str, connect: Temporal, store: Store) -> Response:
    form = await form_of(v.request)
    if not csrf_ok(v.session, form.get("csrf_token")):
        return problem(v, 403, "Form expired", "The form had expired: nothing was added.")
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        return problem(
            v, 422, "Note not added", f"Write a note of 1 to {MAX_NOTE_CHARS} characters."
        )
    try:
        await case_files_allowed(await connect(), case_id, v.principal, write=True)
    except AccessRefused as err:
        return problem(v, 403, "Not allowed", str(err))
    except CaseNotFound:
        return problem(v, 404, "No such case", f"There is no case {case_id}.")
    except RPCError as err:
        return problem(v, 503, "Note not added", f"Temporal did not answer: {err.message}")
    await asyncio.to_thread(store.add_note, case_id, text, by=staff(v.principal))
    v.session["flash"] = "Note added."
    purpose = purpose_of(v, form.get("purpose")) or "adding a note"
    return redirect(
        v, f"{v.base}/cases/{quote(case_id, safe='')}?{urlencode({'purpose': purpose})}"
    )


@router.get("/cases/{case_id:path}/attachments/{attachment_id}", response_model=None)
async def open_attachment(
    v: Staff,
    case_id: str,
    attachment_id: str,
    connect: Temporal,
    store: Store,
    purpose: str | None = None,
) -> Response:
    why = purpose_of(v, purpose)
    if not why:
        return problem(
            v, 403, "State a purpose", "Opening an attachment is logged with its purpose."
        )
    try:
        await case_files_allowed(await connect(), case_id, v.principal)
    except AccessRefused as err:
        return problem(v, 403, "Not allowed", str(err))
    except CaseNotFound:
        return problem(v, 404, "No such case", f"There is no case {case_id}.")
    except RPCError as err:
        return problem(v, 503, "Attachment unavailable", f"Temporal did not answer: {err.message}")
    try:
        if not is_attachment_id(attachment_id):
            raise KeyError(attachment_id)
        att = await asyncio.to_thread(
            store.read_attachment, case_id, attachment_id, by=staff(v.principal), purpose=why
        )
    except KeyError:
        return problem(v, 404, "No such attachment", f"The case has no attachment {attachment_id}.")
    if att.content is None:
        return problem(v, 410, "Attachment destroyed", "Its content was destroyed.")
    return Response(
        att.content,
        media_type=att.media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.filename)}"},
    )
