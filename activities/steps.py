"""Activities: every step of the process that touches another system.

Each is a thin adapter over a gateway (``activities.gateways``): the simulator by
default, a real system by configuration. Each passes the step's idempotency key
through, so a retry, a crash or a replay does the thing once. A gateway's
permanent refusal becomes a non-retryable ``ApplicationError`` that the workflow
records on the case; anything else is retried with backoff.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.gateways import Gateways, PermanentGatewayError
from models.case import CertificateRef, ConvictionSummary
from models.reference import UnknownOffenceError, offence
from models.steps import (
    AcroCheckRequest,
    AcroRequestRef,
    CaseNote,
    CaseworkReferral,
    CertificateDestruction,
    Chaser,
    CidCaseCreation,
    CidCaseRef,
    DecisionLogged,
    EncounterClosed,
    EncounterOpened,
    IceStatus,
    IceStatusQuery,
    IdentityDataRequest,
    NbtcAnswer,
    NbtcQuery,
    Notification,
    PncConvictions,
    PncConvictionsResult,
    PncOffencesAnswer,
    PncOffencesQuery,
    Reference,
    ReplyPoll,
    ReplyPollResult,
    Stage1Notice,
    SubjectStep,
)
from store.cases import CaseStore, EncounterRecord

log = structlog.get_logger("fno.activities")
F = TypeVar("F", bound=Callable[..., Any])

PERMANENT = "PermanentGatewayError"


def _refusals_surface(fn: F) -> F:
    """Turn a gateway's permanent refusal into a non-retryable failure."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PermanentGatewayError, UnknownOffenceError, KeyError) as err:
            # A refusal, or data no retry will mend (an offence code not in the table,
            # a record that is not there): the case shows it and waits for a person.
            raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err

    return wrapper  # type: ignore[return-value]


def _as_of(moment: datetime | None) -> datetime:
    """The step's workflow time; a caller outside a workflow may leave it to now."""
    return moment or datetime.now(UTC)


def activity_methods(obj: object) -> list[Callable[..., Any]]:
    """The bound ``@activity.defn`` methods of ``obj``, for a worker."""
    return [
        getattr(obj, name)
        for name in dir(obj)
        if hasattr(getattr(obj, name), "__temporal_activity_definition")
    ]


