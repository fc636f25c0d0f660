"""Criminal Casework: one case per subject, from ACRO's referral to an outcome.

Reads as the Home Office guidance "Processing ACRO Referrals in Criminal Casework"
(DOMAIN.md steps 5-10): CC Workflow checks the certificate is disclosable (else
notes CID, asks for a certificate for immigration purposes and destroys the
non-disclosable one); creates the case; the NBTC check tells whether the subject
left the UK; if not, a wanted/missing marker (ICD.5079) and ICE tasking, and the
case sleeps as "liable to deport" until the subject is located — possibly for
years; once located, a case owner considers detention (only on disclosable
information), serves the Stage 1 notice, and decides on deportation; not pursuing
it needs the CC Director's approval.

A subject with an open case gets no second one: a further referral joins it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from workflows.base import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models import search
    from models.case import (
        CaseResult,
        CaseworkConcluded,
        CaseworkInput,
        CaseworkState,
        CertificateRef,
        CountryCheck,
        Deadline,
        Outcome,
        Referral,
        Stage,
    )
    from models.decisions import (
        AdministrativeRemovalReferral,
        DecisionRequest,
        DeportationDecision,
        DeportationEnforced,
        DetentionDecision,
        DirectorApproval,
        ExclusionConsultation,
        SubjectLocated,
    )
    from models.reference import country
    from models.steps import (
        AcroCheckRequest,
        CaseNote,
        CertificateDestruction,
        CidCaseCreation,
        IceStatusQuery,
        NbtcQuery,
        Notification,
        PncOffencesQuery,
        Stage1Notice,
        SubjectStep,
    )

A = CaseActivities

IMMIGRATION_PURPOSE = "Request for administrative purpose immigration/deportation"
DETENTION_POWER_EEA = "Immigration (European Economic Area) Regulations 2006, regulation 24(1)"
DETENTION_POWER_NON_EEA = "Immigration Act 1971, Schedule 3, paragraph 2"
POST_DEPORTATION_RECIPIENTS = ["ACRO", "PNC Bureau", "referring police force", "HM Passport Office"]


@workflow.defn
class CriminalCaseworkWorkflow(CaseWorkflow):
    kind = "casework"
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

    @workflow.signal
    def add_referral(self, referral: Referral) -> None:
        """ACRO refers serious offending; a certificate already on the case is ignored,
        a further one from the same encounter joins that encounter's referral."""
        known = {c.document_id for c in self.all_certificates}
        new = [c for c in referral.certificates if c.document_id not in known]
        if not new:
            return
        same = next((r for r in self.s.referrals if r.encounter_id == referral.encounter_id), None)
        if same is not None:
            same.certificates.extend(new)
            self.record(
                "step",
                "Further certificate from ACRO joined this case",
                encounter_id=referral.encounter_id,
                countries=[c.country for c in new],
            )
            return
        first = not self.s.referrals
        self.s.referrals.append(referral)
        if self.s.opened_at is None:
            self.s.opened_at = workflow.now()
        self.record(
            "step",
            "Referral from ACRO received"
            if first
            else "Further referral from ACRO joined this open case",
            encounter_id=referral.encounter_id,
            countries=[c.country for c in referral.certificates],
        )

    def extra_search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        pairs: list[SearchAttributeUpdate[Any]] = [search.NATIONALITY.value_set(self.s.nationality)]
        if self.s.referrals:
            pairs.append(search.FORCE.value_set(self.s.referrals[0].event.force))
        if self.s.case_owner:
            pairs.append(search.CASE_OWNER.value_set(self.s.case_owner))
        return pairs

    def key(self, step: str) -> str:
        """Idempotency key of a step of *this* case: a later case for the same subject
        (same workflow ID, new run) must not be mistaken for a repeat of this one."""
        return f"{self.s.case_id}/{self.s.chain_id}/{step}"

    def subject_step(self, step: str, detail: str = "") -> SubjectStep:
        return SubjectStep(
            case_id=self.s.case_id,
            idempotency_key=self.key(step),
            as_of=workflow.now(),
            subject_key=self.s.subject_key,
            detail=detail,
        )

    @property
    def all_certificates(self) -> list[CertificateRef]:
        return [c for r in self.s.referrals for c in r.certificates]

    @property
    def certificates(self) -> list[CertificateRef]:
        """The certificates that may be used: a destroyed one is never used again."""
        return [c for c in self.all_certificates if not c.destroyed]

    @property
    def has_immigration_certificate(self) -> bool:
        return any(c.purpose == "immigration_deportation" for c in self.certificates)

    @property
    def serious_offences(self) -> list[str]:
        return sorted({v.offence for c in self.certificates for v in c.convictions if v.serious})

    # --- the process -------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: CaseworkInput) -> CaseResult:
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
            left = await self.nbtc_check()
            if left:
                await self.left_uk()
                return await self.conclude(Outcome.LEFT_UK)
            await self.mark_wanted_and_task_ice()
        if not self.s.located:
            await self.until_located(inp)
        await self.located_actions()
        await self.detention()
        await self.stage1_notice()
        return await self.deportation()

    # --- step 5: disclosability --------------------------------------------------------
    async def establish_disclosability(self) -> None:
        self.set_stage(Stage.DISCLOSABILITY_CHECK)
        if await self.is_disclosable():
            return
        for cert in self.certificates:
            if cert.destroyed:
                continue
            await self.call(
                A.note_on_cid,
                CaseNote(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"cid-note/non-disclosable/{cert.document_id}"),
                    subject_key=self.s.subject_key,
                    text="Non-disclosable ACRO certificate received; no further action can be "
                    "taken until a disclosable certificate is obtained",
                ),
                what="Noting CID",
            )
            self.record(
                "note",
                "CID noted: non-disclosable ACRO certificate received; no action can be taken "
                "until a disclosable certificate is obtained",
            )
            subject = self.s.referrals[0].event.subject
            ref = await self.call(
                A.request_acro_check,
                AcroCheckRequest(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"acro-immigration/{cert.country}"),
                    as_of=workflow.now(),
                    country=cert.country,
                    channel=country(cert.country).channel,
                    subject_key=self.s.subject_key,
                    purpose="immigration_deportation",
                    reason="deportation consideration",
                    subject=subject,
                ),
                what="New ACRO request for immigration purposes",
            )
            self.s.immigration_requests.append(
                CountryCheck(
                    country=cert.country,
                    channel=country(cert.country).channel,
                    eu=country(cert.country).eu,
                    request_ref=ref.request_ref,
                    requested_at=workflow.now(),
                    last_polled_at=workflow.now(),
                )
            )
            self.record(
                "request",
                f"New ACRO referral made for immigration purposes to {cert.country} "
                f"('{IMMIGRATION_PURPOSE}')",
            )
            await self.call(
                A.destroy_certificate,
                CertificateDestruction(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"destroy/{cert.document_id}"),
                    document_id=cert.document_id,
                    step="CC Workflow disclosability check",
                    reason="certificate requested for criminal proceedings, not for immigration/"
                    "deportation, and offences not on the PNC: must not be used for a decision",
                ),
                what="Destroying the non-disclosable certificate",
            )
            cert.destroyed = True
            cert.convictions = []  # nothing of it is used for a decision
            self.record("step", "Non-disclosable certificate destroyed", document=cert.document_id)

    async def is_disclosable(self) -> bool:
        if self.has_immigration_certificate:
            self.s.disclosable = True
            self.record("step", f"Certificate is disclosable: purpose '{IMMIGRATION_PURPOSE}'")
            return True
        answer = await self.call(
            A.check_offences_on_pnc,
            PncOffencesQuery(
                case_id=self.s.case_id,
                subject_key=self.s.subject_key,
                offences=self.serious_offences,
            ),
            what="PNC check of the overseas offences",
        )
        if answer.all_on_pnc:
            self.s.disclosable = True
            self.record("step", "Certificate is disclosable: the offences appear on the PNC")
            return True
        self.record(
            "step",
            "Certificate is not disclosable: criminal-proceedings purpose only "
            "and the offences are not all on the PNC",
        )
        return False

    async def await_disclosable_certificate(self, inp: CaseworkInput) -> None:
        p = self.s.policy
        self.set_stage(Stage.AWAITING_DISCLOSABLE_CERTIFICATE)
        while not self.s.disclosable:
            if self.has_immigration_certificate:
                self.s.disclosable = True  # a further referral brought one
                self.record("step", f"Certificate is disclosable: purpose '{IMMIGRATION_PURPOSE}'")
                break
            if self.history_is_long():
                await self.renew(inp)
            open_requests = [r for r in self.s.immigration_requests if r.status == "requested"]
            if not open_requests:  # every answer was unusable: only a new referral helps
                await workflow.wait_condition(lambda: self.has_immigration_certificate)
                continue
            for req in open_requests:
                await workflow.sleep(p.days(p.reply_poll_days))
                cert = await self.collect_reply(
                    req, f"Collecting the immigration certificate from {req.country}"
                )
                if cert is None:
                    continue
                req.status = "replied"
                req.certificate = cert
                self.s.referrals[0].certificates.append(cert)
                if cert.purpose != "immigration_deportation":
                    self.record(
                        "fault",
                        f"Certificate from {req.country} is still not "
                        "disclosable: a caseworker must chase ACRO",
                    )
                    continue
                self.record(
                    "reply",
                    f"Disclosable certificate received from {req.country} "
                    f"(purpose '{IMMIGRATION_PURPOSE}')",
                    document_id=cert.document_id,
                )
                self.s.disclosable = True
                break

    # --- step 6: case creation ---------------------------------------------------------------
    async def create_case(self) -> None:
        self.set_stage(Stage.CASE_CREATION)
        cid = await self.call(
            A.create_cid_case,
            CidCaseCreation(
                case_id=self.s.case_id,
                idempotency_key=self.key("cid-case"),
                subject_key=self.s.subject_key,
                nationality=self.s.nationality,
                encounter_ids=[r.encounter_id for r in self.s.referrals],
                certificate_ids=[c.document_id for c in self.certificates],
                offences=self.serious_offences,
            ),
            what="Creating the CID case",
        )
        self.s.cid_case_ref = cid.cid_ref
        self.record(
            "step",
            ("CID record created" if cid.created else "Existing CID record used")
            + "; case details and overseas convictions recorded",
            cid_ref=cid.cid_ref,
        )
        await self.call(
            A.add_cid_calendar_event,
            self.subject_step("cid-calendar/acro-referral", detail=cid.cid_ref),
            what="CID calendar event",
        )
        self.record("step", "CID calendar event 'CC - ACRO Referral' added with status 'Completed'")
        await self.call(A.request_pnc_check, self.subject_step("pnc-check"), what="PNC check")
        self.record("step", "PNC check requested")
        await self.call(A.create_paper_file, self.subject_step("paper-file"), what="Paper file")
        self.record("step", "Home Office paper file created; case referred to the CC team")

    # --- step 7: NBTC, marker, ICE ---------------------------------------------------------
    async def nbtc_check(self) -> bool:
        self.set_stage(Stage.NBTC_CHECK)
        answer = await self.call(
            A.nbtc_departure_check,
            NbtcQuery(case_id=self.s.case_id, subject_key=self.s.subject_key, as_of=workflow.now()),
            what="NBTC check",
        )
        self.s.left_uk = answer.left_uk
        self.record(
            "step",
            "NBTC: the subject has left the UK"
            if answer.left_uk
            else "NBTC: the subject is likely still in the UK",
        )
        return answer.left_uk

    async def left_uk(self) -> None:
        most_serious = sorted(
            {v.offence for c in self.certificates for v in c.convictions if v.most_serious}
        )
        if not most_serious:
            return
        self.set_stage(Stage.EXCLUSION_CONSULTATION)
        self.record(
            "step",
            f"Offences of the most serious nature ({', '.join(most_serious)}): exclusion to be "
            "considered with a senior caseworker",
        )
        req = await self.next_decision("exclusion_consultation")
        assert isinstance(req.decision, ExclusionConsultation)
        self.record(
            "step",
            "Exclusion order to be pursued"
            if req.decision.pursue_exclusion
            else "Exclusion not pursued",
        )

    async def mark_wanted_and_task_ice(self) -> None:
        await self.call(A.add_wanted_marker, self.subject_step("icd5079"), what="ICD.5079")
        self.s.marker_on_pnc = True
        self.record("step", "ICD.5079 sent to the PNC Bureau: wanted/missing marker added")
        ref = await self.call(A.task_ice_to_locate, self.subject_step("ice-locate"), what="ICE")
        self.s.ice_tasking_ref = ref.ref
        self.record("step", "Case referred to the ICE team for tasking", tasking_ref=ref.ref)
        p = self.s.policy
        self.s.ice_tasking_until = workflow.now() + p.days(p.ice_tasking_days)
        self.s.next_review_at = workflow.now() + p.days(p.ice_status_poll_days)
        self.set_stage(
            Stage.ICE_TASKING,
            deadlines=[Deadline(name="ICE tasking ends", due_at=self.s.ice_tasking_until)],
        )

    async def until_located(self, inp: CaseworkInput) -> None:
        """ICE tasking, then — if not located — sleep as liable to deport until located."""
        p = self.s.policy
        while True:
            assert self.s.next_review_at is not None
            req = await self.next_decision("subject_located", deadline=self.s.next_review_at)
            if req is not None:
                self.take_located(req)
                return
            assert self.s.ice_tasking_ref is not None
            status = await self.call(
                A.ice_tasking_status,
                IceStatusQuery(
                    case_id=self.s.case_id,
                    tasking_ref=self.s.ice_tasking_ref,
                    as_of=workflow.now(),
                ),
                what="ICE tasking status",
            )
            if status.status == "located":
                self.record("step", "ICE report the subject located; allocate a case owner")
                self.set_stage(Stage.LOCATED_AWAITING_OWNER)
                req = await self.next_decision("subject_located")
                self.take_located(req)
                return
            tasking_until = self.s.ice_tasking_until
            if (
                self.s.stage is Stage.ICE_TASKING
                and tasking_until
                and workflow.now() < tasking_until
            ):
                self.s.next_review_at = min(
                    workflow.now() + p.days(p.ice_status_poll_days), tasking_until
                )
                continue
            if self.s.stage is Stage.ICE_TASKING:
                self.s.outcome = Outcome.LIABLE_TO_DEPORT_WANTED
                await self.call(
                    A.record_outcome_on_cid,
                    CaseNote(
                        case_id=self.s.case_id,
                        idempotency_key=self.key("cid-outcome/liable-to-deport"),
                        subject_key=self.s.subject_key,
                        text=Outcome.LIABLE_TO_DEPORT_WANTED.value,
                    ),
                    what="Recording the outcome on CID",
                )
                self.record(
                    "outcome",
                    f"Unable to locate: CID updated '{Outcome.LIABLE_TO_DEPORT_WANTED.value}'; "
                    "the case is closed until the subject is located",
                )
            self.s.next_review_at = workflow.now() + p.days(p.dormant_review_days)
            self.set_stage(
                Stage.LIABLE_TO_DEPORT_WANTED,
                deadlines=[Deadline(name="wanted/missing review", due_at=self.s.next_review_at)],
            )
            if self.history_is_long():
                await self.renew(inp)

    def take_located(self, req: DecisionRequest) -> None:
        assert isinstance(req.decision, SubjectLocated)
        self.s.located = True
        self.s.outcome = None
        self.s.case_owner = req.decision.case_owner
        self.record(
            "step",
            f"Subject located; case allocated to case owner {req.decision.case_owner}",
            pending_prosecution=req.decision.pending_prosecution,
        )

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

    # --- step 9: detention ---------------------------------------------------------
    def check_decision(self, req: DecisionRequest) -> None:
        d = req.decision
        if isinstance(d, DeportationEnforced) and d.removed_on > workflow.now().date():
            raise ApplicationError(
                f"Refused: the removal date {d.removed_on.isoformat()} is in the future; "
                "record the deportation once it has been enforced."
            )

    def check_lawful(self, req: DecisionRequest) -> None:
        decision = req.decision
        if isinstance(decision, DetentionDecision) and decision.detain and not self.s.disclosable:
            raise ApplicationError(
                "Refused: detention on non-disclosable information is forbidden. The overseas "
                "convictions must be on the PNC or held on an ACRO certificate marked for "
                "immigration/deportation purposes; this case is still waiting for one."
            )
        if isinstance(decision, DeportationDecision) and not self.s.disclosable:
            raise ApplicationError(
                "Refused: a deportation decision cannot rest on a non-disclosable certificate. "
                "Wait for the certificate requested for immigration purposes."
            )

    async def detention(self) -> None:
        self.set_stage(Stage.DETENTION_DECISION)
        req = await self.next_decision("detention")
        d = req.decision
        assert isinstance(d, DetentionDecision)
        self.s.serving_prison_sentence = d.serving_prison_sentence
        if d.detain:
            self.s.detained = True
            self.s.detention_power = (
                DETENTION_POWER_EEA if self.s.eea_national else DETENTION_POWER_NON_EEA
            )
            self.record("step", f"Detention authorised under {self.s.detention_power}")
        else:
            self.s.detained = False
            self.record("step", "Not suitable for detention: managed on a non-detained basis")

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
            self.set_stage(Stage.DEPORTATION_DECISION)
            req = await self.next_decision("deportation")
            d = req.decision
            assert isinstance(d, DeportationDecision)
            self.s.deportation_decision = d.decision
            if d.decision == "deport":
                return await self.deport(d)
            await self.call(
                A.submit_to_director, self.subject_step("director-submission"), what="Submission"
            )
            self.record("step", "Submission sent to the CC Director: deportation not appropriate")
            self.set_stage(Stage.AWAITING_DIRECTOR)
            req = await self.next_decision("director_approval")
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
        self.set_stage(Stage.AWAITING_ENFORCEMENT)
        req = await self.next_decision("deportation_enforced")
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

    async def not_pursued(self) -> CaseResult:
        self.record("step", "The CC Director approved that deportation is not pursued")
        self.set_stage(Stage.ADMIN_REMOVAL_CONSIDERATION)
        req = await self.next_decision("admin_removal_referral")
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

    def describe_decision(self, req: DecisionRequest) -> str:
        d = req.decision
        match d:
            case DetentionDecision():
                return "Detention decision: " + ("detain" if d.detain else "manage non-detained")
            case DeportationDecision():
                return "Deportation decision: " + (
                    "deport" if d.decision == "deport" else "deportation not to be pursued"
                )
            case DirectorApproval():
                return "CC Director: " + ("approved" if d.approve else "not approved")
            case _:
                return f"Decision: {d.kind.replace('_', ' ')}"

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
                    "casework_concluded",
                    CaseworkConcluded(casework_id=self.s.case_id, outcome=outcome),
                )
            except Exception as err:  # the encounter was ended by hand: say so, go on
                self.record("fault", f"Could not tell {referral.encounter_id}: {err}")
        return CaseResult(case_id=self.s.case_id, outcome=outcome)
