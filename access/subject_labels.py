"""Who each listed case is about (issue 21), for those who may read the case: the
subject's name and nationality from the case store (``store.case_subjects``), never
from a search attribute. Each case labelled is logged as a consultation under the
proven person, with the listing's purpose.

    label_rows(store, principal, rows, purpose) -> {case_id: SubjectLabel}

The web inbox (``web.routes_inbox``) and any other list call this with its rows
(anything with ``case_id`` and, for encounters, ``force``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from access.policy import case_ref, may_read
from identity.principal import Principal
from store.case_subjects import SubjectLabel
from store.cases import CaseStore

LISTING = "case list"


def label_rows(
    store: CaseStore, principal: Principal, rows: Iterable[Any], purpose: str | None = None
) -> dict[str, SubjectLabel]:
    """Who each of ``rows`` the principal may read is about (the cases without a record
    are left out); each one shown is logged."""
    readable = [
        r.case_id
        for r in rows
        if may_read(principal, case_ref(r.case_id, force=getattr(r, "force", None)))
    ]
    return store.label_cases(
        readable,
        actor=principal.name,
        role=principal.role,
        subject=principal.subject,
        purpose=(purpose or "").strip() or LISTING,
    )
