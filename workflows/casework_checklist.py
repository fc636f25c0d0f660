"""Criminal Casework, step 8 once a case owner has the case: the located checklist
(the guidance's actions 1-7), as real steps (issue 21).

1. the wanted/missing marker removed (ICD.5080), where one was added — its reference
   kept;
3. the PNC print compared with the referral (an activity reads the certificates from
   the case store; the case learns counts only: complete, or how many are missing),
   then the owner's ``offending_history_review``: evidence the subject offended abroad
   since the referral asks ACRO for a further check (its reference kept);
4. the investigating officer told of CC's interest (the contact's reference kept) and
   their ``investigating_officer_answer`` recorded (information held, re-documentation);
5. ``pending_prosecution``: the charges, whether the police proceed, whether acquittal
   is likely;
6. none, not proceeding, or acquittal likely: detention under immigration powers to be
   arranged (on to detention, step 9);
7. the police proceed: ``prosecution_consideration`` — proceed with the deportation
   anyway (on, the prosecution pending), or wait for the ``prosecution_outcome``
   (reviewed after ``prosecution_review_days``): dropped or acquitted → action 6;
   convicted → on.

Action 2 (detention) follows the checklist (``Located.detention``). Every wait has a
deadline and is escalated when it passes (``decide_in_time``, ``decide_by``). A case
recorded before ``LOCATED_CHECKLIST`` replays the three claimed steps it had.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.casework_located import Located
from workflows.changes import LOCATED_CHECKLIST

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import Deadline, Stage
    from models.decisions import (
        DecisionRequest,
        DetentionGatekeeper,
        InvestigatingOfficerAnswer,
        OffendingHistoryReview,
        PendingProsecution,
        ProsecutionConsideration,
        ProsecutionOutcome,
    )
    from models.located_checklist import PncPrintComparison, PncPrintQuery
    from models.steps import Reference

A = CaseActivities

# The names of the deadlines this module sets (state.deadlines, state.overdue).
OFFENDING_HISTORY = "offending history review"
OFFICER_ANSWER = "investigating officer's answer"
PENDING = "pending prosecutions"
CONSIDERATION = "pending prosecution consideration"
PROSECUTION_REVIEW = "prosecution review"


class LocatedChecklist(Located):
    """The located checklist of ``CriminalCaseworkWorkflow``."""

    async def located_actions(self) -> None:
        if not workflow.patched(LOCATED_CHECKLIST):
            await self.located_actions_claimed()
            return
        p = self.s.progress
        p.checklist = True
        self.set_stage(Stage.LOCATED_ACTIONS)
        await self.remove_marker()
        await self.compare_pnc_print()
        await self.review_offending_history()
        await self.investigating_officer()
        await self.pending_prosecutions()

    async def located_actions_claimed(self) -> None:
        """Cases recorded before the checklist: the steps as they were claimed."""
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

    def keep_step(self, name: str, ref: str, text: str, *, system: str) -> None:
        """A reference another system gave: in the case's references and on the timeline."""
        self.s.progress.references[name] = ref
        self.record("step", text, reference=ref, system=system)

    # --- action 1: the marker ------------------------------------------------------
    async def remove_marker(self) -> None:
        if not self.s.marker_on_pnc:
            self.record("step", "No wanted/missing marker was added: none to remove")
            return
        got: Reference = await self.call(
            A.remove_wanted_marker_icd5080, self.subject_step("icd5080"), what="ICD.5080"
        )
        self.s.marker_on_pnc = False
        self.keep_step(
            "ICD.5080",
            got.ref,
            "ICD.5080 sent: wanted/missing marker removed from the PNC",
            system="PNC",
        )

    # --- action 3: the offending history ------------------------------------------
    async def compare_pnc_print(self) -> None:
        certs = self.certificates
        q = PncPrintQuery(
            case_id=self.s.case_id,
            idempotency_key=self.key("pnc-print"),
            as_of=workflow.now(),
            subject_key=self.s.subject_key,
            document_ids=[c.document_id for c in certs if not c.convictions],
            offences=sorted({v.offence for c in certs for v in c.convictions}),
        )
        got: PncPrintComparison = await self.call(
            A.compare_pnc_print, q, what="Comparing the PNC print with the referral"
        )
        p = self.s.progress
        p.pnc_print_complete = got.complete
        p.pnc_offences_missing = got.missing
        p.pnc_offences_referred = got.referred
        p.certificate_for_immigration = self.has_immigration_certificate
        if got.complete:
            text = "PNC print compared with the referral: the full offending history is on it"
        elif p.certificate_for_immigration:
            text = (
                f"PNC print compared with the referral: {got.missing} of {got.referred} "
                "offences not on it; a certificate for immigration purposes is held"
            )
        else:
            text = (
                f"PNC print compared with the referral: {got.missing} of {got.referred} "
                "offences not on it"
            )
        self.record(
            "step",
            text,
            system="PNC",
            complete=got.complete,
            missing=got.missing,
            referred=got.referred,
            certificate_for_immigration=p.certificate_for_immigration,
        )

    async def review_offending_history(self) -> None:
        req = await self.decide_in_time(
            Stage.OFFENDING_HISTORY_REVIEW,
            "offending_history_review",
            name=OFFENDING_HISTORY,
            working_days=self.s.policy.located_action_working_days,
        )
        d = req.decision
        assert isinstance(d, OffendingHistoryReview)
        self.s.progress.further_acro_check = d.offended_abroad_since
        if not d.offended_abroad_since:
            self.record("step", "No evidence of offending abroad since the referral")
            return
        got: Reference = await self.call(
            A.request_further_acro_check,
            self.subject_step("further-acro-check"),
            what="A further ACRO check",
        )
        self.keep_step(
            "further ACRO check",
            got.ref,
            "Further ACRO check requested: evidence of offending abroad since the referral",
            system="ACRO",
        )

    # --- action 4: the investigating officer --------------------------------------
    async def investigating_officer(self) -> None:
        got: Reference = await self.call(
            A.tell_investigating_officer,
            self.subject_step("contact-investigating-officer"),
            what="Contacting the investigating officer",
        )
        self.keep_step(
            "investigating officer",
            got.ref,
            "Police investigating officer told of CC's interest and asked what else they "
            "hold, including re-documentation information",
            system="police",
        )
        req = await self.decide_in_time(
            Stage.INVESTIGATING_OFFICER,
            "investigating_officer_answer",
            name=OFFICER_ANSWER,
            working_days=self.s.policy.located_action_working_days,
        )
        d = req.decision
        assert isinstance(d, InvestigatingOfficerAnswer)
        p = self.s.progress
        p.officer_information_held = d.information_held
        p.redocumentation = d.redocumentation
        self.record(
            "step",
            "The investigating officer's answer recorded",
            officer_reference=d.officer_reference,
            information_held=d.information_held,
            redocumentation=d.redocumentation,
            attachment_id=d.attachment_id,
        )

    # --- actions 5-7: pending prosecutions ----------------------------------------
    async def pending_prosecutions(self) -> None:
        req = await self.decide_in_time(
            Stage.PENDING_PROSECUTION,
            "pending_prosecution",
            name=PENDING,
            working_days=self.s.policy.located_action_working_days,
        )
        d = req.decision
        assert isinstance(d, PendingProsecution)
        p = self.s.progress
        p.charges_pending = d.charges
        p.police_proceeding = d.police_proceeding if d.charges else None
        p.acquittal_likely = d.acquittal_likely if d.charges and d.police_proceeding else None
        if not d.charges:
            self.record("step", "No pending prosecutions", charges=0)
        elif not d.police_proceeding:
            p.prosecution = "dropped"
            self.record("step", "The police are not proceeding", charges=d.charges)
        elif d.acquittal_likely:
            p.prosecution = "pending"
            self.record("step", "The police proceed; acquittal is likely", charges=d.charges)
        else:
            p.prosecution = "pending"
            self.record("step", "The police proceed with the prosecution", charges=d.charges)
            await self.consider_prosecution()
            return
        self.arrange_detention()

    def arrange_detention(self) -> None:
        """Action 6: detention under immigration powers to be arranged where appropriate."""
        self.s.progress.detention_to_be_arranged = True
        self.record(
            "step",
            "Detention under immigration powers to be arranged where appropriate",
            action=6,
        )

    async def consider_prosecution(self) -> None:
        """Action 7: proceed anyway, or wait for the prosecution's outcome."""
        req = await self.decide_in_time(
            Stage.PROSECUTION_CONSIDERATION,
            "prosecution_consideration",
            name=CONSIDERATION,
            working_days=self.s.policy.located_action_working_days,
        )
        d = req.decision
        assert isinstance(d, ProsecutionConsideration)
        p = self.s.progress
        p.proceed_despite_prosecution = d.proceed_with_deportation
        if d.proceed_with_deportation:
            self.record(
                "step",
                "Deportation to proceed with the prosecution pending",
                action=7,
            )
            return
        self.record("step", "Deportation waits for the outcome of the prosecution", action=7)
        pol = self.s.policy
        due = workflow.now() + pol.days(pol.prosecution_review_days)
        self.set_stage(
            Stage.AWAITING_PROSECUTION,
            deadlines=[Deadline(name=PROSECUTION_REVIEW, due_at=due)],
        )
        got = await self.decide_by("prosecution_outcome", name=PROSECUTION_REVIEW, due=due)
        assert got is not None
        outcome = got.decision
        assert isinstance(outcome, ProsecutionOutcome)
        p.prosecution = outcome.outcome
        self.record("step", f"Prosecution {outcome.outcome}", prosecution=outcome.outcome)
        if outcome.outcome != "convicted":
            self.arrange_detention()

    # --- what a decision must meet --------------------------------------------------
    def check_decision(self, req: DecisionRequest) -> None:
        super().check_decision(req)
        d = req.decision
        if isinstance(d, PendingProsecution):
            if d.charges and d.police_proceeding is None:
                raise ApplicationError(
                    "Refused: charges are pending; say whether the police are proceeding "
                    "with the prosecution (police_proceeding)."
                )
            if d.charges and d.police_proceeding and d.acquittal_likely is None:
                raise ApplicationError(
                    "Refused: the police are proceeding; say whether acquittal is likely "
                    "(acquittal_likely)."
                )

    def describe_decision(self, req: DecisionRequest) -> str:
        d = req.decision
        match d:
            case OffendingHistoryReview():
                return "Offending history reviewed: " + (
                    "evidence of offending abroad since the referral"
                    if d.offended_abroad_since
                    else "no evidence of offending abroad since the referral"
                )
            case InvestigatingOfficerAnswer():
                return "The investigating officer's answer"
            case PendingProsecution():
                return f"Pending prosecutions clarified: {d.charges} charge(s)"
            case ProsecutionConsideration():
                return "Pending prosecution considered: " + (
                    "proceed with deportation" if d.proceed_with_deportation else "wait for it"
                )
            case ProsecutionOutcome():
                return f"Prosecution outcome: {d.outcome}"
            case DetentionGatekeeper():
                return "Detention Gatekeeper: " + ("accepted" if d.accept else "rejected")
            case _:
                return super().describe_decision(req)
