"""The stuck-case rows of replies pushed in (issue 22): a reply ACRO delivered that no
case took — to a request nobody recorded (``reply_kept_unknown``) or to a case that had
closed (``reply_kept_closed``). Kept in the case store (``store.replies``, the
certificate a document like any other), listed here until someone deals with it. Only
ACRO's references in a row: nothing of the reply's content."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from access.stuck_rows import StuckCase
from store.replies import RepliesStore

KEPT_WHY = {
    "kept_unknown": "an ACRO reply to a request no case made: kept, not delivered",
    "kept_closed": "an ACRO reply that came after its case closed: kept, not acted on",
}


class _Replies(RepliesStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


async def kept_reply_rows(engine: Engine) -> list[StuckCase]:
    kept = await asyncio.to_thread(_Replies(engine).kept_acro_replies)
    return [
        StuckCase(
            case_id=r.workflow_id or f"acro-reply:{r.reply_id}",
            stage=f"ACRO replies: request {r.request_ref}",
            why=KEPT_WHY.get(r.status, r.status),
            since=r.received_at,
            code=f"reply_{r.status}",
        )
        for r in kept
    ]
