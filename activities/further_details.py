"""Further details of a country's reply (issue 20, h2; DOMAIN.md step 4, the Romanian
seed case): ACRO asks the country for the nature of the offences when a serious reply
lacks it, chases, and collects the supplement, which completes the certificate in the
case store — the sentence on each conviction, the supplement beside it — so the
certificate stays one document (destroying it destroys the details too) and the
workflow carries no conviction detail, only whether a sentence is still missing.

Part of ``EncounterActivities`` (``activities.encounter_steps``); the rules of
``activities.steps`` hold here.
"""

from __future__ import annotations

import json

import structlog
from sqlmodel import Session
from temporalio import activity

from activities.core import CoreActivities, as_of, refusals_surface
from activities.gateways import Gateways
from models.reference import offences
from models.steps import (
    FurtherDetailsChaser,
    FurtherDetailsPoll,
    FurtherDetailsRef,
    FurtherDetailsRequest,
    FurtherDetailsResult,
)
from store.access_log import commit_once
from store.cases import AccessLogEntry, Document

log = structlog.get_logger("fno.activities")


class FurtherDetailsActivities(CoreActivities):
    """Asking a country for further details, over the ACRO gateway (``g``)."""

    g: Gateways

    @activity.defn(name="request_further_details")
    @refusals_surface
    def request_further_details(self, req: FurtherDetailsRequest) -> FurtherDetailsRef:
        ref = self.g.acro.request_further_details(
            req.idempotency_key, req.request_ref, as_of(req.as_of)
        )
        log.info("further details requested", country=req.country, ref=ref)
        return FurtherDetailsRef(details_ref=ref)

    @activity.defn(name="send_further_details_chaser")
    @refusals_surface
    def send_further_details_chaser(self, req: FurtherDetailsChaser) -> None:
        self.g.acro.send_further_details_chaser(
            req.idempotency_key, req.details_ref, req.chaser_number
        )
        log.info("further details chased", country=req.country, chaser=req.chaser_number)

    @activity.defn(name="collect_further_details")
    @refusals_surface
    def collect_further_details(self, poll: FurtherDetailsPoll) -> FurtherDetailsResult:
        """Ask ACRO whether the details have come; if so, complete the stored certificate
        (once: a repeat finds it completed) and say whether a sentence is still missing."""
        details = self.g.acro.fetch_further_details(poll.details_ref, poll.as_of)
        if details is None:
            return FurtherDetailsResult()
        table = offences()
        with Session(self.store.engine) as session:
            doc = session.get(Document, poll.document_id)
            if doc is None:
                raise KeyError(f"no document {poll.document_id!r}")
            if doc.content is None:  # destroyed meanwhile: nothing to complete
                return FurtherDetailsResult(received=True)
            content = json.loads(doc.content)
            if "further_details" not in content:
                for c in content.get("convictions", []):
                    if (c.get("sentence") or "").strip():
                        continue
                    match = next(
                        (
                            d
                            for d in details.convictions
                            if d.offence == c.get("offence")
                            and d.convicted_on == c.get("convicted_on")
                            and d.sentence
                        ),
                        None,
                    )
                    if match is not None:
                        c["sentence"] = match.sentence
                content["further_details"] = details.model_dump(mode="json")
                doc.content = json.dumps(content, default=str)
                session.add(doc)
                session.add(
                    AccessLogEntry(
                        act_key=f"alteration:{poll.document_id}:further-details",
                        actor="ACRO",
                        role="system",
                        action="alteration",
                        case_id=doc.case_id,
                        document_id=poll.document_id,
                        justification=f"further details from {details.country} "
                        f"({poll.details_ref}): the nature of the offences",
                    )
                )
                commit_once(session)
        missing = any(
            not (c.get("sentence") or "").strip()
            for c in content.get("convictions", [])
            if c.get("offence") not in table
            or table[c["offence"]].serious
            or table[c["offence"]].borderline
        )
        log.info("further details received", country=details.country, document_id=poll.document_id)
        return FurtherDetailsResult(received=True, details_missing=missing)
