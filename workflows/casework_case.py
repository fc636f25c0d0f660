"""What a Criminal Casework case knows of itself: its step keys, its certificates
(a destroyed one is never used again), referrals joining it, its search attributes,
and the rules a decision on it must meet (the law's, whatever the stage).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from workflows.acro import AcroCase
from workflows.tasks import owner_refusal

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models import search
    from models.case import (
        ADD_REFERRAL_SIGNAL,
        SUBJECT_IN_CUSTODY_SIGNAL,
        CaseworkState,
        CertificateRef,
        Deadline,
        InCustody,
        Referral,
        Stage,
    )
    from models.decisions import (
        DecisionRequest,
        DeportationDecision,
        DeportationEnforced,
        DetentionDecision,
        DirectorApproval,
        ImmigrationCertificateOutcome,
    )
    from models.steps import (
        SubjectStep,
    )

A = CaseActivities

IMMIGRATION_PURPOSE = "Request for administrative purpose immigration/deportation"


class CaseworkCase(AcroCase):
    """What the steps of a Criminal Casework case share; ``CriminalCaseworkWorkflow``
    is the whole case."""

    kind = "casework"
    s: CaseworkState
    # Set at the start of the run (``CertificateDesk.start_certificate_desk``): each
    # certificate is checked on its own (``workflows.changes.PER_CERTIFICATE_DISCLOSABILITY``).
    _per_certificate = False
    _stage_deadlines: tuple[Deadline, ...] = ()  # replaced per instance
    # Steps of the waits beside the case's own (``step``): how many are under way, and
    # whether the case is renewing its history (none may start then).
    _busy = 0
    _suspended = False

    @workflow.signal(name=SUBJECT_IN_CUSTODY_SIGNAL)
    def subject_in_custody(self, seen: InCustody) -> None:
        """A custody event for this subject: located, in custody at a force since a time
        (DOMAIN.md step 7). Told once per encounter; a closed case takes nothing."""
        if self.s.stage is Stage.CLOSED or seen.encounter_id in self.s.custody_events_seen:
            return
        self.s.custody_events_seen.append(seen.encounter_id)
        self.s.in_custody = seen
        self.record(
            "step",
            f"Located: in custody at {seen.force} since {seen.since:%Y-%m-%d %H:%M %Z}",
            encounter_id=seen.encounter_id,
            located_by="custody_event",
        )

    @workflow.signal(name=ADD_REFERRAL_SIGNAL)
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
        (same workflow ID, new run) must not be mistaken for a repeat of this one; nor
        a step of a reopened case for the first closure's (the reopening's number)."""
        key = f"{self.s.case_id}/{self.s.chain_id}/{step}"
        reopened = len(self.s.progress.reopenings)
        return f"{key}/reopened-{reopened}" if reopened else key

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
        """The certificates that may be used: a destroyed one is never used again; checked
        per certificate, only those found disclosable (one not yet checked is not used)."""
        if self._per_certificate:
            return [c for c in self.all_certificates if c.disclosable and not c.destroyed]
        return [c for c in self.all_certificates if not c.destroyed]

    def set_stage(self, stage: Stage, *, deadlines: list[Deadline] | None = None) -> None:
        """The stage's own deadlines, and those of the waits running beside it (a
        request for an immigration certificate once the case has moved on)."""
        self._stage_deadlines = tuple(deadlines or [])
        super().set_stage(stage, deadlines=[*self._stage_deadlines, *self.side_deadlines()])

    async def step(self, activity: Callable[..., Any], arg: Any, *, what: str) -> Any:
        """A step of a wait beside the case's own (``CertificateDesk``): none starts
        while the case renews its history, which waits for those under way."""
        if self._suspended:
            await workflow.wait_condition(lambda: False)  # the run ends with renew
        self._busy += 1
        try:
            if activity == self.collect_reply:
                return await self.collect_reply(arg, what)
            return await self.call(activity, arg, what=what)
        finally:
            self._busy -= 1

    async def renew(self, inp: Any) -> NoReturn:
        if self._per_certificate:
            # No decision taken from now on; the steps under way beside finish first.
            self._renewing = True
            self._suspended = True
            # (A step refused for good waits for a caseworker: it is taken up again,
            # with the same key, after the renewal.)
            await workflow.wait_condition(
                lambda: self._busy <= self._waiting.get("resume_after_fault", 0)
            )
        await super().renew(inp)

    def side_deadlines(self) -> list[Deadline]:
        """Deadlines of waits beside the case's stage (``CertificateDesk``)."""
        return []

    async def create_case(self) -> None:
        """Step 6 (``Locating.create_case``)."""
        raise NotImplementedError

    @property
    def has_immigration_certificate(self) -> bool:
        return any(c.purpose == "immigration_deportation" for c in self.certificates)

    @property
    def serious_offences(self) -> list[str]:
        """Offence codes of certificates recorded before the claim check (old histories
        replay with them); empty for every certificate since."""
        return sorted({v.offence for c in self.certificates for v in c.convictions if v.serious})

    # --- what a decision must meet --------------------------------------------------------
    def check_decision(self, req: DecisionRequest) -> None:
        d = req.decision
        # issue 21 (h3): an allocated case's decisions come from its owner, a stand-in or
        # the task's assignee (``workflows.tasks.owner_refusal``).
        p = self.s.progress
        why = owner_refusal(req, self.s.tasks, p, workflow.now(), self.s.case_owner)
        if why is not None:
            raise ApplicationError(why)
        if isinstance(d, ImmigrationCertificateOutcome):
            self.check_immigration_outcome(d)
        if isinstance(d, DeportationEnforced) and d.removed_on > workflow.now().date():
            raise ApplicationError(
                f"Refused: the removal date {d.removed_on.isoformat()} is in the future; "
                "record the deportation once it has been enforced."
            )
        if isinstance(d, DirectorApproval) and self.submitted_by(req):
            raise ApplicationError(
                "Refused: the Director's approval must come from someone other than the "
                "person who submitted 'deportation not pursued'; a senior decision is never "
                "approved by its own author."
            )

    def check_immigration_outcome(self, d: ImmigrationCertificateOutcome) -> None:
        """Which failed request the decision is about (``CertificateDesk``)."""

    def submitted_by(self, req: DecisionRequest) -> bool:
        """Whether ``req`` comes from whoever submitted 'deportation not pursued': the
        same identity when both carry one, else the same name."""
        if self.s.not_pursued_by is None:
            return False
        if req.actor_id is not None and self.s.not_pursued_by_id is not None:
            return req.actor_id == self.s.not_pursued_by_id
        return req.actor.strip().casefold() == self.s.not_pursued_by.strip().casefold()

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
            case ImmigrationCertificateOutcome():
                return "Immigration certificate not obtained: " + (
                    "ask ACRO again"
                    if d.action == "request_again"
                    else "referral closed as not disclosable"
                )
            case _:
                return f"Decision: {d.kind.replace('_', ' ')}"
