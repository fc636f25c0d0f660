"""Criminal Casework, step 5: a caseworker's decision when the request for a
certificate for immigration purposes failed (``workflows.casework_immigration``): ask
ACRO again, or close the referral as not disclosable (CID noted). Offered beside
whatever else the case awaits, with a deadline; when it passes with nothing decided the
case says so (``overdue``), leaves the deadline standing and still offers it.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.casework_immigration import DECISION_DUE, KIND, ImmigrationRequests

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CountryCheck, Stage
    from models.decisions import ImmigrationCertificateOutcome
    from models.steps import CaseNote

A = CaseActivities


class ImmigrationDecisions(ImmigrationRequests):
    """The caseworker's decision on a failed request for immigration purposes."""

    def failed_request_for(self, code: str | None) -> CountryCheck | None:
        failed = self.failed_requests()
        if code is not None:
            failed = [r for r in failed if r.country == code.upper()]
        return failed[0] if failed else None

    def check_immigration_outcome(self, d: ImmigrationCertificateOutcome) -> None:
        failed = self.failed_requests()
        if d.country is not None and self.failed_request_for(d.country) is None:
            raise ApplicationError(
                f"Refused: no failed request for immigration purposes to {d.country}; "
                f"failed: {', '.join(r.country for r in failed) or 'none'}."
            )
        if d.country is None and len({r.country for r in failed}) > 1:
            raise ApplicationError(
                "Refused: requests to several countries failed "
                f"({', '.join(r.country for r in failed)}); name the country."
            )

    def next_decision_due(self) -> datetime | None:
        """The earliest decision deadline not yet told as overdue."""
        return min(
            (
                r.decision_due_at
                for r in self.failed_requests()
                if r.decision_due_at is not None
                and f"{DECISION_DUE}{r.country}" not in self.s.overdue
            ),
            default=None,
        )

    def tell_overdue(self) -> None:
        """A decision deadline passed with nothing decided: told on the timeline and
        left standing (the overdue listing shows the case); the decision is still open
        to the caseworkers and senior caseworkers."""
        for r in self.failed_requests():
            name = f"{DECISION_DUE}{r.country}"
            if r.decision_due_at is None or r.decision_due_at > workflow.now():
                continue
            if name in self.s.overdue:
                continue
            self.s.overdue.append(name)
            self.record(
                "fault",
                f"Overdue: {name} was due {r.decision_due_at:%Y-%m-%d %H:%M %Z}",
                deadline=name,
                overdue=True,
                escalated_to="senior_caseworker",
            )
        self.publish()

    def wake(self, due: datetime | None) -> bool:
        """Stop offering: closed, nothing failed any more, or another deadline first."""
        return (
            self.s.stage is Stage.CLOSED
            or not self.failed_requests()
            or self.next_decision_due() != due
        )

    async def immigration_decisions(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: self.s.stage is not Stage.CLOSED and bool(self.failed_requests())
            )
            due = self.next_decision_due()
            req = await self.next_decision(KIND, deadline=due, wake=partial(self.wake, due))
            if req is None:
                self.tell_overdue()
                continue
            d = req.decision
            assert isinstance(d, ImmigrationCertificateOutcome)
            failed = self.failed_request_for(d.country)
            if failed is None:  # answered late while the decision was on its way
                self.record("note", "Decision not needed: the country has answered meanwhile")
                continue
            failed.settled = d.action
            if d.action == "request_again":
                self.s.immigration_requests.append(
                    CountryCheck(
                        country=failed.country,
                        channel=failed.channel,
                        eu=failed.eu,
                        replaces=failed.replaces,
                    )
                )
                self.refresh_disclosure_stage()
                continue
            self.refresh_disclosure_stage()
            index = next(i for i, r in enumerate(self.s.immigration_requests) if r is failed)
            await self.step(
                A.note_on_cid,
                CaseNote(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"cid-note/immigration-closed/{index}"),
                    subject_key=self.s.subject_key,
                    text="No disclosable ACRO certificate obtained for immigration purposes; "
                    "the referral is closed as not disclosable",
                ),
                what="Noting CID",
            )
            self.record(
                "note",
                f"CID noted: no disclosable certificate obtained from {failed.country}; "
                "referral closed as not disclosable",
                country=failed.country,
            )
