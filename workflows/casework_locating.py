"""Criminal Casework, steps 6-7: the case is created (CID, calendar event, PNC
check, paper file); where the subject's whereabouts are not known, NBTC tells
whether the subject left the UK; if not, a wanted/missing marker (ICD.5079) and ICE
tasking; on ICE's "unable to locate", or a caseworker's review when the tasking ends
without an answer, the case sleeps as "liable to deport" until the subject is
located — possibly for years (``workflows.casework_located``: known whereabouts, the
custody wake, allocation, detention).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.casework_located import Located
from workflows.changes import ICE_TASKING_ANSWER

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import (
        CaseworkInput,
        Deadline,
        Outcome,
        Stage,
    )
    from models.decisions import (
        ExclusionConsultation,
        IceTaskingReview,
        SubjectLocated,
    )
    from models.steps import (
        CaseNote,
        CidCaseCreation,
        IceStatusQuery,
        NbtcQuery,
    )

A = CaseActivities


ICE_REVIEW = "ICE tasking review"


class Locating(Located):
    """Steps 6-7 of ``CriminalCaseworkWorkflow``."""

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
        self.s.progress.references["CID case"] = cid.cid_ref
        self.record(
            "step",
            ("CID record created" if cid.created else "Existing CID record used")
            + "; case details and overseas convictions recorded",
            cid_ref=cid.cid_ref,
            reference=cid.cid_ref,
            system="CID",
        )
        await self.call(
            A.add_cid_calendar_event,
            self.subject_step("cid-calendar/acro-referral", detail=cid.cid_ref),
            what="CID calendar event",
        )
        self.record("step", "CID calendar event 'CC - ACRO Referral' added with status 'Completed'")
        # issue 21 (h2): the references these steps always returned are kept (no command
        # changes: the same activities, their results stored).
        pnc = await self.call(A.request_pnc_check, self.subject_step("pnc-check"), what="PNC check")
        self.s.progress.references["PNC check"] = pnc.ref
        self.record("step", "PNC check requested", reference=pnc.ref, system="PNC")
        paper = await self.call(
            A.create_paper_file, self.subject_step("paper-file"), what="Paper file"
        )
        self.s.progress.references["paper file"] = paper.ref
        self.record(
            "step",
            "Home Office paper file created; case referred to the CC team",
            reference=paper.ref,
            system="Home Office",
        )

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
        if not any(c.most_serious for c in self.certificates):
            return
        self.record(
            "step",
            "Offences of the most serious nature: exclusion to be considered with a senior "
            "caseworker",
        )
        req = await self.decide_in_time(
            Stage.EXCLUSION_CONSULTATION,
            "exclusion_consultation",
            name="exclusion consultation",
            working_days=self.s.policy.exclusion_consultation_working_days,
        )
        assert isinstance(req.decision, ExclusionConsultation)
        self.record(
            "step",
            "Exclusion order to be pursued"
            if req.decision.pursue_exclusion
            else "Exclusion not pursued",
        )

    async def mark_wanted_and_task_ice(self) -> None:
        marker = await self.call(A.add_wanted_marker, self.subject_step("icd5079"), what="ICD.5079")
        self.s.marker_on_pnc = True
        self.s.progress.references["ICD.5079"] = marker.ref
        self.record(
            "step",
            "ICD.5079 sent to the PNC Bureau: wanted/missing marker added",
            reference=marker.ref,
            system="PNC",
        )
        ref = await self.call(A.task_ice_to_locate, self.subject_step("ice-locate"), what="ICE")
        self.s.ice_tasking_ref = ref.ref
        self.s.progress.references["ICE tasking"] = ref.ref
        self.record(
            "step",
            "Case referred to the ICE team for tasking",
            tasking_ref=ref.ref,
            reference=ref.ref,
            system="ICE",
        )
        p = self.s.policy
        self.s.ice_tasking_until = workflow.now() + p.days(p.ice_tasking_days)
        self.s.next_review_at = workflow.now() + p.days(p.ice_status_poll_days)
        self.set_stage(
            Stage.ICE_TASKING,
            deadlines=[Deadline(name="ICE tasking ends", due_at=self.s.ice_tasking_until)],
        )

    async def until_located(self, inp: CaseworkInput) -> None:
        """ICE tasking, then — if not located — sleep as liable to deport until located.
        ICE's answer ends the tasking ("unable_to_locate": liable to deport at once); a
        tasking period over with no answer goes to a caseworker (``ice_tasking_review``).
        A custody event wakes the case whenever it waits here."""
        p = self.s.policy
        while True:
            assert self.s.next_review_at is not None
            req = await self.next_decision(
                "subject_located", deadline=self.s.next_review_at, wake=self.custody_located
            )
            if req is not None:
                self.take_located(req)
                return
            if self.custody_located():
                await self.located_by_custody()
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
            if self.custody_located():
                await self.located_by_custody()
                return
            if status.status == "located":
                self.record("step", "ICE report the subject located; allocate a case owner")
                await self.allocate_owner()
                return
            tasking = self.s.stage is Stage.ICE_TASKING
            tasking_until = self.s.ice_tasking_until
            if (
                tasking
                and status.status == "unable_to_locate"
                and workflow.patched(ICE_TASKING_ANSWER)
            ):
                await self.liable_to_deport("ICE: unable to locate")
            elif tasking and tasking_until and workflow.now() < tasking_until:
                self.s.next_review_at = min(
                    workflow.now() + p.days(p.ice_status_poll_days), tasking_until
                )
                continue
            elif tasking and workflow.patched(ICE_TASKING_ANSWER):
                if await self.ice_tasking_review():
                    if self.s.located:
                        return
                    continue  # tasking extended
            elif tasking:
                # Recorded before ICE's answer counted: liable on the tasking timer.
                await self.liable_to_deport("Unable to locate")
            self.s.next_review_at = workflow.now() + p.days(p.dormant_review_days)
            self.set_stage(
                Stage.LIABLE_TO_DEPORT_WANTED,
                deadlines=[Deadline(name="wanted/missing review", due_at=self.s.next_review_at)],
            )
            if self.history_is_long():
                await self.renew(inp)

    async def liable_to_deport(self, why: str) -> None:
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
            f"{why}: CID updated '{Outcome.LIABLE_TO_DEPORT_WANTED.value}'; "
            "the case is closed until the subject is located",
        )

    async def ice_tasking_review(self) -> bool:
        """The tasking period ended without ICE's answer: a caseworker decides, by a
        deadline, whether the subject is liable to deport (all avenues to detain
        exhausted) or the tasking goes on. True when the case is not to sleep (located,
        or tasking extended); False once liable to deport."""
        p = self.s.policy
        due = p.working_days_after(workflow.now(), p.ice_review_working_days)
        self.set_stage(Stage.ICE_TASKING_REVIEW, deadlines=[Deadline(name=ICE_REVIEW, due_at=due)])
        self.record("step", "ICE tasking period ended without ICE's answer: caseworker to decide")
        req = await self.decide_by(
            "ice_tasking_review",
            "subject_located",
            name=ICE_REVIEW,
            due=due,
            wake=self.custody_located,
        )
        if req is None:
            await self.located_by_custody()
            return True
        if isinstance(req.decision, SubjectLocated):
            self.take_located(req)
            return True
        d = req.decision
        assert isinstance(d, IceTaskingReview)
        if d.action == "liable_to_deport":
            await self.liable_to_deport("Avenues to detain exhausted")
            return False
        days = d.extend_days if d.extend_days is not None else p.ice_tasking_days
        self.s.ice_tasking_until = workflow.now() + p.days(days)
        self.s.next_review_at = min(
            workflow.now() + p.days(p.ice_status_poll_days), self.s.ice_tasking_until
        )
        self.set_stage(
            Stage.ICE_TASKING,
            deadlines=[Deadline(name="ICE tasking ends", due_at=self.s.ice_tasking_until)],
        )
        self.record("step", f"ICE tasking extended by {days:g} days")
        return True
