"""Criminal Casework: one case per subject, from ACRO's referral to an outcome.

Reads as the Home Office guidance "Processing ACRO Referrals in Criminal Casework"
(DOMAIN.md steps 5-10): CC Workflow checks the certificate is disclosable (else
notes CID, asks for a certificate for immigration purposes and destroys the
non-disclosable one); creates the case; where the subject is known to be (the
referral, or a custody event, says so) the case goes straight to a case owner;
otherwise the NBTC check tells whether the subject left the UK; if not, a
wanted/missing marker (ICD.5079) and ICE tasking, and — on ICE's answer or a
caseworker's decision — the case sleeps as "liable to deport" until the subject is
located (a custody event wakes it) — possibly for years; once located, a case owner
considers detention (only on disclosable
information), has the Stage 1 notice served, and decides on deportation (then the
order, any appeal, removal: ``workflows.casework_deportation`` and
``workflows.casework_removal``); not pursuing it needs the CC Director's approval,
never from the person who submitted it.

A subject with an open case gets no second one: a further referral joins it.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.casework_checklist import LocatedChecklist
from workflows.casework_deportation import Deportation
from workflows.casework_disclosure import Disclosability
from workflows.casework_removal import ENFORCEMENT_REVIEW as ENFORCEMENT_REVIEW
from workflows.casework_reopen import Reopen

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import (
        CASEWORK_CONCLUDED_SIGNAL,
        CASEWORK_WORKFLOW,
        CaseResult,
        CaseworkConcluded,
        CaseworkInput,
        CaseworkState,
        Outcome,
        Stage,
    )
    from models.reference import country
    from models.steps import CaseNote

A = CaseActivities


@workflow.defn(name=CASEWORK_WORKFLOW)
class CriminalCaseworkWorkflow(Disclosability, Deportation, LocatedChecklist, Reopen):
    s: CaseworkState

    @workflow.init
    def __init__(self, inp: CaseworkInput) -> None:
        self._init_common()
        self.s = inp.state or CaseworkState(
            case_id=inp.case_id,
            policy=inp.policy,
            subject_key=inp.subject_key,
            nationality=inp.nationality,
            eea_national=country(inp.nationality).eea,
            stage=Stage.DISCLOSABILITY_CHECK,
            chain_id=workflow.info().first_execution_run_id,
            search_attributes_at_start=inp.search_attributes_at_start,
        )
        self._notified: set[str] = set()

    @workflow.query
    def state(self) -> CaseworkState:
        return self.s

    # --- the process -------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseworkInput) -> CaseResult:
        reopened = self.take_reopening(inp.reopen)  # issue 21 (h4): a closed case reopened
        self.start_certificate_desk()  # issue 20 (h3): each certificate checked, late ones too
        await workflow.wait_condition(lambda: bool(self.s.referrals))
        # The process resumes from its state: a case continued as new picks up where
        # it was (waiting for a disclosable certificate, or wanted/missing).
        if inp.state is None:
            self.publish()
            self.count_opened()
        elif not reopened:
            self.record("note", "Case continued with a fresh history; state carried over")
        if not self.s.disclosable:
            if self.s.stage is not Stage.AWAITING_DISCLOSABLE_CERTIFICATE:
                await self.establish_disclosability()
            await self.await_disclosable_certificate(inp)
        if self.s.cid_case_ref is None:
            await self.create_case()
            if self.whereabouts_known():
                # Step 7, whereabouts known: no NBTC, no marker, no ICE.
                await self.whereabouts_known_to_owner()
            else:
                left = await self.nbtc_check()
                if left:
                    await self.left_uk()
                    return await self.conclude(Outcome.LEFT_UK)
                await self.mark_wanted_and_task_ice()
        if not self.s.located:
            # whereabouts known (continued as new), or reopened: to be allocated
            if self.s.ice_tasking_ref is None or reopened:
                await self.allocate_owner()
            else:
                await self.until_located(inp)
        if self.allocation_due():  # issue 21 (h3): located by ICE, then allocated
            await self.allocate_owner()
        await self.located_actions()
        if self.s.detained is None:  # not yet decided (urgently, on a custody event)
            await self.detention()
        await self.stage1_notice()
        return await self.deportation()

    # --- step 10: Stage 1, the decision, removal: workflows.casework_deportation ---------

    # --- the end --------------------------------------------------------------------------------
    async def conclude(self, outcome: Outcome) -> CaseResult:
        await self.call(
            A.record_outcome_on_cid,
            CaseNote(
                case_id=self.s.case_id,
                idempotency_key=self.key(f"cid-outcome/{outcome.name}"),
                subject_key=self.s.subject_key,
                text=outcome.value,
            ),
            what="Recording the outcome on CID",
        )
        self.s.outcome = outcome
        self.s.closed_at = workflow.now()
        self.record("outcome", f"Case closed: {outcome.value}")
        self.set_stage(Stage.CLOSED)
        self.flush_published()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # A referral that joins while the outcome is sent is told too.
        while pending := [r for r in self.s.referrals if r.encounter_id not in self._notified]:
            referral = pending[0]
            self._notified.add(referral.encounter_id)
            try:
                await workflow.get_external_workflow_handle(referral.encounter_id).signal(
                    CASEWORK_CONCLUDED_SIGNAL,
                    CaseworkConcluded(casework_id=self.s.case_id, outcome=outcome),
                )
            except Exception as err:  # the encounter was ended by hand: say so, go on
                self.record("fault", f"Could not tell {referral.encounter_id}: {err}")
        return CaseResult(case_id=self.s.case_id, outcome=outcome)
