"""Triage of a country's reply beyond the offence table (issue 20, h2; DOMAIN.md
step 4): an ACRO officer's decision, and further details asked of the country.

- **ACRO officer's triage.** A reply with an offence the table does not know, or marks
  borderline (``CertificateRef.needs_triage``, set by the reply's activity), and no
  offence the table calls serious, is offered to an ACRO officer as a ``triage``
  decision (serious or not, and why), at ``Stage.AWAITING_ACRO_TRIAGE``, due within
  ``Policy.acro_triage_working_days``. When that passes the wait goes on, the case
  notes it is overdue and its passed deadline lists it among the overdue cases
  (``access.stuck``: seen by supervisors and ACRO officers). One reply at a time: a
  second waits for the first to be decided. A reply with a serious offence by the table
  is serious without asking.
- **Further details.** A serious reply with a conviction whose sentence is not stated
  (``CertificateRef.details_missing``) lacks the nature of the offence: ACRO asks the
  country (the Romanian seed case), polls every ``further_details_poll_days``, chases
  when ``further_details_working_days`` pass (``further_details_max_chasers``), then
  refers with what is known, recorded. The supplement completes the stored certificate
  (``activities.further_details``); the case learns only whether a sentence is still
  missing.

No conviction detail is in the workflow: the officer reads the certificate from the
case store. No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.changes import ACRO_TRIAGE
from workflows.encounter_checks import CountryChecks

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CertificateRef, CountryCheck, Deadline, Stage
    from models.decisions import DecisionRequest, TriageDecision
    from models.reference import country
    from models.steps import FurtherDetailsChaser, FurtherDetailsPoll, FurtherDetailsRequest

A = CaseActivities


class ReplyTriage(CountryChecks):
    """The ACRO officer's triage and further details; ``EncounterWorkflow`` is the case."""

    _triage_busy: bool = False  # one reply offered for triage at a time

    def triage_stage(self) -> bool:
        """Set the stage while a reply is in triage or awaits further details (then
        True); ``EncounterWorkflow.refresh_stage`` follows the checks otherwise."""
        checks = list(self.s.checks.values())
        triaging = [c for c in checks if c.triage == "awaiting"]
        if triaging:
            self.set_stage(
                Stage.AWAITING_ACRO_TRIAGE,
                deadlines=[
                    Deadline(
                        name=f"ACRO triage of the reply from {c.country}", due_at=c.triage_due_at
                    )
                    for c in triaging
                    if c.triage_due_at is not None
                ],
            )
            return True
        detailing = [c for c in checks if c.further_details == "requested"]
        if detailing:
            self.set_stage(
                Stage.AWAITING_FURTHER_DETAILS,
                deadlines=[
                    Deadline(
                        name=f"further details from {c.country}", due_at=c.further_details_due_at
                    )
                    for c in detailing
                    if c.further_details_due_at is not None
                ],
            )
            return True
        return False

    # --- the ACRO officer's triage ---------------------------------------------------
    def needs_acro_triage(self, cert: CertificateRef) -> bool:
        """Not serious by the table, and an offence it cannot classify (cases started
        before the triage existed closed such a reply as not serious: ``ACRO_TRIAGE``)."""
        return not cert.serious and cert.needs_triage and workflow.patched(ACRO_TRIAGE)

    async def acro_triage(self, cert: CertificateRef) -> bool:
        """Offer the reply to an ACRO officer; whether they found it serious."""
        await workflow.wait_condition(lambda: not self._triage_busy)
        self._triage_busy = True
        c = self.s.checks[cert.country]
        p = self.s.policy
        c.triage = "awaiting"
        c.triage_due_at = p.working_days_after(workflow.now(), p.acro_triage_working_days)
        self.refresh_stage()
        self.record(
            "request",
            f"Reply from {country(c.country).name}: an offence the table does not know or "
            "marks borderline; an ACRO officer to triage it (serious or not) within "
            f"{p.acro_triage_working_days} working days",
            country=c.country,
            document_id=cert.document_id,
        )
        req = await self.next_decision("triage", deadline=c.triage_due_at)
        if req is None:
            self.record(
                "note",
                f"ACRO triage of the reply from {c.country} overdue: listed as overdue; "
                "still awaiting an ACRO officer",
                country=c.country,
                overdue=True,
            )
            req = await self.next_decision("triage")
        decided = req.decision
        assert isinstance(decided, TriageDecision)
        c.triage = "serious" if decided.serious else "not_serious"
        cert.serious = decided.serious
        cert.most_serious = decided.serious and decided.most_serious
        self._triage_busy = False
        self.refresh_stage()
        return decided.serious

    def check_triage(self, req: DecisionRequest) -> None:
        """Refuse an inconsistent triage (in the update validator)."""
        decided = req.decision
        if isinstance(decided, TriageDecision) and decided.most_serious and not decided.serious:
            raise ApplicationError(
                "Refused: an offence of the most serious nature is serious; set serious too."
            )

    def describe_triage(self, decided: TriageDecision) -> str:
        return "ACRO triage: " + (
            ("serious (most serious nature)" if decided.most_serious else "serious")
            if decided.serious
            else "not serious"
        )

    # --- further details ---------------------------------------------------------------
    async def further_details(self, cert: CertificateRef) -> None:
        """Ask the country for the nature of the offences and wait for it, with a
        deadline and chasers; then the referral goes on, with or without it."""
        c = self.s.checks[cert.country]
        p = self.s.policy
        assert c.request_ref is not None
        ref = await self.call(
            A.request_further_details,
            FurtherDetailsRequest(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/further-details/{c.country}",
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                request_ref=c.request_ref,
                country=c.country,
            ),
            what=f"Further details requested from {c.country}",
        )
        c.further_details = "requested"
        c.further_details_ref = ref.details_ref
        c.further_details_due_at = p.working_days_after(
            workflow.now(), p.further_details_working_days
        )
        self.record(
            "request",
            f"Further details about the nature of the offences requested from "
            f"{country(c.country).name}; due within {p.further_details_working_days} working days",
            country=c.country,
            details_ref=ref.details_ref,
        )
        self.refresh_stage()
        polled = workflow.now()
        while c.further_details == "requested":
            wake = polled + p.days(p.further_details_poll_days)
            due = c.further_details_due_at
            await self._sleep_until(min(wake, due))
            if workflow.now() >= wake:
                polled = workflow.now()
                if await self._collect_further_details(c, cert):
                    break
            if workflow.now() < due:
                continue
            if c.further_details_chasers < p.further_details_max_chasers:
                c.further_details_chasers += 1
                await self.call(
                    A.send_further_details_chaser,
                    FurtherDetailsChaser(
                        case_id=self.s.case_id,
                        idempotency_key=f"{self.s.case_id}/further-details/{c.country}/"
                        f"chaser/{c.further_details_chasers}",
                        as_of=workflow.now(),
                        details_ref=ref.details_ref,
                        country=c.country,
                        chaser_number=c.further_details_chasers,
                    ),
                    what=f"Further details chased from {c.country}",
                )
                c.further_details_due_at = p.working_days_after(
                    workflow.now(), p.further_details_working_days
                )
                self.record(
                    "chaser",
                    f"Further details from {c.country} overdue: chaser "
                    f"{c.further_details_chasers} sent",
                    country=c.country,
                    further_details=True,
                )
                self.refresh_stage()
            else:
                c.further_details = "not_received"
                self.record(
                    "outcome",
                    f"No further details from {c.country} after "
                    f"{c.further_details_chasers} chaser(s): the referral goes on with what "
                    "the reply states",
                    country=c.country,
                    further_details="not_received",
                )
        self.refresh_stage()

    async def _collect_further_details(self, c: CountryCheck, cert: CertificateRef) -> bool:
        assert c.further_details_ref is not None
        got = await self.call(
            A.collect_further_details,
            FurtherDetailsPoll(
                case_id=self.s.case_id,
                details_ref=c.further_details_ref,
                document_id=cert.document_id,
                country=c.country,
                as_of=workflow.now(),
            ),
            what=f"Collecting further details from {c.country}",
        )
        if not got.received:
            return False
        c.further_details = "received"
        cert.details_missing = got.details_missing
        self.record(
            "reply",
            f"Further details from {country(c.country).name}: the nature of the offences, "
            "added to the certificate"
            + ("; a sentence is still not stated" if got.details_missing else ""),
            country=c.country,
            document_id=cert.document_id,
            further_details="received",
        )
        return True

    async def _sleep_until(self, moment: datetime) -> None:
        remaining = moment - workflow.now()
        if remaining.total_seconds() > 0:
            await workflow.sleep(remaining)
