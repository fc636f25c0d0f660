"""Criminal Casework, steps 7-9 once the subject's whereabouts are known: straight to a
CC case owner when the referral (or a custody event) says where the subject is; a
dormant case woken by a custody event, with an urgent detention decision before the
police release the subject; the detention decision itself — since issue 21
(``LOCATED_CHECKLIST``) proposed to the Detention Gatekeeper, or the non-detained
management recorded (the urgent one before release stays the owner's alone). Every wait
here has a deadline and someone who is told when it passes (``decide_by``).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.casework_case import CaseworkCase
from workflows.changes import ALLOCATION as ALLOCATION_BY_MANAGER
from workflows.changes import DECISION_DEADLINES, LOCATED_CHECKLIST, LOCATED_OWNER_DEADLINE
from workflows.tasks import apply_task

with workflow.unsafe.imports_passed_through():
    from models.case import Deadline, Stage
    from models.decision_kind import missing_needed
    from models.decisions import (
        DecisionRequest,
        DetentionDecision,
        DetentionGatekeeper,
        SubjectLocated,
    )
    from models.decisions_casework import AllocateCase

DETENTION_POWER_EEA = "Immigration (European Economic Area) Regulations 2006, regulation 24(1)"
DETENTION_POWER_NON_EEA = "Immigration Act 1971, Schedule 3, paragraph 2"

# The names of the deadlines this module sets (state.deadlines, state.overdue).
ALLOCATION = "case owner allocation"
CUSTODY_DETENTION = "detention before release from police custody"
DETENTION = "detention decision"
GATEKEEPER = "Detention Gatekeeper's answer"
# Who an overdue wait is escalated to (already among the roles of these decisions).
ESCALATED_TO = "senior_caseworker"


class Located(CaseworkCase):
    """Whereabouts, allocation, the custody wake and detention of
    ``CriminalCaseworkWorkflow``."""

    # --- every wait has a deadline and someone told ---------------------------------------
    async def decide_by(
        self,
        *kinds: str,
        name: str,
        due: datetime,
        wake: Callable[[], bool] | None = None,
    ) -> DecisionRequest | None:
        """Offer ``kinds`` until ``due``; when it passes with nothing decided, tell
        (``overdue_told``) and go on offering them. None only when ``wake`` became
        true first. The stage's deadline is left standing once passed: the
        overdue listing (``access.stuck``, NEXT_DEADLINE) shows the case until acted on."""
        req = await self.next_decision(*kinds, deadline=due, wake=wake)
        if req is None and not (wake is not None and wake()):
            self.overdue_told(name, due)
            req = await self.next_decision(*kinds, wake=wake)
        return req

    async def decide_in_time(
        self, stage: Stage, kind: str, *, name: str, working_days: int
    ) -> DecisionRequest:
        """Offer ``kind`` at ``stage`` for ``working_days`` (its deadline ``name``), then
        tell (``decide_by``). A case recorded before these deadlines: none."""
        if not workflow.patched(DECISION_DEADLINES):
            self.set_stage(stage)
            return await self.next_decision(kind)  # type: ignore[no-any-return]
        p = self.s.policy
        due = p.working_days_after(workflow.now(), working_days)
        self.set_stage(stage, deadlines=[Deadline(name=name, due_at=due)])
        req = await self.decide_by(kind, name=name, due=due)
        assert req is not None
        return req

    def overdue_told(self, name: str, due: datetime) -> None:
        self.s.overdue.append(name)
        self.record(
            "fault",
            f"Overdue: {name} was due {due:%Y-%m-%d %H:%M %Z}; listed as overdue until decided",
            deadline=name,
            overdue=True,
            escalated_to=ESCALATED_TO,
        )
        self.publish()

    # --- step 7: whereabouts -------------------------------------------------------------
    def whereabouts_known(self) -> bool:
        """Whether the case knows where the subject is: a custody event told it, or the
        latest referral that says where the subject is says so (a later referral may
        know more). Recorded in ``s.whereabouts``."""
        if self.s.in_custody is not None:
            self.s.whereabouts = "in_police_custody"
            return True
        stated = [r.event for r in self.s.referrals if r.event.whereabouts is not None]
        if stated and stated[-1].whereabouts_known():
            self.s.whereabouts = stated[-1].whereabouts
            return True
        return False

    async def whereabouts_known_to_owner(self) -> None:
        """Known whereabouts: no NBTC check, no marker, no ICE; straight to a case owner
        (urgently, if a custody event has the subject in a cell now)."""
        self.record(
            "step",
            "Whereabouts known: no NBTC check and no wanted/missing marker; the case goes "
            "straight to a CC case owner",
            whereabouts=self.s.whereabouts,
        )
        if self.custody_detention_due(urgent=False) is not None:
            await self.located_by_custody()
        else:
            await self.allocate_owner()

    # --- step 8: allocation ----------------------------------------------------------------
    async def allocate_owner(self) -> None:
        """Located, to be allocated to a CC case owner: by a deadline, else escalated.
        Issue 21: a CC manager allocates (``allocate_case``); ``subject_located`` only
        reports the location."""
        if workflow.patched(LOCATED_OWNER_DEADLINE) and workflow.patched(ALLOCATION_BY_MANAGER):
            self.s.located = True
            self.s.outcome = None
            if self.s.progress.case_owner_id is not None:
                return  # allocated already (moved by a CC manager while located)
            p = self.s.policy
            due = p.working_days_after(workflow.now(), p.allocation_working_days)
            self.set_stage(
                Stage.LOCATED_AWAITING_OWNER, deadlines=[Deadline(name=ALLOCATION, due_at=due)]
            )
            req = await self.decide_by("allocate_case", name=ALLOCATION, due=due)
            assert req is not None and isinstance(req.decision, AllocateCase)
            text, data = apply_task(req, self.s.progress, self.s.tasks, workflow.now())
            self.s.case_owner = req.decision.owner_name
            self.record("step", text, **data)
            return
        if not workflow.patched(LOCATED_OWNER_DEADLINE):
            # Recorded before the deadline existed: no timer.
            self.set_stage(Stage.LOCATED_AWAITING_OWNER)
            self.take_located(await self.next_decision("subject_located"))
            return
        p = self.s.policy
        due = p.working_days_after(workflow.now(), p.allocation_working_days)
        self.set_stage(
            Stage.LOCATED_AWAITING_OWNER, deadlines=[Deadline(name=ALLOCATION, due_at=due)]
        )
        self.take_located(await self.decide_by("subject_located", name=ALLOCATION, due=due))

    def take_located(self, req: DecisionRequest | None) -> None:
        assert req is not None and isinstance(req.decision, SubjectLocated)
        self.s.located = True
        self.s.outcome = None
        if workflow.patched(ALLOCATION_BY_MANAGER):
            # The location only: a CC manager allocates next (``allocation_due``).
            self.record("step", "Subject located; a CC manager allocates the case next")
            return
        # Issue 21's forms no longer ask for the owner: a case still on this path (waiting
        # here since before the change) takes the decider as its owner.
        owner = req.decision.case_owner or req.actor
        self.s.case_owner = owner
        self.record(
            "step",
            f"Subject located; case allocated to case owner {owner}",
            pending_prosecution=req.decision.pending_prosecution,
        )

    def allocation_due(self) -> bool:
        """Located and not yet allocated by a CC manager (issue 21): allocate first."""
        return self.s.progress.case_owner_id is None and workflow.patched(ALLOCATION_BY_MANAGER)

    # --- step 7 (located later): a custody event ------------------------------------------
    def custody_located(self) -> bool:
        """A custody event told this case the subject is located (it wakes a waiting case)."""
        return self.s.in_custody is not None

    async def located_by_custody(self) -> None:
        """In custody at a force since a time: detention is considered at once, before the
        police release the subject; then a case owner is allocated."""
        seen = self.s.in_custody
        assert seen is not None
        self.s.outcome = None  # no longer wanted/missing: located
        self.s.whereabouts = "in_police_custody"
        self.record(
            "step",
            f"Located by a custody event: in custody at {seen.force}; detention to be "
            "considered before the police release the subject",
            encounter_id=seen.encounter_id,
            located_by="custody_event",
        )
        await self.detention(urgent=True)
        await self.allocate_owner()

    def custody_detention_due(self, *, urgent: bool) -> datetime | None:
        """When detention must be decided by, the subject being in police custody: from
        ``since``, the policy's hours (PACE). Only while still ahead, unless ``urgent``
        (the decision was raised by the custody event itself)."""
        seen = self.s.in_custody
        if seen is None or self.s.detained is not None:
            return None
        p = self.s.policy
        due = seen.since + p.days(p.custody_detention_hours / 24)
        return due if urgent or due > workflow.now() else None

    # --- step 9: detention ---------------------------------------------------------
    async def detention(self, *, urgent: bool = False) -> None:
        due = self.custody_detention_due(urgent=urgent)
        if due is None and workflow.patched(LOCATED_CHECKLIST):
            await self.detention_gatekept()
            return
        req: DecisionRequest | None
        if due is None:
            req = await self.decide_in_time(
                Stage.DETENTION_DECISION,
                "detention",
                name=DETENTION,
                working_days=self.s.policy.detention_decision_working_days,
            )
        else:
            self.set_stage(
                Stage.DETENTION_DECISION,
                deadlines=[Deadline(name=CUSTODY_DETENTION, due_at=due)],
            )
            req = await self.decide_by("detention", name=CUSTODY_DETENTION, due=due)
        assert req is not None
        d = req.decision
        assert isinstance(d, DetentionDecision)
        self.serving_sentence(d)
        if d.detain:
            self.s.detained = True
            self.s.detention_power = self.detention_power_for()
            self.record("step", f"Detention authorised under {self.s.detention_power}")
        else:
            self.s.detained = False
            self.record("step", "Not suitable for detention: managed on a non-detained basis")

    def serving_sentence(self, d: DetentionDecision) -> None:
        # A subject known to be serving a sentence is, unless the decision says otherwise.
        if d.serving_prison_sentence is not None:
            self.s.serving_prison_sentence = d.serving_prison_sentence
        else:
            self.s.serving_prison_sentence = self.s.whereabouts == "serving_sentence"

    def detention_power_for(self) -> str:
        return DETENTION_POWER_EEA if self.s.eea_national else DETENTION_POWER_NON_EEA

    async def detention_gatekept(self) -> None:
        """The case owner proposes detention, the Detention Gatekeeper accepts it (the legal
        power recorded) or rejects it; not detained, the owner records the non-detained
        management (reason, reporting conditions, review date). After a rejection the
        owner is asked again, for the non-detained management: detain is refused then."""
        p = self.s.progress
        p.gatekept = True
        while True:
            req = await self.decide_in_time(
                Stage.DETENTION_DECISION,
                "detention",
                name=DETENTION,
                working_days=self.s.policy.detention_decision_working_days,
            )
            d = req.decision
            assert isinstance(d, DetentionDecision)
            self.serving_sentence(d)
            if not d.detain:
                break
            p.detention_proposed = True
            self.record("step", "Detention proposed to the Detention Gatekeeper")
            answer = await self.decide_in_time(
                Stage.DETENTION_GATEKEEPER,
                "detention_gatekeeper",
                name=GATEKEEPER,
                working_days=self.s.policy.gatekeeper_working_days,
            )
            g = answer.decision
            assert isinstance(g, DetentionGatekeeper)
            p.gatekeeper_accepted = g.accept
            if g.accept:
                self.s.detained = True
                self.s.detention_power = p.detention_power = self.detention_power_for()
                self.record(
                    "step",
                    f"The Detention Gatekeeper accepted: detained under {self.s.detention_power}",
                    power=self.s.detention_power,
                )
                return
            self.record(
                "step",
                "The Detention Gatekeeper rejected detention: the case owner records the "
                "non-detained management",
            )
        self.s.detained = False
        p.not_detained_reason = d.not_detained_reason
        p.reporting_conditions = d.reporting_conditions
        p.review_on = d.review_on
        self.record(
            "step",
            "Not detained: managed on a non-detained basis, reporting as set, reviewed on "
            f"{d.review_on}",
            not_detained_reason=d.not_detained_reason,
            review_on=str(d.review_on),
        )

    def check_decision(self, req: DecisionRequest) -> None:
        super().check_decision(req)
        d = req.decision
        if not (isinstance(d, DetentionDecision) and self.s.progress.gatekept):
            return
        if d.detain and self.s.progress.gatekeeper_accepted is False:
            raise ApplicationError(
                "Refused: the Detention Gatekeeper rejected detention; record how the "
                "subject is managed on a non-detained basis (detain false)."
            )
        if missing := missing_needed(d):
            raise ApplicationError(
                "Refused: a detention decision not to detain needs " + ", ".join(missing) + "."
            )
