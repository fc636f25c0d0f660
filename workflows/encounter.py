"""The encounter: one custody event, from the ACRO check to an outcome.

DOMAIN.md steps 1-4: the check is requested to each target country (nationality,
then other countries lived in); identity data a country needs is asked of the
requesting officer (10 working days, else closed as insufficient data); the
country's reply is awaited with deadlines and chasers, then closed as no response
(a late reply is still acted on); each reply is triaged — no trace, convictions
recorded on the PNC, or serious offending referred to Criminal Casework, whose
outcome this case then takes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from workflows.base import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models import search
    from models.case import (
        CaseResult,
        CaseworkConcluded,
        CaseworkInput,
        CertificateRef,
        CountryCheck,
        Deadline,
        EncounterInput,
        EncounterState,
        Outcome,
        Referral,
        Stage,
        casework_id_for,
    )
    from models.decisions import DecisionRequest, IdentityDataSupplied
    from models.reference import country
    from models.steps import (
        AcroCheckRequest,
        CaseworkReferral,
        Chaser,
        EncounterClosed,
        EncounterOpened,
        IdentityDataRequest,
        PncConvictions,
    )

A = CaseActivities


@workflow.defn
class EncounterWorkflow(CaseWorkflow):
    kind = "encounter"
    s: EncounterState

    @workflow.init
    def __init__(self, inp: EncounterInput) -> None:
        self._init_common()
        self.s = inp.state or EncounterState(
            case_id=workflow.info().workflow_id,
            policy=inp.policy,
            event=inp.event,
            subject_key=inp.subject_key,
            search_attributes_at_start=inp.search_attributes_at_start,
        )
        self._suspend = False

    @workflow.query
    def state(self) -> EncounterState:
        return self.s

    @workflow.signal
    def casework_concluded(self, concluded: CaseworkConcluded) -> None:
        self.s.casework_outcome = concluded.outcome
        self.record(
            "outcome",
            f"Criminal Casework concluded: {concluded.outcome.value}",
            casework_id=concluded.casework_id,
        )

    def extra_search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        return [
            search.NATIONALITY.value_set(self.s.event.subject.nationality),
            search.FORCE.value_set(self.s.event.force),
        ]

    @workflow.run
    async def run(self, inp: EncounterInput) -> CaseResult:
        if inp.state is None:
            self.open()
            await self.register()
        else:
            self.record("note", "Case continued with a fresh history; state carried over")
            self.refresh_stage()

        await asyncio.gather(
            self.identity_data_desk(),
            *(self.check_country(code) for code in self.s.checks),
        )
        if self._suspend:
            # Every branch has stopped at a wait of its own: nobody waits for a decision.
            await self.renew(inp)

        if self.s.casework_id is not None:
            self.set_stage(Stage.REFERRED_TO_CRIMINAL_CASEWORK)
            await workflow.wait_condition(lambda: self.s.casework_outcome is not None)
            assert self.s.casework_outcome is not None
            return await self.close(self.s.casework_outcome)
        return await self.close(self.acro_outcome())

    # --- step 1: custody event received ------------------------------------------
    def open(self) -> None:
        event = self.s.event
        self.s.opened_at = workflow.now()
        self.record(
            "step",
            f"Custody event received from {event.force} ({event.reason}); "
            f"checks to {', '.join(event.target_countries())}",
            custody_reference=event.custody_reference,
        )
        for code in event.target_countries():
            c = country(code)
            missing = event.subject.missing_fields(c.required_fields)
            self.s.checks[code] = CountryCheck(
                country=code,
                channel=c.channel,
                eu=c.eu,
                status="awaiting_identity_data" if missing else "requested",
                required_fields=list(c.required_fields),  # as they were when the case opened
                missing_fields=list(missing),
            )
        self.refresh_stage()

    async def register(self) -> None:
        event = self.s.event
        await self.call(
            A.register_encounter,
            EncounterOpened(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/register",
                force=event.force,
                custody_reference=event.custody_reference,
                reason=event.reason,
                nationality=event.subject.nationality,
                subject_key=self.s.subject_key,
                officer=event.requesting_officer.name,
                opened_at=workflow.now(),
            ),
            what="Recording the custody event in the case store",
        )

    def refresh_stage(self) -> None:
        """The encounter's stage follows its country checks."""
        checks = list(self.s.checks.values())
        if any(c.status == "awaiting_identity_data" for c in checks):
            due = self.s.identity_data_due_at
            self.set_stage(
                Stage.AWAITING_IDENTITY_DATA,
                deadlines=[Deadline(name="identity data", due_at=due)] if due else [],
            )
        elif any(c.status == "requested" for c in checks):
            self.set_stage(
                Stage.AWAITING_COUNTRY_REPLY,
                deadlines=[
                    Deadline(name=f"reply from {c.country}", due_at=c.reply_due_at)
                    for c in checks
                    if c.status == "requested" and c.reply_due_at is not None
                ],
            )
        elif any(c.status == "late_reply_window" for c in checks) and not self.s.casework_id:
            self.s.outcome = self.acro_outcome()
            self.set_stage(
                Stage.AWAITING_LATE_REPLY,
                deadlines=[
                    Deadline(name=f"late reply from {c.country}", due_at=c.late_until)
                    for c in checks
                    if c.status == "late_reply_window" and c.late_until is not None
                ],
            )

    # --- step 2: identity data the country needs -----------------------------------
    async def identity_data_desk(self) -> None:
        """Take the officer's answers until every country has what it needs, or time runs out."""
        awaiting = [c for c in self.s.checks.values() if c.status == "awaiting_identity_data"]
        if not awaiting:
            return
        if not self.s.identity_data_requested:
            fields = sorted({f for c in awaiting for f in c.missing_fields})
            await self.call(
                A.request_missing_identity_data,
                IdentityDataRequest(
                    case_id=self.s.case_id,
                    idempotency_key=f"{self.s.case_id}/identity-data",
                    as_of=workflow.now(),
                    subject_key=self.s.subject_key,
                    officer=self.s.event.requesting_officer,
                    countries=[c.country for c in awaiting],
                    missing_fields=fields,
                ),
                what="Request to the officer for missing identity data",
            )
            self.s.identity_data_requested = True
            # The officer's 10 working days run from the request.
            self.s.identity_data_due_at = self.s.policy.working_days_after(
                workflow.now(), self.s.policy.missing_data_working_days
            )
            self.refresh_stage()
            self.record(
                "request",
                f"Officer asked for {', '.join(fields)} needed by "
                f"{', '.join(c.country for c in awaiting)}; "
                f"{self.s.policy.missing_data_working_days} working days to answer",
            )
        while any(c.status == "awaiting_identity_data" for c in self.s.checks.values()):
            req = await self.next_decision(
                "identity_data_supplied",
                deadline=self.s.identity_data_due_at,
                wake=lambda: self._suspend,
            )
            if req is None:
                return
            supplied = req.decision
            assert isinstance(supplied, IdentityDataSupplied)
            updates = supplied.model_dump(exclude={"kind"}, exclude_none=True)
            self.s.event.subject = self.s.event.subject.model_copy(update=updates)
            for c in self.s.checks.values():
                if c.status == "awaiting_identity_data":
                    c.missing_fields = list(
                        self.s.event.subject.missing_fields(c.required_fields)  # type: ignore[arg-type]
                    )
                    if not c.missing_fields:
                        c.status = "requested"
            self.refresh_stage()
            if self._suspend:
                return

    def check_decision(self, req: DecisionRequest) -> None:
        if isinstance(req.decision, IdentityDataSupplied):
            wanted = {
                f
                for c in self.s.checks.values()
                if c.status == "awaiting_identity_data"
                for f in c.missing_fields
            }
            given = set(req.decision.model_dump(exclude={"kind"}, exclude_none=True))
            if not given & wanted:
                raise ApplicationError(
                    "Refused: supply at least one of the missing fields: "
                    + ", ".join(sorted(wanted))
                )

    # --- steps 2-3: request, wait, chase ----------------------------------------------
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

    def next_poll_at(self, c: CountryCheck) -> datetime:
        p = self.s.policy
        assert c.last_polled_at is not None
        if c.status == "late_reply_window":
            return c.last_polled_at + p.days(p.late_reply_poll_days)
        schedule = p.reply_poll_schedule_days
        interval = schedule[c.polls] if c.polls < len(schedule) else p.reply_poll_days
        return c.last_polled_at + p.days(interval)

    async def await_reply(self, c: CountryCheck) -> None:
        p = self.s.policy
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
        return

    async def chase(self, c: CountryCheck) -> None:
        p = self.s.policy
        assert c.request_ref is not None
        c.chasers_sent += 1
        await self.call(
            A.send_chaser,
            Chaser(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/chaser/{c.country}/{c.chasers_sent}",
                as_of=workflow.now(),
                request_ref=c.request_ref,
                country=c.country,
                chaser_number=c.chasers_sent,
            ),
            what=f"Chaser to {c.country}",
        )
        now = workflow.now()
        c.reply_due_at = (
            p.working_days_after(now, p.eu_chaser_working_days)
            if c.eu
            else now + p.days(p.non_eu_chaser_interval_days)
        )
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
        late = c.status == "late_reply_window"
        c.status = "replied"
        c.certificate = cert
        c.late_until = None
        self.record(
            "reply",
            f"{'Late reply' if late else 'Reply'} from {country(c.country).name}: "
            + (f"{len(cert.convictions)} conviction(s)" if cert.convictions else "no trace"),
            country=c.country,
            document_id=cert.document_id,
        )
        await self.triage(cert)
        self.refresh_stage()
        return True

    # --- step 4: triage ------------------------------------------------------------------
    async def triage(self, cert: CertificateRef) -> None:
        if not cert.convictions:
            return
        self.s.convictions_found = True
        subject = self.s.event.subject
        recorded = await self.call(
            A.record_convictions_on_pnc,
            PncConvictions(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/pnc-convictions/{cert.document_id}",
                as_of=workflow.now(),
                subject_key=self.s.subject_key,
                pnc_id=subject.pnc_id,
                document_id=cert.document_id,
                convictions=cert.convictions,
            ),
            what="Recording overseas convictions on the PNC",
        )
        self.record(
            "step",
            f"{recorded.recorded} overseas offence(s) added to the PNC"
            + (f"; {recorded.not_recordable} not recordable" if recorded.not_recordable else ""),
        )
        if not cert.serious:
            return
        casework_id = casework_id_for(self.s.subject_key)
        await self.call(
            A.refer_to_criminal_casework,
            CaseworkReferral(
                casework_id=casework_id,
                start=CaseworkInput(
                    case_id=casework_id,
                    subject_key=self.s.subject_key,
                    nationality=subject.nationality,
                    policy=self.s.policy,
                ),
                referral=Referral(
                    encounter_id=self.s.case_id, event=self.s.event, certificates=[cert]
                ),
            ),
            what="Referral to Criminal Casework",
        )
        self.s.casework_id = casework_id
        self.s.referred_countries.append(cert.country)
        offences = ", ".join(sorted({c.offence for c in cert.convictions if c.serious}))
        self.record(
            "step",
            f"Serious offending ({offences}): referred to Criminal Casework",
            casework_id=casework_id,
        )

    def acro_outcome(self) -> Outcome:
        statuses = [c.status for c in self.s.checks.values()]
        if self.s.convictions_found:
            return Outcome.NOT_SERIOUS
        if "replied" in statuses:
            return Outcome.NO_TRACE
        if "no_response" in statuses or "late_reply_window" in statuses:
            return Outcome.NO_RESPONSE
        return Outcome.INSUFFICIENT_DATA

    async def close(self, outcome: Outcome) -> CaseResult:
        self.s.outcome = outcome
        self.s.closed_at = workflow.now()
        await self.call(
            A.close_encounter_record,
            EncounterClosed(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/close",
                outcome=outcome.value,
                closed_at=self.s.closed_at,
            ),
            what="Recording the outcome in the case store",
        )
        self.record("outcome", f"Case closed: {outcome.value}")
        self.set_stage(Stage.CLOSED)
        return CaseResult(case_id=self.s.case_id, outcome=outcome)
