"""Staff notes and attachments of a case (``store.case_files``), through the policy: who
may read the case in full may read them, for a stated purpose (each read logged); who
works cases may add them (``Capability.CASE_FILES``; each write logged as a
collection). They never enter the workflow: a decision names an attachment by its ID.

    await case_files_allowed(client, case_id, principal, write=False)   (403, 404)
    staff(principal) -> Staff
    read_purpose(stated, principal) -> str                              (403 without one)
    unknown_attachments(store, case_id, decision) -> [attachment IDs the case lacks]
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio.client import Client

from access.diagnosis import describe
from access.errors import AccessRefused, NotPermitted
from access.policy import Access, Capability, require, require_read, resolve_case
from identity.principal import Principal
from store.case_files import Staff
from store.cases import CaseStore


async def case_files_allowed(
    client: Client, case_id: str, principal: Principal, *, write: bool = False
) -> None:
    """Refuse (``NotPermitted``) unless ``principal`` reads the case in full (and, to
    write, works cases); ``CaseNotFound`` when there is no such case."""
    ref = await resolve_case(client, case_id, principal)
    if require_read(principal, ref) is not Access.FULL:
        raise NotPermitted(
            "Not permitted: notes and attachments are for those who read the case in full.",
            code="not_permitted",
        )
    if write:
        require(principal, Capability.CASE_FILES)
    await describe(client, case_id)  # CaseNotFound: 404


def staff(principal: Principal) -> Staff:
    return Staff(name=principal.name, subject=principal.subject, role=principal.role)


def read_purpose(stated: str | None, principal: Principal) -> str:
    purpose = (stated or "").strip() or (principal.reason or "").strip()
    if not purpose:
        raise AccessRefused(
            "State the purpose of this read: reading a case's notes or attachments is "
            "logged with its justification (--reason, the X-Reason header, or FNO_REASON)."
        )
    return purpose


def unknown_attachments(store: CaseStore, case_id: str, decision: BaseModel) -> list[str]:
    """The attachment IDs ``decision`` names (its ``*attachment_id`` fields) that are not
    attachments of ``case_id``: a decision carries only claim checks of this case's."""
    named = [
        value
        for name, value in decision
        if name.endswith("attachment_id") and isinstance(value, str) and value
    ]
    if not named:
        return []
    known = {a.id for a in store.attachments(case_id)}
    return [a for a in named if a not in known]
