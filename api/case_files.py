"""Staff notes and attachments of a case (``access.case_files``, ``store.case_files``):

    POST /cases/{case_id}/notes                 {"text"}: 201 the note (a collection)
    GET  /cases/{case_id}/notes                 the notes (needs X-Reason: a consultation)
    POST /cases/{case_id}/attachments?kind=…&filename=…   the document's bytes as the
                                                body, its media type as Content-Type
                                                (PDF, PNG, JPEG, plain text; at most
                                                5 MiB): 201 the attachment described
    GET  /cases/{case_id}/attachments           the attachments described (no bytes)
    GET  /cases/{case_id}/attachments/{att}     the document (X-Reason: a consultation);
                                                410 once destroyed

403 who may not, 404 no such case or attachment, 413 too large, 415 a media type not
allowed, 422 a kind or file name not allowed. A decision names an attachment by its ID
(claim check); none of this enters the workflow.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from access.case_files import case_files_allowed, read_purpose, staff
from api.deps import PersonD, PurposeD, StoreD, TemporalD
from store.case_files import (
    MAX_ATTACHMENT_BYTES,
    MAX_NOTE_CHARS,
    MEDIA_TYPES,
    AttachmentRefused,
    NoteInfo,
    is_attachment_id,
)

router = APIRouter()


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


@router.post("/cases/{case_id:path}/notes", status_code=201)
async def post_note(
    case_id: str, body: NoteBody, who: PersonD, client: TemporalD, store: StoreD
) -> Any:
    await case_files_allowed(client, case_id, who, write=True)
    note = await asyncio.to_thread(store.add_note, case_id, body.text, by=staff(who))
    return JSONResponse(NoteInfo.of(note).model_dump(mode="json"), status_code=201)


@router.get("/cases/{case_id:path}/notes")
async def get_notes(
    case_id: str, who: PersonD, reason: PurposeD, client: TemporalD, store: StoreD
) -> Any:
    await case_files_allowed(client, case_id, who)
    purpose = read_purpose(reason, who)
    notes = await asyncio.to_thread(store.notes, case_id, by=staff(who), purpose=purpose)
    return JSONResponse([NoteInfo.of(n).model_dump(mode="json") for n in notes])


@router.post("/cases/{case_id:path}/attachments", status_code=201)
async def post_attachment(
    case_id: str,
    request: Request,
    who: PersonD,
    client: TemporalD,
    store: StoreD,
    kind: Annotated[str, Query(max_length=40)],
    filename: Annotated[str, Query(min_length=1, max_length=200)],
) -> Any:
    await case_files_allowed(client, case_id, who, write=True)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise HTTPException(
            415, f"send the document as one of: {', '.join(MEDIA_TYPES)} (Content-Type)"
        )
    content = await request.body()
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise HTTPException(413, f"the limit for an attachment is {MAX_ATTACHMENT_BYTES} bytes")
    try:
        att = await asyncio.to_thread(
            store.add_attachment,
            case_id,
            kind=kind,
            filename=filename,
            media_type=media_type,
            content=content,
            by=staff(who),
        )
    except AttachmentRefused as err:
        raise HTTPException(422, str(err)) from None
    described = next(a for a in store.attachments(case_id) if a.id == att.id)
    return JSONResponse(described.model_dump(mode="json"), status_code=201)


@router.get("/cases/{case_id:path}/attachments")
async def get_attachments(case_id: str, who: PersonD, client: TemporalD, store: StoreD) -> Any:
    await case_files_allowed(client, case_id, who)
    listed = await asyncio.to_thread(store.attachments, case_id)
    return JSONResponse([a.model_dump(mode="json") for a in listed])


@router.get("/cases/{case_id:path}/attachments/{attachment_id}")
async def get_attachment(
    case_id: str,
    attachment_id: str,
    who: PersonD,
    reason: PurposeD,
    client: TemporalD,
    store: StoreD,
) -> Response:
    await case_files_allowed(client, case_id, who)
    purpose = read_purpose(reason, who)
    if not is_attachment_id(attachment_id):
        raise HTTPException(404, f"no attachment {attachment_id!r}")
    try:
        att = await asyncio.to_thread(
            store.read_attachment, case_id, attachment_id, by=staff(who), purpose=purpose
        )
    except KeyError:
        raise HTTPException(404, f"case {case_id} has no attachment {attachment_id}") from None
    if att.content is None:
        raise HTTPException(410, f"attachment {attachment_id} was destroyed")
    return Response(
        att.content,
        media_type=att.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.filename)}",
            "X-Attachment-SHA256": att.sha256,
        },
    )
