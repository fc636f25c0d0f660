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
information), serves the Stage 1 notice, and decides on deportation; not pursuing
it needs the CC Director's approval, never from the person who submitted it.

A subject with an open case gets no second one: a further referral joins it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.casework_disclosure import Disclosability
from workflows.casework_locating import Locating
from workflows.changes import ENFORCEMENT_DEADLINE

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import (
        CASEWORK_CONCLUDED_SIGNAL,
        CASEWORK_WORKFLOW,
        CaseResult,
        CaseworkConcluded,
        CaseworkInput,
        CaseworkState,
        Deadline,
        Outcome,
        Stage,
    )
    from models.decisions import (
        AdministrativeRemovalReferral,
        DecisionRequest,
        DeportationDecision,
        DeportationEnforced,
        DirectorApproval,
    )
    from models.reference import country
    from models.steps import (
        CaseNote,
        Notification,
        Stage1Notice,
    )

A = CaseActivities

ENFORCEMENT_REVIEW = "enforcement review"
POST_DEPORTATION_RECIPIENTS = ["ACRO", "PNC Bureau", "referring police force", "HM Passport Office"]


@workflow.defn(name=CASEWORK_WORKFLOW)
class CriminalCaseworkWorkflow(Disclosability, Locating):
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
        )
        self._notified: set[str] = set()

    @workflow.query
    def state(self) -> CaseworkState:
        return self.s

    # --- the process -------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseworkInput) -> CaseResult:
        self.start_certificate_desk()  # issue 20 (h3): each certificate checked, late ones too
        await workflow.wait_condition(lambda: bool(self.s.referrals))
        # The process resumes from its state: a case continued as new picks up where
        # it was (waiting for a disclosable certificate, or wanted/missing).
        if inp.state is None:
            self.publish()
        else:
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
            if self.s.ice_tasking_ref is None:  # whereabouts known (continued as new)
                await self.allocate_owner()
            else:
                await self.until_located(inp)
        await self.located_actions()
        if self.s.detained is None:  # not yet decided (urgently, on a custody event)
            await self.detention()
        await self.stage1_notice()
        return await self.deportation()

    # --- step 8: located ------------------------------------------------------------------------
    async def located_actions(self) -> None:
        self.set_stage(Stage.LOCATED_ACTIONS)
        if self.s.marker_on_pnc:
            await self.call(A.remove_wanted_marker, self.subject_step("icd5080"), what="ICD.5080")
            self.s.marker_on_pnc = False
            self.record("step", "ICD.5080 sent: wanted/missing marker removed from the PNC")
        self.record(
            "step",
            "Full offending history confirmed: disclosable certificate held or offences on the PNC",
        )
        await self.call(
            A.contact_investigating_officer,
            self.subject_step("contact-investigating-officer"),
            what="Contacting the investigating officer",
        )
        self.record("step", "Police investigating officer informed of CC's interest")

    # --- step 10: Stage 1 notice and the decision ----------------------------------
    async def stage1_notice(self) -> None:
        p = self.s.policy
        notice = (
            "Stage 1 Liability to Deportation Notice"
            if self.s.eea_national
            else "Stage 1 Decision Notice"
        )
        days = (
            p.stage1_days_serving_sentence
            if self.s.serving_prison_sentence
            else p.stage1_days_other
        )
        await self.call(
            A.serve_stage1_notice,
            Stage1Notice(
                case_id=self.s.case_id,
                idempotency_key=self.key("stage1-notice"),
                subject_key=self.s.subject_key,
                notice=notice,  # type: ignore[arg-type]
                response_days=days,
            ),
            what="Serving the Stage 1 notice",
        )
        due = workflow.now() + p.days(days)
        self.record("step", f"{notice} served; {days} days to respond")
        self.set_stage(
            Stage.STAGE1_RESPONSE_WINDOW,
            deadlines=[Deadline(name="Stage 1 response", due_at=due)],
        )
        await workflow.sleep(max(due - workflow.now(), timedelta(0)))
        self.record("step", "Stage 1 response window closed")

    async def deportation(self) -> CaseResult:
        while True:
            req = await self.decide_in_time(
                Stage.DEPORTATION_DECISION,
                "deportation",
                name="deportation decision",
                working_days=self.s.policy.deportation_decision_working_days,
            )
            d = req.decision
            assert isinstance(d, DeportationDecision)
            self.s.deportation_decision = d.decision
            # Separation of duties: its author may not approve it (``check_decision``).
            submitted = d.decision == "not_pursued"
            self.s.not_pursued_by = req.actor if submitted else None
            self.s.not_pursued_by_id = req.actor_id if submitted else None
            if d.decision == "deport":
                return await self.deport(d)
            await self.call(
                A.submit_to_director, self.subject_step("director-submission"), what="Submission"
            )
            self.record("step", "Submission sent to the CC Director: deportation not appropriate")
            req = await self.decide_in_time(
                Stage.AWAITING_DIRECTOR,
                "director_approval",
                name="the CC Director's decision",
                working_days=self.s.policy.director_decision_working_days,
            )
            approval = req.decision
            assert isinstance(approval, DirectorApproval)
            self.s.director_approved = approval.approve
            if approval.approve:
                return await self.not_pursued()
            self.record("step", "The CC Director did not approve: deportation to be reconsidered")

    async def deport(self, d: DeportationDecision) -> CaseResult:
        self.record("step", "Decision to deport")
        if not self.s.detained and d.address_known and not d.in_country_right_of_appeal:
            await self.call(A.ask_ice_to_detain, self.subject_step("ice-detain"), what="ICE")
            self.record("step", "Local ICE team asked to detain the subject")
        req = await self.awaiting_enforcement()
        enforced = req.decision
        assert isinstance(enforced, DeportationEnforced)
        self.record("step", f"Deportation enforced on {enforced.removed_on.isoformat()}")
        await self.call(
            A.send_notifications,
            Notification(
                case_id=self.s.case_id,
                idempotency_key=self.key("post-deportation"),
                subject_key=self.s.subject_key,
                recipients=POST_DEPORTATION_RECIPIENTS,
                subject_line="Deportation enforced",
            ),
            what="Post-deportation notifications",
        )
        self.record(
            "step", f"Relevant departments informed: {', '.join(POST_DEPORTATION_RECIPIENTS)}"
        )
        return await self.conclude(Outcome.DEPORTED)

    async def awaiting_enforcement(self) -> DecisionRequest:
        """Awaiting enforcement, reviewed when it has not happened by the policy's days."""
        if not workflow.patched(ENFORCEMENT_DEADLINE):
            # Recorded before the deadline existed: no timer.
            self.set_stage(Stage.AWAITING_ENFORCEMENT)
            return await self.next_decision("deportation_enforced")
        p = self.s.policy
        due = workflow.now() + p.days(p.enforcement_review_days)
        self.set_stage(
            Stage.AWAITING_ENFORCEMENT,
            deadlines=[Deadline(name=ENFORCEMENT_REVIEW, due_at=due)],
        )
        req = await self.decide_by("deportation_enforced", name=ENFORCEMENT_REVIEW, due=due)
        assert req is not None
        return req

    async def not_pursued(self) -> CaseResult:
        self.record("step", "The CC Director approved that deportation is not pursued")
        req = await self.decide_in_time(
            Stage.ADMIN_REMOVAL_CONSIDERATION,
            "admin_removal_referral",
            name="referral for administrative removal",
            working_days=self.s.policy.admin_removal_working_days,
        )
        referral = req.decision
        assert isinstance(referral, AdministrativeRemovalReferral)
        if referral.refer:
            await self.call(
                A.refer_to_removals_casework,
                self.subject_step("removals-referral"),
                what="Referral to Removals Casework",
            )
            self.record("step", "Referred to Removals Casework for administrative removal")
        else:
            self.record("step", "No referral for administrative removal: residing lawfully")
        await self.call(
            A.advise_acro_deportation_not_pursued,
            self.subject_step("advise-acro-not-pursued"),
            what="Advising ACRO",
        )
        self.record("step", "ACRO advised that deportation is not being pursued")
        return await self.conclude(
            Outcome.NOT_PURSUED_ADMIN_REMOVAL if referral.refer else Outcome.NOT_PURSUED
        )

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
