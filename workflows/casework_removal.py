"""Criminal Casework, step 10 after the decision to deport: the deportation order served,
the appeal where there is an in-country right of appeal (lodged within the window,
holding removal; determined: dismissed, on; allowed, the case closes), ICE asked to
detain a subject not detained whose address is known (with the disclosable evidence's
reference), ICE's own detention (its legal power recorded), removal enforced — or the
subject absconds and is wanted/missing again (ICD.5079) until located again (a custody
event or ``subject_located``; ICD.5080) — and the notifications after removal.

Cases that reached Stage 1 before issue 21 (``workflows.changes.STAGE1_TO_REMOVAL``;
``s.progress.stage1_on_instruction`` false) take the old path here: ICE asked at once,
enforcement awaited, notifications sent. Every reference another system returns is
kept (``s.progress.references``, and on the timeline entry: ``reference``, ``system``).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.casework_located import DETENTION_POWER_EEA, DETENTION_POWER_NON_EEA
from workflows.casework_locating import Locating
from workflows.changes import ENFORCEMENT_DEADLINE

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CaseResult, Deadline, Outcome, Stage
    from models.decisions import (
        Absconded,
        AppealDetermined,
        AppealLodged,
        DecisionRequest,
        DeportationDecision,
        DeportationEnforced,
        ServeDeportationOrder,
        SubjectDetained,
        SubjectLocated,
    )
    from models.deportation_steps import IceDetentionRequest, NoticeService
    from models.steps import CaseNote, Notification

A = CaseActivities

ENFORCEMENT_REVIEW = "enforcement review"
ORDER_SERVICE = "deportation order service"
APPEAL_WINDOW = "appeal window"
APPEAL_REVIEW = "appeal review"
WANTED_REVIEW = "wanted/missing review"
POST_DEPORTATION_RECIPIENTS = ("ACRO", "PNC Bureau", "referring police force", "HM Passport Office")


class Removal(Locating):
    """After the decision to deport, for ``CriminalCaseworkWorkflow``."""

    async def conclude(self, outcome: Outcome) -> CaseResult:
        """The end (``CriminalCaseworkWorkflow.conclude``)."""
        raise NotImplementedError

    def keep(self, name: str, ref: str) -> str:
        """A reference another system returned, kept under ``name``."""
        self.s.progress.references[name] = ref
        return ref

    async def deport(self, d: DeportationDecision) -> CaseResult:
        self.record("step", "Decision to deport")
        if self.s.progress.stage1_on_instruction:
            return await self.order_appeal_and_removal(d)
        if not self.s.detained and d.address_known and not d.in_country_right_of_appeal:
            ref = await self.call(A.ask_ice_to_detain, self.subject_step("ice-detain"), what="ICE")
            self.keep("ICE detention", ref.ref)
            self.record(
                "step",
                "Local ICE team asked to detain the subject",
                reference=ref.ref,
                system="ICE",
            )
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
                recipients=list(POST_DEPORTATION_RECIPIENTS),
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
            return await self.next_decision("deportation_enforced")  # type: ignore[no-any-return]
        p = self.s.policy
        due = workflow.now() + p.days(p.enforcement_review_days)
        self.set_stage(
            Stage.AWAITING_ENFORCEMENT,
            deadlines=[Deadline(name=ENFORCEMENT_REVIEW, due_at=due)],
        )
        req = await self.decide_by("deportation_enforced", name=ENFORCEMENT_REVIEW, due=due)
        assert req is not None
        return req

    # --- issue 21: the order, the appeal, removal ---------------------------------------
    async def order_appeal_and_removal(self, d: DeportationDecision) -> CaseResult:
        await self.serve_order()
        if d.in_country_right_of_appeal and not await self.appeal_dismissed_or_none():
            ref = await self.call(
                A.advise_acro_appeal_allowed,
                self.subject_step("acro-appeal-allowed"),
                what="Advising ACRO",
            )
            self.record(
                "step",
                "ACRO advised that the appeal was allowed",
                reference=self.keep("ACRO: appeal allowed", ref.ref),
                system="ACRO",
            )
            return await self.conclude(Outcome.APPEAL_ALLOWED)
        if not self.s.detained and d.address_known:
            evidence = [c.document_id for c in self.certificates if c.disclosable is not False]
            ref = await self.call(
                A.ask_ice_to_detain_with_evidence,
                IceDetentionRequest(
                    case_id=self.s.case_id,
                    idempotency_key=self.key("ice-detain"),
                    as_of=workflow.now(),
                    subject_key=self.s.subject_key,
                    evidence_document_ids=evidence,
                ),
                what="ICE",
            )
            self.record(
                "step",
                "Local ICE team asked to detain the subject, with the disclosable evidence",
                reference=self.keep("ICE detention", ref.ref),
                system="ICE",
                evidence=evidence,
            )
        enforced = await self.until_removed()
        self.record(
            "step",
            f"Deportation enforced on {enforced.removed_on.isoformat()}",
            reference=self.keep("removal", enforced.removal_reference or ""),
            system="ICE",
        )
        sent = await self.call(
            A.send_notifications_with_refs,
            Notification(
                case_id=self.s.case_id,
                idempotency_key=self.key("post-deportation"),
                subject_key=self.s.subject_key,
                recipients=list(POST_DEPORTATION_RECIPIENTS),
                subject_line="Deportation enforced",
            ),
            what="Post-deportation notifications",
        )
        for recipient, ref in sent.refs.items():
            self.record(
                "step",
                f"Informed of the deportation: {recipient}",
                reference=self.keep(f"post-deportation: {recipient}", ref),
                system=recipient,
            )
        return await self.conclude(Outcome.DEPORTED)

    async def serve_order(self) -> None:
        req = await self.decide_in_time(
            Stage.DEPORTATION_ORDER_TO_SERVE,
            "serve_deportation_order",
            name=ORDER_SERVICE,
            working_days=self.s.policy.deportation_order_working_days,
        )
        d = req.decision
        assert isinstance(d, ServeDeportationOrder)
        served = await self.call(
            A.serve_deportation_order,
            NoticeService(
                case_id=self.s.case_id,
                idempotency_key=self.key("deportation-order"),
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                notice="deportation order",
                means=d.means,
            ),
            what="Serving the deportation order",
        )
        self.s.progress.order_served_at = served.served_at
        self.record(
            "step",
            f"Deportation order served ({d.means.replace('_', ' ')}) on "
            f"{served.served_at:%Y-%m-%d}",
            reference=self.keep("deportation order", served.ref),
            system="Home Office correspondence",
            means=d.means,
            served_at=served.served_at.isoformat(),
        )

    async def appeal_dismissed_or_none(self) -> bool:
        """The appeal window from the order's service; a lodged appeal holds removal
        until determined. False when the appeal was allowed."""
        p = self.s.policy
        served = self.s.progress.order_served_at or workflow.now()
        due = served + p.days(p.appeal_window_days)
        self.s.progress.appeal = "window"
        self.set_stage(Stage.APPEAL_WINDOW, deadlines=[Deadline(name=APPEAL_WINDOW, due_at=due)])
        req = await self.next_decision("appeal_lodged", deadline=due)
        if req is None:  # the window's end is a timer, not a decision
            self.s.progress.appeal = "none_lodged"
            self.record(
                "step",
                "No appeal lodged within the appeal window: removal goes ahead",
                appeal="none_lodged",
            )
            return True
        lodged = req.decision
        assert isinstance(lodged, AppealLodged)
        self.s.progress.appeal = "lodged"
        self.record(
            "step",
            f"Appeal lodged on {lodged.lodged_on.isoformat()}: removal held until determined",
            reference=self.keep("appeal", lodged.appeal_reference),
            system="HM Courts & Tribunals Service",
            appeal="lodged",
        )
        review = workflow.now() + p.days(p.appeal_review_days)
        self.set_stage(
            Stage.AWAITING_APPEAL, deadlines=[Deadline(name=APPEAL_REVIEW, due_at=review)]
        )
        req = await self.decide_by("appeal_determined", name=APPEAL_REVIEW, due=review)
        assert req is not None and isinstance(req.decision, AppealDetermined)
        result = req.decision.result
        self.s.progress.appeal = result
        self.record("step", f"Appeal {result}", appeal=result)
        return result == "dismissed"

    async def until_removed(self) -> DeportationEnforced:
        """Awaiting enforcement until removed: ICE may detain meanwhile; a subject who
        absconds is wanted/missing again until located, then enforcement again."""
        while True:
            req = await self.enforcement_or_absconding()
            if isinstance(req.decision, DeportationEnforced):
                return req.decision
            assert isinstance(req.decision, Absconded)
            await self.wanted_again(req.decision)

    async def enforcement_or_absconding(self) -> DecisionRequest:
        p = self.s.policy
        due = workflow.now() + p.days(p.enforcement_review_days)
        self.set_stage(
            Stage.AWAITING_ENFORCEMENT, deadlines=[Deadline(name=ENFORCEMENT_REVIEW, due_at=due)]
        )
        told = False
        while True:
            kinds = ["deportation_enforced", "absconded"]
            if not self.s.detained:
                kinds.append("subject_detained")
            req = await self.next_decision(*kinds, deadline=None if told else due)
            if req is None:
                self.overdue_told(ENFORCEMENT_REVIEW, due)
                told = True
                continue
            if not isinstance(req.decision, SubjectDetained):
                return req  # type: ignore[no-any-return]
            self.ice_detained(req.decision)

    def ice_detained(self, d: SubjectDetained) -> None:
        power = DETENTION_POWER_EEA if self.s.eea_national else DETENTION_POWER_NON_EEA
        self.s.detained = True
        self.s.detention_power = power
        self.s.progress.ice_detention_power = power
        self.record(
            "step",
            f"Detained by ICE on {d.detained_on.isoformat()} under {power}",
            reference=self.keep("ICE detained", d.ice_reference),
            system="ICE",
            detention_power=power,
        )

    async def wanted_again(self, d: Absconded) -> None:
        """Absconded: wanted/missing again (ICD.5079), liable to deport, until located by
        a custody event or ``subject_located``; then the marker comes off (ICD.5080)."""
        progress = self.s.progress
        progress.absconded += 1
        n = progress.absconded
        self.s.detained = False
        ref = await self.call(
            A.add_wanted_marker, self.subject_step(f"icd5079/absconded-{n}"), what="ICD.5079"
        )
        self.s.marker_on_pnc = True
        self.s.outcome = Outcome.LIABLE_TO_DEPORT_WANTED
        await self.call(
            A.record_outcome_on_cid,
            CaseNote(
                case_id=self.s.case_id,
                idempotency_key=self.key(f"cid-outcome/absconded-{n}"),
                subject_key=self.s.subject_key,
                text=Outcome.LIABLE_TO_DEPORT_WANTED.value,
            ),
            what="Recording the outcome on CID",
        )
        self.record(
            "step",
            f"Absconded (last seen {d.last_seen_on.isoformat()}): ICD.5079 sent, "
            "wanted/missing marker added; liable to deport until located",
            reference=self.keep("ICD.5079", ref.ref),
            system="PNC",
            absconded=n,
        )
        seen = len(self.s.custody_events_seen)

        def in_custody_again() -> bool:
            return len(self.s.custody_events_seen) > seen

        p = self.s.policy
        due = workflow.now() + p.days(p.dormant_review_days)
        self.set_stage(
            Stage.LIABLE_TO_DEPORT_WANTED, deadlines=[Deadline(name=WANTED_REVIEW, due_at=due)]
        )
        req = await self.decide_by(
            "subject_located", name=WANTED_REVIEW, due=due, wake=in_custody_again
        )
        self.s.outcome = None
        if req is None or not isinstance(req.decision, SubjectLocated):
            assert self.s.in_custody is not None
            self.record(
                "step",
                f"Located again by a custody event: in custody at {self.s.in_custody.force}",
                located_by="custody_event",
                encounter_id=self.s.in_custody.encounter_id,
            )
        else:
            self.record("step", "Located again", located_by="subject_located")
        await self.call(
            A.remove_wanted_marker, self.subject_step(f"icd5080/absconded-{n}"), what="ICD.5080"
        )
        self.s.marker_on_pnc = False
        self.record("step", "ICD.5080 sent: wanted/missing marker removed from the PNC")
