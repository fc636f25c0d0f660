"""A certificate (a country's reply, stored in the case store) read by a person who
may read its case in full: an ACRO officer triaging a reply (issue 20, h2), a
caseworker. Cases carry only its claim check (``models.case.CertificateRef``), so this
is where its convictions are read; each read is a consultation in the access log, with
the reader's stable identity and purpose. A police officer (redacted encounters) is
refused; a destroyed certificate answers with no content.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio.client import Client

from access.errors import AccessRefused, CaseNotFound, NotPermitted
from access.policy import READ, Access, require_read, resolve_case
from identity.principal import Principal
from store.cases import CaseStore


async def read_certificate(
    client: Client, store: CaseStore, document_id: str, principal: Principal, reason: str | None
) -> dict[str, Any]:
    if Access.FULL not in READ.get(principal.role, {}).values():
        # Before anything is looked up: no answer says whether the document exists.
        raise NotPermitted("your role reads no certificate", "not_permitted")
    purpose = (reason or "").strip() or (principal.reason or "").strip()
    if not purpose:
        raise AccessRefused(
            "State the purpose of this read: reading a certificate is logged with its "
            "justification (the X-Reason header)."
        )
    row = await asyncio.to_thread(store.document, document_id)
    if row is None or not row.kind.startswith("acro_"):
        raise CaseNotFound(f"no certificate {document_id!r}")
    ref = await resolve_case(client, row.case_id, principal)
    if require_read(principal, ref) is not Access.FULL:
        raise NotPermitted("your role reads this case without its certificates", "redacted")
    await asyncio.to_thread(
        store.log,
        actor=principal.name,
        role=principal.role,
        action="consultation",
        case_id=row.case_id,
        justification=purpose,
        document_id=document_id,
        subject=principal.subject,
    )
    return {
        "document_id": row.id,
        "case_id": row.case_id,
        "kind": row.kind,
        "country": row.country,
        "purpose": row.purpose,
        "destroyed": row.content is None,
        "content": None if row.content is None else json.loads(row.content),
    }
