"""Criminal Casework, step 10: the Stage 1 notice and the deportation decision; "not
pursued" through the CC Director (never its author) to the referral for administrative
removal. After "deport": ``workflows.casework_removal``.

Issue 21 (``workflows.changes.STAGE1_TO_REMOVAL``): the Stage 1 notice is served when
the case owner says (``serve_stage1``: the means; whether a sentence leaves sufficient
time), the response window runs from its service — 20 days only for a subject serving
a sentence with sufficient time, else 10 — and takes any number of ``representations``
(``s.progress.representations``, before the decision maker); the decision's needed
fields are required; the submission's reasons are stored in the case store (kind
``submission``; the case keeps its document ID and reference); a finding of lawful
residence is recorded as such. A case that reached Stage 1 before (no marker) is
served at once and goes on as it did.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.casework_removal import Removal
from workflows.changes import STAGE1_TO_REMOVAL

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CaseResult, Deadline, Outcome, Stage
    from models.casework_progress import Representation
    from models.decision_kind import missing_needed
    from models.decisions import (
        AdministrativeRemovalReferral,
        DecisionRequest,
        DeportationDecision,
        DeportationEnforced,
        DirectorApproval,
        Representations,
        ServeStage1,
    )
    from models.deportation_steps import NoticeService, Submission
    from models.steps import Stage1Notice

A = CaseActivities

STAGE1_INSTRUCTION = "Stage 1 instruction"
STAGE1_RESPONSE = "Stage 1 response"
CORRESPONDENCE = "Home Office correspondence"
EEA_NOTICE = "Stage 1 Liability to Deportation Notice"
NON_EEA_NOTICE = "Stage 1 Decision Notice"
# Decisions whose needed fields the issue-21 path requires (``missing_needed``).
NEEDED_ON_NEW_PATH = (DeportationDecision, DeportationEnforced, AdministrativeRemovalReferral)


class Deportation(Removal):
    """Stage 1, the decision and "not pursued", for ``CriminalCaseworkWorkflow``."""

    # --- what a decision here must meet ---------------------------------------------------
    def check_decision(self, req: DecisionRequest) -> None:
        super().check_decision(req)
        if not self.s.progress.stage1_on_instruction:
            return  # a case on the old path: its decisions as they were
        d = req.decision
        if isinstance(d, ServeStage1) and self.s.serving_prison_sentence:
            if d.sufficient_time is None:
                raise ApplicationError(
                    "Refused: the subject is serving a prison sentence; say whether there "
                    "is sufficient time for the longer response window (sufficient_time)."
                )
        if isinstance(d, NEEDED_ON_NEW_PATH) and (missing := missing_needed(d)):
            raise ApplicationError(
                f"Refused: the decision needs {', '.join(missing)}; send it again with "
                "them filled in."
            )

    # --- the Stage 1 notice -----------------------------------------------------------------
    def stage1_notice_name(self) -> str:
        return EEA_NOTICE if self.s.eea_national else NON_EEA_NOTICE

    async def stage1_notice(self) -> None:
        if workflow.patched(STAGE1_TO_REMOVAL):
            self.s.progress.stage1_on_instruction = True
            await self.stage1_on_instruction()
        else:
            await self.stage1_served_at_once()

    async def stage1_served_at_once(self) -> None:
        """Before issue 21: served as the case reaches it, the window from then."""
        p = self.s.policy
        notice = self.stage1_notice_name()
        days = (
            p.stage1_days_serving_sentence
            if self.s.serving_prison_sentence
            else p.stage1_days_other
        )
        ref = await self.call(
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
        self.s.stage1_notice = notice
        due = workflow.now() + p.days(days)
        self.record(
            "step",
            f"{notice} served; {days} days to respond",
            reference=self.keep("Stage 1 notice", ref.ref),
            system=CORRESPONDENCE,
        )
        self.set_stage(
            Stage.STAGE1_RESPONSE_WINDOW,
            deadlines=[Deadline(name=STAGE1_RESPONSE, due_at=due)],
        )
        await workflow.sleep(max(due - workflow.now(), timedelta(0)))
        self.record("step", "Stage 1 response window closed")

    async def stage1_on_instruction(self) -> None:
        p = self.s.policy
        req = await self.decide_in_time(
            Stage.STAGE1_TO_SERVE,
            "serve_stage1",
            name=STAGE1_INSTRUCTION,
            working_days=p.stage1_instruction_working_days,
        )
        d = req.decision
        assert isinstance(d, ServeStage1)
        longer = self.s.serving_prison_sentence and bool(d.sufficient_time)
        days = p.stage1_days_serving_sentence if longer else p.stage1_days_other
        notice = self.stage1_notice_name()
        served = await self.call(
            A.serve_stage1_by,
            NoticeService(
                case_id=self.s.case_id,
                idempotency_key=self.key("stage1-notice"),
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                notice=notice,
                means=d.means,
                response_days=days,
            ),
            what="Serving the Stage 1 notice",
        )
        progress = self.s.progress
        self.s.stage1_notice = notice
        progress.stage1_means = d.means
        progress.stage1_served_at = served.served_at
        progress.stage1_response_days = days
        due = served.served_at + p.days(days)
        self.record(
            "step",
            f"{notice} served ({d.means.replace('_', ' ')}) on {served.served_at:%Y-%m-%d}; "
            f"{days} days to respond",
            reference=self.keep("Stage 1 notice", served.ref),
            system=CORRESPONDENCE,
            means=d.means,
            served_at=served.served_at.isoformat(),
            response_days=days,
        )
        self.set_stage(
            Stage.STAGE1_RESPONSE_WINDOW, deadlines=[Deadline(name=STAGE1_RESPONSE, due_at=due)]
        )
        # Any number of representations until the window's end (a timer, not a decision).
        while (got := await self.next_decision("representations", deadline=due)) is not None:
            r = got.decision
            assert isinstance(r, Representations)
            progress.representations.append(
                Representation(
                    received_on=r.received_on, attachment_id=r.attachment_id, recorded_by=got.actor
                )
            )
            self.record(
                "step",
                f"Representations received on {r.received_on.isoformat()} recorded",
                representations=len(progress.representations),
                attachment_id=r.attachment_id,
            )
        self.record(
            "step",
            "Stage 1 response window closed",
            representations=len(progress.representations),
        )

    # --- the decision -----------------------------------------------------------------------
    async def deportation(self) -> CaseResult:
        submissions = 0
        while True:
            if self.s.progress.stage1_on_instruction:
                n = len(self.s.progress.representations)
                self.record(
                    "step",
                    f"For the decision maker: {n} representation(s) received in the Stage 1 "
                    "response window",
                    representations=n,
                )
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
            submissions += 1
            await self.submit(req, d, submissions)
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

    async def submit(self, req: DecisionRequest, d: DeportationDecision, n: int) -> None:
        if not self.s.progress.stage1_on_instruction:
            ref = await self.call(
                A.submit_to_director, self.subject_step("director-submission"), what="Submission"
            )
            self.record(
                "step",
                "Submission sent to the CC Director: deportation not appropriate",
                reference=self.keep("submission", ref.ref),
                system="CC Director",
            )
            return
        step = "director-submission" if n == 1 else f"director-submission/{n}"
        sent = await self.call(
            A.submit_to_director_with_reasons,
            Submission(
                case_id=self.s.case_id,
                idempotency_key=self.key(step),
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                reasons=d.submission_reasons or "",
                author=req.actor,
            ),
            what="Submission",
        )
        self.s.progress.submission_document_id = sent.document_id
        self.record(
            "step",
            "Submission sent to the CC Director with its reasons: deportation not appropriate",
            reference=self.keep("submission", sent.ref),
            system="CC Director",
            document_id=sent.document_id,
        )

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
            ref = await self.call(
                A.refer_to_removals_casework,
                self.subject_step("removals-referral"),
                what="Referral to Removals Casework",
            )
            self.record(
                "step",
                "Referred to Removals Casework for administrative removal",
                reference=self.keep("Removals Casework referral", ref.ref),
                system="Removals Casework",
            )
        elif self.s.progress.stage1_on_instruction:
            self.record(
                "step",
                "Finding: the subject resides lawfully; no referral for administrative removal",
                finding="resides_lawfully",
            )
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
