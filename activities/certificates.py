"""A country's certificate, read from the case store by the activities that need its
convictions: workflows carry only its claim check (``models.case.CertificateRef``),
never an offence code or a date, so destroying the document leaves nothing behind.

Each read is a consultation in the access log, under the case, with its purpose.
"""

from __future__ import annotations

from collections.abc import Callable

from activities.gateways import ConvictionRecord, CountryReply
from models.case import CertificateRef
from models.reference import offences
from store.cases import CaseStore


def convictions_in(
    store: CaseStore, document_id: str, *, case_id: str, why: str, step: str
) -> list[ConvictionRecord]:
    """The certificate's convictions; none once it has been destroyed. The read is
    logged once per ``step`` (the step's idempotency key): a retried activity reads
    again, and that is the same consultation."""
    doc = store.document(document_id)
    if doc is None:
        raise KeyError(f"no document {document_id!r}")
    store.log(
        actor=case_id,
        role="system",
        action="consultation",
        case_id=doc.case_id,
        document_id=document_id,
        justification=why,
        act_key=f"consultation:{step}:{document_id}",
    )
    if doc.content is None:
        return []
    return CountryReply.model_validate_json(doc.content).convictions


def offences_in(
    store: CaseStore,
    document_ids: list[str],
    *,
    case_id: str,
    why: str,
    step: str,
    which: Callable[[str], bool] = lambda code: True,
) -> list[str]:
    """The offence codes (``which`` of them) on the certificates, each once, sorted."""
    return sorted(
        {
            c.offence
            for document_id in document_ids
            for c in convictions_in(store, document_id, case_id=case_id, why=why, step=step)
            if which(c.offence)
        }
    )


def claim_check(document_id: str, reply: CountryReply) -> CertificateRef:
    """What a case may know of a stored reply: counts and flags, no conviction detail.

    Triage by the offence table in force (``models.reference.offences``: the bundled
    table or ``FNO_OFFENCE_TABLE``'s, read here in an activity, never by a workflow):
    serious when any offence is serious; an offence the table does not know, or marks
    borderline, is left to an ACRO officer (``needs_triage``), never a fault; a
    conviction that is or may be serious with no sentence stated lacks the nature of
    the offence (``details_missing``: further details are asked of the country)."""
    table = offences()
    known = [(c, table[c.offence]) for c in reply.convictions if c.offence in table]
    unknown = [c for c in reply.convictions if c.offence not in table]
    maybe_serious = [c for c, o in known if o.serious or o.borderline] + unknown
    return CertificateRef(
        document_id=document_id,
        country=reply.country,
        purpose=reply.purpose,
        received_at=reply.replied_at,
        conviction_count=len(reply.convictions),
        serious=any(o.serious for _, o in known),
        most_serious=any(o.most_serious for _, o in known),
        needs_triage=bool(unknown) or any(o.borderline for _, o in known),
        details_missing=any(not (c.sentence or "").strip() for c in maybe_serious),
    )
