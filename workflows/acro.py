"""What the case process (the encounter and Criminal Casework) adds to the core:
asking ACRO whether a country has answered a check.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.base import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CertificateRef, CountryCheck
    from models.steps import Chaser, ReplyPoll


class AcroCase(CaseWorkflow):
    """Base of the encounter and Criminal Casework workflows."""

    async def collect_reply(self, check: CountryCheck, what: str) -> CertificateRef | None:
        """Ask ACRO once whether the country has answered ``check``; the certificate,
        stored in the case store, comes back as a claim check (or None)."""
        assert check.request_ref is not None
        result = await self.call(
            CaseActivities.collect_country_reply,
            ReplyPoll(
                case_id=self.s.case_id,
                request_ref=check.request_ref,
                country=check.country,
                as_of=workflow.now(),
            ),
            what=what,
        )
        check.polls += 1
        check.last_polled_at = workflow.now()
        return result.certificate  # type: ignore[no-any-return]

    def chaser_for(self, check: CountryCheck, key: str) -> Chaser:
        """The chaser numbered ``check.chasers_sent`` for ``check``, keyed ``key``."""
        assert check.request_ref is not None
        return Chaser(
            case_id=self.s.case_id,
            idempotency_key=key,
            as_of=workflow.now(),
            request_ref=check.request_ref,
            country=check.country,
            chaser_number=check.chasers_sent,
        )

    def chased(self, check: CountryCheck) -> None:
        """After a chaser, the reply is due again: EU, in working days; others, days."""
        p, now = self.s.policy, workflow.now()
        check.reply_due_at = (
            p.working_days_after(now, p.eu_chaser_working_days)
            if check.eu
            else now + p.days(p.non_eu_chaser_interval_days)
        )
