"""The encounter as it ran before issue 22 (h2): the same workflow type whose check
requests never call ``workflow.patched(REPLIES_PUSHED)``, so no marker is written and
each check polls ACRO for its reply, as the code before did. A case started on it and
finished on today's code shows a polling case keeps polling to its end
(tests/test_replies_pushed.py)."""

from __future__ import annotations

from temporalio import workflow

from workflows.encounter import EncounterWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import ENCOUNTER_WORKFLOW, CaseResult, CountryCheck, EncounterInput
    from models.reference import country
    from models.steps import AcroCheckRequest


@workflow.defn(name=ENCOUNTER_WORKFLOW)
class EncounterBeforePushedReplies(EncounterWorkflow):
    async def request_check(self, c: CountryCheck) -> None:
        """The code before the patch: the request, and nothing recorded for a push."""
        event = self.s.event
        ref = await self.call(
            CaseActivities.request_acro_check,
            AcroCheckRequest(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/acro-check/{c.country}",
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                country=c.country,
                channel=c.channel,
                reason=event.reason,
                uk_matter=event.uk_matter,
                subject=event.subject,
            ),
            what=f"ACRO check to {c.country}",
        )
        now = workflow.now()
        c.request_ref = ref.request_ref
        c.requested_at = now
        c.last_polled_at = now
        p = self.s.policy
        c.reply_due_at = (
            p.working_days_after(now, p.eu_reply_working_days)
            if c.eu
            else now + p.days(p.non_eu_first_chaser_days)
        )
        self.record(
            "request",
            f"ACRO check requested to {country(c.country).name} via {c.channel}",
            country=c.country,
            request_ref=c.request_ref,
        )
        self.refresh_stage()

    @workflow.run
    async def run(self, inp: EncounterInput) -> CaseResult:
        return await super().run(inp)
