"""Stage 1 to removal's activities (issue 21, DOMAIN.md step 10): the Stage 1 notice and
the deportation order served by a means (the service time comes back), ICE asked to
detain with the disclosable evidence's reference, the submission to the CC Director
(its reasons stored in the case store as a document of kind ``submission``), ACRO told
an appeal was allowed, the notifications after removal — each returning the reference
the other system gave.

The correspondence, ICE and ACRO gateways also play these steps
(``DeportationGateway``; the simulator's are ``sim.notices``). No reasons text in a
log line: only the document's ID. Part of ``CaseActivities`` (``activities.steps``);
the rules there hold here.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol, cast

import structlog
from temporalio import activity

from activities.core import CoreActivities, as_of, refusals_surface
from activities.gateways import Gateways
from models.deportation_steps import (
    IceDetentionRequest,
    NoticeService,
    NotificationsSent,
    ServedNotice,
    Submission,
    SubmissionSent,
)
from models.steps import Notification, Reference, SubjectStep

log = structlog.get_logger("fno.activities")


class DeportationGateway(Protocol):
    """What Home Office correspondence, ICE and ACRO do for Stage 1 to removal."""

    def serve_notice_by(
        self, key: str, subject_key: str, notice: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]: ...

    def serve_deportation_order(
        self, key: str, subject_key: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]: ...

    def request_detention_with_evidence(
        self, key: str, subject_key: str, evidence_ref: str
    ) -> str: ...

    def submit_to_director_with(self, key: str, subject_key: str, document_id: str) -> str: ...

    def advise_acro_appeal_allowed(self, key: str, subject_key: str) -> str: ...

    def notify_with_refs(
        self, key: str, subject_key: str, recipients: list[str], subject_line: str
    ) -> dict[str, str]: ...


def submission_document_id(idempotency_key: str) -> str:
    """The submission's document ID: the same for the same step (a retry stores it once)."""
    return "submission-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


class DeportationActivities(CoreActivities):
    """Stage 1 to removal over the gateways (``g``, set by ``CaseActivities``)."""

    g: Gateways

    def _world(self, gateway: object) -> DeportationGateway:
        return cast(DeportationGateway, gateway)

    @activity.defn(name="serve_stage1_by")
    @refusals_surface
    def serve_stage1_by(self, req: NoticeService) -> ServedNotice:
        ref, served = self._world(self.g.correspondence).serve_notice_by(
            req.idempotency_key, req.subject_key, req.notice, req.means, as_of(req.as_of)
        )
        return ServedNotice(ref=ref, served_at=served)

    @activity.defn(name="serve_deportation_order")
    @refusals_surface
    def serve_deportation_order(self, req: NoticeService) -> ServedNotice:
        ref, served = self._world(self.g.correspondence).serve_deportation_order(
            req.idempotency_key, req.subject_key, req.means, as_of(req.as_of)
        )
        return ServedNotice(ref=ref, served_at=served)

    @activity.defn(name="ask_ice_to_detain_with_evidence")
    @refusals_surface
    def ask_ice_to_detain_with_evidence(self, req: IceDetentionRequest) -> Reference:
        evidence = ",".join(req.evidence_document_ids)
        ref = self._world(self.g.ice).request_detention_with_evidence(
            req.idempotency_key, req.subject_key, evidence
        )
        return Reference(ref=ref)

    @activity.defn(name="submit_to_director_with_reasons")
    @refusals_surface
    def submit_to_director_with_reasons(self, req: Submission) -> SubmissionSent:
        """The submission stored as a case-store document (kind ``submission``), then
        sent to the CC Director: its document ID and the Director's office's reference."""
        document_id = submission_document_id(req.idempotency_key)
        self.store.put_document(
            document_id,
            req.case_id,
            "submission",
            {"reasons": req.reasons, "author": req.author, "at": as_of(req.as_of).isoformat()},
            actor=req.case_id,
            role="system",
            justification="submission to the CC Director: deportation not pursued",
        )
        ref = self._world(self.g.correspondence).submit_to_director_with(
            req.idempotency_key, req.subject_key, document_id
        )
        log.info("submission stored and sent", document_id=document_id)
        return SubmissionSent(document_id=document_id, ref=ref)

    @activity.defn(name="advise_acro_appeal_allowed")
    @refusals_surface
    def advise_acro_appeal_allowed(self, req: SubjectStep) -> Reference:
        ref = self._world(self.g.acro).advise_acro_appeal_allowed(
            req.idempotency_key, req.subject_key
        )
        return Reference(ref=ref)

    @activity.defn(name="send_notifications_with_refs")
    @refusals_surface
    def send_notifications_with_refs(self, req: Notification) -> NotificationsSent:
        refs = self._world(self.g.correspondence).notify_with_refs(
            req.idempotency_key, req.subject_key, req.recipients, req.subject_line
        )
        return NotificationsSent(refs=refs)