class CaseActivities:
    """The activities of both workflows, over one set of gateways and the case store."""

    def __init__(self, gateways: Gateways, store: CaseStore) -> None:
        self.g = gateways
        self.store = store

    def all(self) -> list[Callable[..., Any]]:
        return activity_methods(self)

    # The case store -----------------------------------------------------------------
    @activity.defn
    @_refusals_surface
    def register_encounter(self, req: EncounterOpened) -> None:
        """The custody event's record in the case store; the collection is logged."""
        self.store.open_encounter(
            EncounterRecord(
                case_id=req.case_id,
                force=req.force,
                custody_reference=req.custody_reference,
                reason=req.reason,
                nationality=req.nationality,
                subject_key=req.subject_key,
                opened_at=req.opened_at,
            ),
            officer=req.officer,
        )

    @activity.defn
    @_refusals_surface
    def close_encounter_record(self, req: EncounterClosed) -> None:
        self.store.close_encounter(req.case_id, req.outcome, req.closed_at)

    @activity.defn
    @_refusals_surface
    def record_decision(self, req: DecisionLogged) -> None:
        """A person's decision on a case goes into the access log once."""
        self.store.log(
            actor=req.actor,
            role=req.role,
            action="decision",
            case_id=req.case_id,
            justification=f"{req.kind}: {req.reason}",
            act_key=f"decision:{req.idempotency_key}",
        )

    # ACRO side -----------------------------------------------------------------
    @activity.defn
    @_refusals_surface
    def request_acro_check(self, req: AcroCheckRequest) -> AcroRequestRef:
        ref = self.g.acro.request_check(
            req.idempotency_key,
            req.case_id,
            req.subject_key,
            req.country,
            req.purpose,
            _as_of(req.as_of),
            {
                "reason": req.reason,
                "uk_matter": req.uk_matter,
                "channel": req.channel,
                # The identity data the country matches on (the disclosure logged below).
                "subject": req.subject.model_dump(mode="json"),
            },
        )
        self.store.log(
            actor=req.case_id,
            role="system",
            action="disclosure",
            case_id=req.case_id,
            justification=f"identity data sent to {req.country} via ACRO ({req.purpose}): "
            f"request {ref}",
            act_key=f"disclosure:{req.idempotency_key}",
        )
        log.info("acro check requested", country=req.country, purpose=req.purpose, ref=ref)
        return AcroRequestRef(request_ref=ref)

    @activity.defn
    @_refusals_surface
    def request_missing_identity_data(self, req: IdentityDataRequest) -> None:
        self.g.police.request_identity_data(
            req.idempotency_key, req.subject_key, req.officer.email, req.missing_fields
        )
        log.info("identity data requested from officer", fields=req.missing_fields)

    @activity.defn
    @_refusals_surface
    def collect_country_reply(self, poll: ReplyPoll) -> ReplyPollResult:
        """Ask ACRO for the country's reply; a reply is stored and only its ID returned."""
        reply = self.g.acro.fetch_reply(poll.request_ref, poll.as_of)
        if reply is None:
            return ReplyPollResult()
        document_id = f"certificate-{poll.request_ref}"
        self.store.put_document(
            document_id,
            poll.case_id,
            "acro_certificate",
            reply.model_dump(mode="json"),
            country=reply.country,
            purpose=reply.purpose,
            actor="ACRO",
            role="system",
            justification=f"country reply to ACRO request {poll.request_ref}",
        )
        summary = [
            ConvictionSummary(
                offence=c.offence,
                serious=offence(c.offence).serious,
                most_serious=offence(c.offence).most_serious,
                recordable_on_pnc=c.recordable_on_pnc,
                convicted_on=c.convicted_on,
            )
            for c in reply.convictions
        ]
        log.info("country reply received", country=reply.country, convictions=len(summary))
        return ReplyPollResult(
            certificate=CertificateRef(
                document_id=document_id,
                country=reply.country,
                purpose=reply.purpose,
                convictions=summary,
                received_at=reply.replied_at,
            )
        )

    @activity.defn
    @_refusals_surface
    def send_chaser(self, req: Chaser) -> None:
        self.g.acro.send_chaser(req.idempotency_key, req.request_ref, req.chaser_number)
        log.info("chaser sent", country=req.country, chaser=req.chaser_number)

    @activity.defn
    @_refusals_surface
    def record_convictions_on_pnc(self, req: PncConvictions) -> PncConvictionsResult:
        recordable = [c.offence for c in req.convictions if c.recordable_on_pnc]
        self.g.pnc.record_convictions(req.idempotency_key, req.subject_key, req.pnc_id, recordable)
        return PncConvictionsResult(
            recorded=len(recordable), not_recordable=len(req.convictions) - len(recordable)
        )

    @activity.defn
    async def refer_to_criminal_casework(self, req: CaseworkReferral) -> None:
        """Signal-with-start: the subject's open casework case, or a new one.

        Once only: a retry after the answer was lost (the worker killed) may come after
        the case it started has already concluded; it must not start a second case for
        the same referral. A concluded case whose record lists this encounter took it."""
        # Only a retry can be a repeat: a first attempt may be a later case of the same
        # encounter ID (a new run), which must open its own casework case.
        if activity.info().attempt > 1 and await self._referral_concluded(req):
            log.info("referral already taken by a concluded case", casework_id=req.casework_id)
            return
        await activity.client().start_workflow(
            "CriminalCaseworkWorkflow",
            req.start,
            id=req.casework_id,
            task_queue=activity.info().task_queue,
            start_signal="add_referral",
            start_signal_args=[req.referral],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Criminal Casework ({req.start.nationality}) from ACRO referral",
            static_details="One case per subject: steps 5-10 of the ACRO referral guidance.",
        )
        log.info("referred to criminal casework", casework_id=req.casework_id)

    async def _referral_concluded(self, req: CaseworkReferral) -> bool:
        try:
            described = await activity.client().get_workflow_handle(req.casework_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        if described.status == WorkflowExecutionStatus.RUNNING:
            return False  # it takes the referral (a certificate it holds is ignored)
        record = await asyncio.to_thread(self.store.subject_case, req.start.subject_key)
        return bool(
            record is not None
            and record.outcome
            and req.referral.encounter_id in json.loads(record.encounter_ids)
        )

    # Criminal Casework -----------------------------------------------------------
    @activity.defn
    @_refusals_surface
    def check_offences_on_pnc(self, q: PncOffencesQuery) -> PncOffencesAnswer:
        return PncOffencesAnswer(
            all_on_pnc=self.g.pnc.offences_on_record(q.subject_key, q.offences)
        )

    @activity.defn
    @_refusals_surface
    def note_on_cid(self, req: CaseNote) -> None:
        self.g.cid.add_note(req.idempotency_key, req.subject_key, req.text)

    @activity.defn
    @_refusals_surface
    def destroy_certificate(self, req: CertificateDestruction) -> None:
        """Delete the certificate for real: in the case store and the copy ACRO passed us."""
        self.store.destroy_document(
            req.document_id, step=req.step, reason=req.reason, actor=req.case_id
        )
        self.g.acro.destroy_certificate(req.document_id.removeprefix("certificate-"))
        log.info("non-disclosable certificate destroyed", document_id=req.document_id)

    @activity.defn
    @_refusals_surface
    def create_cid_case(self, req: CidCaseCreation) -> CidCaseRef:
        ref, created = self.g.cid.create_case(
            req.idempotency_key, req.subject_key, req.nationality, req.offences
        )
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            nationality=req.nationality,
            cid_ref=ref,
            encounter_ids=req.encounter_ids,
            convictions=req.offences,
            justification="CID case created: case details and overseas convictions",
        )
        return CidCaseRef(cid_ref=ref, created=created)

    @activity.defn
    @_refusals_surface
    def add_cid_calendar_event(self, req: SubjectStep) -> None:
        event, status = "CC - ACRO Referral", "Completed"
        self.g.cid.add_calendar_event(req.idempotency_key, req.detail, event, status)
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            calendar_event={"event": event, "status": status, "at": _as_of(req.as_of).isoformat()},
            justification=f"CID calendar event '{event}' ({status})",
        )

    @activity.defn
    @_refusals_surface
    def request_pnc_check(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.pnc.request_pnc_check(req.idempotency_key, req.subject_key))

    @activity.defn
    @_refusals_surface
    def create_paper_file(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.cid.create_paper_file(req.idempotency_key, req.subject_key))

    @activity.defn
    @_refusals_surface
    def record_outcome_on_cid(self, req: CaseNote) -> None:
        self.g.cid.record_outcome(req.idempotency_key, req.subject_key, req.text)
        self.store.update_subject_case(
            req.subject_key,
            act_key=f"alteration:{req.idempotency_key}",
            casework_id=req.case_id,
            outcome=req.text,
            justification=f"case outcome: {req.text}",
        )

    @activity.defn
    @_refusals_surface
    def nbtc_departure_check(self, q: NbtcQuery) -> NbtcAnswer:
        left, on = self.g.nbtc.departure_check(q.subject_key, q.as_of)
        return NbtcAnswer(left_uk=left, departed_on=on)

    @activity.defn
    @_refusals_surface
    def add_wanted_marker(self, req: SubjectStep) -> Reference:
        """ICD.5079 to the PNC Bureau: wanted/missing marker."""
        return Reference(ref=self.g.pnc.add_wanted_marker(req.idempotency_key, req.subject_key))

    @activity.defn
    @_refusals_surface
    def remove_wanted_marker(self, req: SubjectStep) -> None:
        """ICD.5080: the wanted/missing marker comes off once the subject is located."""
        self.g.pnc.remove_wanted_marker(req.idempotency_key, req.subject_key)

    @activity.defn
    @_refusals_surface
    def task_ice_to_locate(self, req: SubjectStep) -> Reference:
        ref = self.g.ice.task_to_locate(req.idempotency_key, req.subject_key, _as_of(req.as_of))
        return Reference(ref=ref)

    @activity.defn
    @_refusals_surface
    def ice_tasking_status(self, q: IceStatusQuery) -> IceStatus:
        return IceStatus(status=self.g.ice.tasking_status(q.tasking_ref, q.as_of))

    @activity.defn
    @_refusals_surface
    def contact_investigating_officer(self, req: SubjectStep) -> None:
        self.g.police.contact_investigating_officer(
            req.idempotency_key, req.case_id, req.subject_key
        )

    @activity.defn
    @_refusals_surface
    def serve_stage1_notice(self, req: Stage1Notice) -> Reference:
        ref = self.g.correspondence.serve_notice(
            req.idempotency_key, req.subject_key, req.notice, req.response_days
        )
        return Reference(ref=ref)

    @activity.defn
    @_refusals_surface
    def ask_ice_to_detain(self, req: SubjectStep) -> Reference:
        return Reference(ref=self.g.ice.request_detention(req.idempotency_key, req.subject_key))

    @activity.defn
    @_refusals_surface
    def submit_to_director(self, req: SubjectStep) -> Reference:
        return Reference(
            ref=self.g.correspondence.submit_to_director(req.idempotency_key, req.subject_key)
        )

    @activity.defn
    @_refusals_surface
    def refer_to_removals_casework(self, req: SubjectStep) -> Reference:
        return Reference(
            ref=self.g.correspondence.refer_to_removals_casework(
                req.idempotency_key, req.subject_key
            )
        )

    @activity.defn
    @_refusals_surface
    def advise_acro_deportation_not_pursued(self, req: SubjectStep) -> None:
        self.g.acro.advise_deportation_not_pursued(req.idempotency_key, req.subject_key)

    @activity.defn
    @_refusals_surface
    def send_notifications(self, req: Notification) -> None:
        self.g.correspondence.notify(
            req.idempotency_key, req.subject_key, req.recipients, req.subject_line
        )
