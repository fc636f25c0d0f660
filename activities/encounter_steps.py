"""The encounter's activities: the custody event in the case store, the ACRO check
and the country's reply, identity data from the officer, chasers, convictions on the
PNC, and the referral to Criminal Casework (which also asks ACRO again and collects
the reply: the immigration certificate).

Part of ``CaseActivities`` (``activities.steps``); the rules there hold here.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.certificates import convictions_in
from activities.core import refusals_surface
from activities.further_details import FurtherDetailsActivities
from activities.gateways import ConvictionRecord, Gateways
from activities.replies_in import store_certificate
from activities.reply_steps import ReplyActivities
from models.case import ADD_REFERRAL_SIGNAL, CASEWORK_WORKFLOW, ConvictionSummary
from models.search import casework_opening_search_attributes
from models.steps import (
    CaseworkReferral,
    Chaser,
    EncounterClosed,
    IdentityDataRequest,
    PncConvictions,
    PncConvictionsResult,
    ReplyPoll,
    ReplyPollResult,
)

log = structlog.get_logger("fno.activities")


class EncounterActivities(FurtherDetailsActivities, ReplyActivities):
    """The encounter's steps over the gateways (``g``, set by ``CaseActivities``), with
    further details of a reply (``activities.further_details``)."""

    g: Gateways

    # The case store -----------------------------------------------------------------
    @activity.defn(name="close_encounter_record")
    @refusals_surface
    def close_encounter_record(self, req: EncounterClosed) -> None:
        self.store.close_encounter(req.case_id, req.outcome, req.closed_at)

    # ACRO side -----------------------------------------------------------------
    @activity.defn(name="request_missing_identity_data")
    @refusals_surface
    def request_missing_identity_data(self, req: IdentityDataRequest) -> None:
        self.g.police.request_identity_data(
            req.idempotency_key, req.subject_key, req.officer.email, req.missing_fields
        )
        log.info("identity data requested from officer", fields=req.missing_fields)

    @activity.defn(name="collect_country_reply")
    @refusals_surface
    def collect_country_reply(self, poll: ReplyPoll) -> ReplyPollResult:
        """Ask ACRO for the country's reply; a reply is stored and only its ID returned."""
        reply = self.g.acro.fetch_reply(poll.request_ref, poll.as_of)
        if reply is None:
            return ReplyPollResult()
        certificate = store_certificate(self.store, poll.case_id, reply)
        log.info(
            "country reply received",
            country=reply.country,
            convictions=certificate.conviction_count,
        )
        return ReplyPollResult(certificate=certificate)

    @activity.defn(name="send_chaser")
    @refusals_surface
    def send_chaser(self, req: Chaser) -> None:
        self.g.acro.send_chaser(req.idempotency_key, req.request_ref, req.chaser_number)
        log.info("chaser sent", country=req.country, chaser=req.chaser_number)

    @activity.defn(name="record_convictions_on_pnc")
    @refusals_surface
    def record_convictions_on_pnc(self, req: PncConvictions) -> PncConvictionsResult:
        # Cases recorded before the claim check sent the convictions; now they are read
        # from the certificate in the case store.
        convictions: list[ConvictionSummary] | list[ConvictionRecord] = req.convictions or (
            convictions_in(
                self.store,
                req.document_id,
                case_id=req.case_id,
                why="overseas convictions to be recorded on the PNC",
                step=req.idempotency_key,
            )
        )
        recordable = [c.offence for c in convictions if c.recordable_on_pnc]
        self.g.pnc.record_convictions(req.idempotency_key, req.subject_key, req.pnc_id, recordable)
        return PncConvictionsResult(
            recorded=len(recordable), not_recordable=len(convictions) - len(recordable)
        )

    @activity.defn(name="refer_to_criminal_casework")
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
        # Started with its opening search attributes (issue 22): listed at once, and
        # the case upserts only what changes (a case already running keeps its own).
        start = req.start.model_copy(update={"search_attributes_at_start": True})
        await activity.client().start_workflow(
            CASEWORK_WORKFLOW,
            start,
            id=req.casework_id,
            search_attributes=casework_opening_search_attributes(
                req.start.nationality, req.referral.event.force
            ),
            task_queue=activity.info().task_queue,
            start_signal=ADD_REFERRAL_SIGNAL,
            start_signal_args=[req.referral],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Criminal Casework ({req.start.nationality}) from ACRO referral",
            static_details="One case per subject: steps 5-10 of the ACRO referral guidance.",
        )
        await asyncio.to_thread(self.index_person, req.referral.event.subject, req.casework_id)  # type: ignore[attr-defined]
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
