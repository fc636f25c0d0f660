"""The convictions on a case's certificates, for the people who may see them.

A case holds only claim checks of its certificates (``models.case.CertificateRef``);
the content is in the case store. Shown to a person who may read the case in full
(``access.reading.read_case`` decided that, and a redacted encounter holds no
certificate), each certificate read is a consultation of that document in the access
log, under the proven person, with the case read's purpose. A destroyed certificate
has nothing left to show.

``read_certificate`` (``GET /certificates/{document_id}``) serves one certificate to a
person who may read its case in full: an ACRO officer triaging a reply, a caseworker;
a police officer (redacted encounters) is refused before anything is looked up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from access.errors import AccessRefused, CaseNotFound, NotPermitted
from access.kinds import CaseState
from access.policy import READ, Access, require_read, resolve_case
from activities.gateways import CountryReply
from identity.principal import Principal
from models.case import CaseworkState, CertificateRef, EncounterState
from store.cases import CaseStore


class ShownConviction(BaseModel):
    offence: str
    description: str
    convicted_on: str | None = None
    sentence: str | None = None


def certificates_in(state: CaseState) -> list[CertificateRef]:
    """Every certificate the case refers to, destroyed or not."""
    if isinstance(state, EncounterState):
        return [c.certificate for c in state.checks.values() if c.certificate is not None]
    if isinstance(state, CaseworkState):
        found = [c for r in state.referrals for c in r.certificates]
        found += [r.certificate for r in state.immigration_requests if r.certificate is not None]
        return list({c.document_id: c for c in found}.values())
    return []


def convictions_shown(
    store: CaseStore, state: CaseState, principal: Principal, purpose: str
) -> dict[str, list[ShownConviction]]:
    """Each kept certificate's convictions by document ID, every read logged."""
    shown: dict[str, list[ShownConviction]] = {}
    for cert in certificates_in(state):
        doc = None if cert.destroyed else store.document(cert.document_id)
        if doc is None or doc.content is None:
            continue
        reply = CountryReply.model_validate_json(doc.content)
        store.log(
            actor=principal.name,
            role=principal.role,
            subject=principal.subject,
            action="consultation",
            case_id=state.case_id,
            document_id=cert.document_id,
            justification=purpose,
        )
        shown[cert.document_id] = [
            ShownConviction(
                offence=c.offence,
                description=c.description,
                convicted_on=c.convicted_on,
                sentence=c.sentence,
            )
            for c in reply.convictions
        ]
    return shown


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
