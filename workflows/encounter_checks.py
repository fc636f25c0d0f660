"""The encounter's country checks (DOMAIN.md steps 2-3): each check is requested
once the country has the identity data it needs, its reply awaited with deadlines
and chasers, then closed as no response (a late reply is still acted on); a reply
that comes is handed to triage (``EncounterWorkflow.triage``).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows.acro import AcroCase
from workflows.changes import REPLIES_PUSHED

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CertificateRef, CountryCheck, EncounterState
    from models.reference import country
    from models.steps import AcroCheckRequest

A = CaseActivities


class CountryChecks(AcroCase):
    """The encounter's wait for each country; ``EncounterWorkflow`` is the whole case."""

    s: EncounterState
    _suspend: bool  # set when the history grows long: every branch stops at its wait

    def refresh_stage(self) -> None:
        """The stage, from the checks (``EncounterWorkflow.refresh_stage``)."""
        raise NotImplementedError

    async def triage(self, cert: CertificateRef) -> None:
        """Act on a country's reply (``EncounterWorkflow.triage``)."""
        raise NotImplementedError

    def reply_checks(self) -> list[CountryCheck]:
        return list(self.s.checks.values())

    async def check_country(self, code: str) -> None:
        c = self.s.checks[code]
        if c.status == "awaiting_identity_data":
            # The deadline is set once the officer has been asked.
            await workflow.wait_condition(
                lambda: self.s.identity_data_due_at is not None or self._suspend
            )
            ready = await self.wait_until(
                lambda: c.status != "awaiting_identity_data" or self._suspend,
                self.s.identity_data_due_at,
            )
            if self._suspend:
                return
            if not ready:
                c.status = "insufficient_data"
                self.record(
                    "outcome",
                    f"Check to {code} closed as insufficient data: "
                    f"{', '.join(c.missing_fields)} not supplied in time",
                )
                self.refresh_stage()
                return
        if c.status == "requested" and c.request_ref is None:
            await self.request_check(c)
        await self.await_reply(c)

    async def request_check(self, c: CountryCheck) -> None:
        event = self.s.event
        pushed = workflow.patched(REPLIES_PUSHED)
        ref = await self.call(
            A.request_acro_check,
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
                pushed=pushed,
            ),
            what=f"ACRO check to {c.country}",
        )
        now = workflow.now()
        c.pushed = pushed
        c.request_ref = ref.request_ref
        self.requested(c)
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

    def next_poll_at(self, c: CountryCheck) -> datetime:
        p = self.s.policy
        assert c.last_polled_at is not None
        if c.status == "late_reply_window":
            return c.last_polled_at + p.days(p.late_reply_poll_days)
        schedule = p.reply_poll_schedule_days
        interval = schedule[c.polls] if c.polls < len(schedule) else p.reply_poll_days
        return c.last_polled_at + p.days(interval)

    async def await_reply(self, c: CountryCheck) -> None:
        if c.pushed:
            await self.await_pushed_reply(c)
            return
        while c.status in ("requested", "late_reply_window"):
            if self.history_is_long() and not self._suspend:
                self._suspend = True
            if self._suspend:
                return
            wake = self.next_poll_at(c)
            deadline = c.reply_due_at if c.status == "requested" else c.late_until
            assert deadline is not None
            await self.wait_until(lambda: self._suspend, min(wake, deadline))
            if self._suspend:
                return
            if workflow.now() >= wake:
                if await self.poll_reply(c):
                    return
            if workflow.now() < deadline:
                continue
            await self.deadline_passed(c)
        return

    async def await_pushed_reply(self, c: CountryCheck) -> None:
        """One deadline timer at a time (reply due, each chaser's, the late-reply
        window's end) and the reply signal (``AcroCase.acro_reply``): a reply is taken
        and triaged at once, in the workflow task that received it."""
        while c.status in ("requested", "late_reply_window"):
            if self.history_is_long() and not self._suspend:
                self._suspend = True
            if self._suspend:
                return  # a reply delivered meanwhile is in the state carried over
            deadline = c.reply_due_at if c.status == "requested" else c.late_until
            assert deadline is not None
            await self.wait_until(lambda: c.delivered is not None or self._suspend, deadline)
            if c.delivered is not None:
                cert, c.delivered = c.delivered, None
                await self.take_reply(c, cert)
                return
            if self._suspend:
                return
            if workflow.now() >= deadline:
                await self.deadline_passed(c)

    async def deadline_passed(self, c: CountryCheck) -> None:
        """The reply is due and has not come: a chaser, no response, or (the late-reply
        window over) the check closed."""
        p = self.s.policy
        if c.status == "late_reply_window":
            self.record("outcome", f"No late reply from {c.country}; the check is closed")
            c.status = "no_response"
            c.late_until = None
            self.refresh_stage()
            return
        max_chasers = p.eu_max_chasers if c.eu else p.non_eu_max_chasers
        if c.chasers_sent < max_chasers:
            await self.chase(c)
        else:
            c.status = "late_reply_window"
            c.late_until = workflow.now() + p.days(p.late_reply_window_days)
            self.record(
                "outcome",
                f"No response from {c.country} after {c.chasers_sent} chaser(s); "
                "closed as no response — a late reply will still be acted on",
            )
            self.refresh_stage()

    async def chase(self, c: CountryCheck) -> None:
        c.chasers_sent += 1
        await (self.call_local if c.pushed else self.call)(
            A.send_chaser,
            self.chaser_for(c, f"{self.s.case_id}/chaser/{c.country}/{c.chasers_sent}"),
            what=f"Chaser to {c.country}",
        )
        self.chased(c)
        self.record(
            "chaser",
            f"Reply from {c.country} overdue: chaser {c.chasers_sent} sent",
            country=c.country,
        )
        self.refresh_stage()

    async def poll_reply(self, c: CountryCheck) -> bool:
        cert = await self.collect_reply(c, f"Collecting the reply from {c.country}")
        if cert is None:
            return False
        await self.take_reply(c, cert)
        return True

    async def take_reply(self, c: CountryCheck, cert: CertificateRef) -> None:
        late = c.status == "late_reply_window"
        c.status = "replied"
        c.certificate = cert
        c.late_until = None
        self.record(
            "reply",
            f"{'Late reply' if late else 'Reply'} from {country(c.country).name}: "
            + (f"{cert.conviction_count} conviction(s)" if cert.conviction_count else "no trace"),
            country=c.country,
            document_id=cert.document_id,
        )
        await self.triage(cert)
        self.refresh_stage()
