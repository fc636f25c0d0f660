"""What the case process (the encounter and Criminal Casework) adds to the core:
asking ACRO whether a country has answered a check (a check requested before issue
22), or taking the reply ACRO pushed in (``acro_reply``: the claim check of the stored
certificate, delivered by ``activities.replies_in.deliver_reply``).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.base import STEP_TIMEOUT, SYSTEM_RETRY, CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.core import PERMANENT
    from activities.steps import CaseActivities
    from models.case import ACRO_REPLY_SIGNAL, CertificateRef, CountryCheck, ReplyDelivered
    from models.steps import Chaser, ReplyPoll


class AcroCase(CaseWorkflow):
    """Base of the encounter and Criminal Casework workflows."""

    def reply_checks(self) -> list[CountryCheck]:
        """The checks whose replies come to this case (overridden per workflow)."""
        return []

    @workflow.signal(name=ACRO_REPLY_SIGNAL)
    def acro_reply(self, delivered: ReplyDelivered) -> None:
        """A reply pushed in: kept on its check for the check's wait to take at once
        (in this workflow task). A second reply to a check already answered, a reply
        to a check that polls or no longer waits, or to no check: ignored."""
        for check in self.reply_checks():
            if check.request_ref == delivered.request_ref:
                if check.pushed and check.delivered is None and check.certificate is None:
                    check.delivered = delivered.certificate
                return
        # Before the request's answer reached the case (a reply at once): kept for it.
        self._early_replies()[delivered.request_ref] = delivered.certificate

    def _early_replies(self) -> dict[str, CertificateRef]:
        if not hasattr(self, "_early"):
            self._early: dict[str, CertificateRef] = {}
        return self._early

    def requested(self, check: CountryCheck) -> None:
        """``check`` has its request reference: a reply that came before it is its."""
        early = self._early_replies().pop(check.request_ref or "", None)
        if early is not None and check.pushed and check.certificate is None:
            check.delivered = early

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

    async def call_local(
        self,
        activity: Callable[..., Any],
        arg: Any,
        *,
        what: str,
        step_timeout: timedelta = STEP_TIMEOUT,
    ) -> Any:
        """``CaseWorkflow.call`` as a local activity (issue 22: a chaser, the close of a
        check whose reply is pushed): run in the workflow task that asks for it, one
        marker in the history instead of three events and a workflow task. A permanent
        refusal is recorded and waits for a caseworker to resume, as there."""
        while True:
            try:
                return await workflow.execute_local_activity_method(
                    activity, arg, start_to_close_timeout=step_timeout, retry_policy=SYSTEM_RETRY
                )
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == PERMANENT):
                    raise
                self.record("fault", f"{what} refused: {cause.message}")
                await self.next_decision("resume_after_fault")

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
