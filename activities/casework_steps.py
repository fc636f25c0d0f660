"""Criminal Casework's activities: CID, the PNC, NBTC, ICE, the police, Home Office
correspondence, and destroying a non-disclosable certificate.

Part of ``CaseActivities`` (``activities.steps``); the rules there hold here.
"""

from __future__ import annotations

import structlog
from temporalio import activity

from activities.certificates import offences_in
from activities.core import CoreActivities, as_of, refusals_surface
from activities.gateways import Gateways
from models.reference import offences as offence_table
from models.steps import (
    CaseNote,
    CertificateDestruction,
    CidCaseCreation,
    CidCaseRef,
    IceStatus,
    IceStatusQuery,
    NbtcAnswer,
    NbtcQuery,
    Notification,
    PncOffencesAnswer,
    PncOffencesQuery,
    Reference,
    Stage1Notice,
    SubjectStep,
)

log = structlog.get_logger("fno.activities")


class CaseworkActivities(CoreActivities):
    """Criminal Casework's steps over the gateways (``g``, set by ``CaseActivities``)."""

    g: Gateways

    @activity.defn(name="check_offences_on_pnc")
    @refusals_surface
    def check_offences_on_pnc(self, q: PncOffencesQuery) -> PncOffencesAnswer:
        """Whether the serious offences (and any the table does not know) of the
        certificates are on the PNC; cases recorded before the claim check name them."""
        table = offence_table()
        offences = q.offences or offences_in(
            self.store,
            q.document_ids,
            case_id=q.case_id,
            why="disclosability check: are the overseas offences on the PNC",
            step=f"{q.case_id}/disclosability",
            which=lambda code: code not in table or table[code].serious,
        )
        return PncOffencesAnswer(all_on_pnc=self.g.pnc.offences_on_record(q.subject_key, offences))

    @activity.defn(name="note_on_cid")
    @refusals_surface
    def note_on_cid(self, req: CaseNote) -> None:
        self.g.cid.add_note(req.idempotency_key, req.subject_key, req.text)

    @activity.defn(name="destroy_certificate")
    @refusals_surface
    def destroy_certificate(self, req: CertificateDestruction) -> None:
        """Delete the certificate for real: in the case store and the copy ACRO passed us."""
        self.store.destroy_document(
            req.document_id, step=req.step, reason=req.reason, actor=req.case_id
        )
        self.g.acro.destroy_certificate(req.document_id.removeprefix("certificate-"))
        log.info("non-disclosable certificate destroyed", document_id=req.document_id)

    @activity.defn(name="create_cid_case")
    @refusals_surface
    def create_cid_case(self, req: CidCaseCreation) -> CidCaseRef:
        offences = req.offences or offences_in(
            self.store,
            req.certificate_ids,
            case_id=req.case_id,
            why="CID case creation: overseas convictions information",
            step=req.idempotency_key,
        )
        ref, created = self.g.cid.create_case(
            req.idempotency_key, req.subject_key, req.nationality, offences
        )
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            nationality=req.nationality,
            cid_ref=ref,
            encounter_ids=req.encounter_ids,
            convictions=offences,
            justification=(
                "CID case created: case details and overseas convictions"
                if created
                else "CID record updated: case details and overseas convictions"
            ),
        )
        return CidCaseRef(cid_ref=ref, created=created)

    @activity.defn(name="add_cid_calendar_event")
    @refusals_surface
    def add_cid_calendar_event(self, req: SubjectStep) -> None:
        event, status = "CC - ACRO Referral", "Completed"
        self.g.cid.add_calendar_event(req.idempotency_key, req.detail, event, status)
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            calendar_event={"event": event, "status": status, "at": as_of(req.as_of).isoformat()},
            justification=f"CID calendar event '{event}' ({status})",
        )

    @activity.defn(name="request_pnc_check")
    @refusals_surface
    def request_pnc_check(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.pnc.request_pnc_check(req.idempotency_key, req.subject_key))

    @activity.defn(name="create_paper_file")
    @refusals_surface
    def create_paper_file(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.cid.create_paper_file(req.idempotency_key, req.subject_key))

    @activity.defn(name="record_outcome_on_cid")
    @refusals_surface
    def record_outcome_on_cid(self, req: CaseNote) -> None:
        self.g.cid.record_outcome(req.idempotency_key, req.subject_key, req.text)
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            outcome=req.text,
            justification=f"case outcome: {req.text}",
        )

    @activity.defn(name="nbtc_departure_check")
    @refusals_surface
    def nbtc_departure_check(self, q: NbtcQuery) -> NbtcAnswer:
        left, on = self.g.nbtc.departure_check(q.subject_key, q.as_of)
        return NbtcAnswer(left_uk=left, departed_on=on)

    @activity.defn(name="add_wanted_marker")
    @refusals_surface
    def add_wanted_marker(self, req: SubjectStep) -> Reference:
        """ICD.5079 to the PNC Bureau: wanted/missing marker."""
        return Reference(ref=self.g.pnc.add_wanted_marker(req.idempotency_key, req.subject_key))

    @activity.defn(name="remove_wanted_marker")
    @refusals_surface
    def remove_wanted_marker(self, req: SubjectStep) -> None:
        """ICD.5080: the wanted/missing marker comes off once the subject is located."""
        self.g.pnc.remove_wanted_marker(req.idempotency_key, req.subject_key)

    @activity.defn(name="task_ice_to_locate")
    @refusals_surface
    def task_ice_to_locate(self, req: SubjectStep) -> Reference:
        ref = self.g.ice.task_to_locate(req.idempotency_key, req.subject_key, as_of(req.as_of))
        return Reference(ref=ref)

    @activity.defn(name="ice_tasking_status")
    @refusals_surface
    def ice_tasking_status(self, q: IceStatusQuery) -> IceStatus:
        return IceStatus(status=self.g.ice.tasking_status(q.tasking_ref, q.as_of))

    @activity.defn(name="contact_investigating_officer")
    @refusals_surface
    def contact_investigating_officer(self, req: SubjectStep) -> None:
        self.g.police.contact_investigating_officer(
            req.idempotency_key, req.case_id, req.subject_key
        )

    @activity.defn(name="serve_stage1_notice")
    @refusals_surface
    def serve_stage1_notice(self, req: Stage1Notice) -> Reference:
        ref = self.g.correspondence.serve_notice(
            req.idempotency_key, req.subject_key, req.notice, req.response_days
        )
        return Reference(ref=ref)

    @activity.defn(name="ask_ice_to_detain")
    @refusals_surface
    def ask_ice_to_detain(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.ice.request_detention(req.idempotency_key, req.subject_key))

    @activity.defn(name="submit_to_director")
    @refusals_surface
    def submit_to_director(self, req: SubjectStep) -> Reference:
        return Reference(
            ref=self.g.correspondence.submit_to_director(req.idempotency_key, req.subject_key)
        )

    @activity.defn(name="refer_to_removals_casework")
    @refusals_surface
    def refer_to_removals_casework(self, req: SubjectStep) -> Reference:
        return Reference(
            ref=self.g.correspondence.refer_to_removals_casework(
                req.idempotency_key, req.subject_key
            )
        )

    @activity.defn(name="advise_acro_deportation_not_pursued")
    @refusals_surface
    def advise_acro_deportation_not_pursued(self, req: SubjectStep) -> None:
        self.g.acro.advise_deportation_not_pursued(req.idempotency_key, req.subject_key)

    @activity.defn(name="send_notifications")
    @refusals_surface
    def send_notifications(self, req: Notification) -> None:
        self.g.correspondence.notify(
            req.idempotency_key, req.subject_key, req.recipients, req.subject_line
        )
