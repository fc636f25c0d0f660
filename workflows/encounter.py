"""The encounter: one custody event, from the ACRO check to an outcome.

DOMAIN.md steps 1-4: the check is requested to each target country (nationality,
then other countries lived in); identity data a country needs is asked of the
requesting officer (10 working days, else closed as insufficient data); the
country's reply is awaited with deadlines and chasers, then closed as no response
(a late reply is still acted on); each reply is triaged — no trace, convictions
recorded on the PNC, or serious offending referred to Criminal Casework, whose
outcome this case then takes. A reply the offence table cannot classify is triaged by
an ACRO officer, and a serious one lacking the nature of its offences waits for
further details from the country (``workflows.encounter_triage``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from workflows.encounter_located import LocatedEncounter
from workflows.encounter_triage import ReplyTriage

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models import search
    from models.case import (
        CASEWORK_CONCLUDED_SIGNAL,
        ENCOUNTER_WORKFLOW,
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
    from models.decisions import DecisionRequest, IdentityDataSupplied, TriageDecision
    from models.reference import country
    from models.steps import (
        CaseworkReferral,
        EncounterClosed,
        EncounterOpened,
        IdentityDataRequest,
        PncConvictions,
    )

A = CaseActivities


@workflow.defn(name=ENCOUNTER_WORKFLOW)
class EncounterWorkflow(ReplyTriage, LocatedEncounter):
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

    @workflow.signal(name=CASEWORK_CONCLUDED_SIGNAL)
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
            self.count_opened()
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
        """The custody event in the case store; an open Criminal Casework case of the
        same person is told they are located (``LocatedEncounter.told_open_casework``)."""
        event = self.s.event
        found = await self.call(
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
                subject=event.subject,
                encountered_at=event.encountered_at,
            ),
            what="Recording the custody event in the case store",
        )
        self.told_open_casework(found)

    def refresh_stage(self) -> None:
        """The encounter's stage follows its country checks (a reply in triage or
        awaiting further details first: ``ReplyTriage.triage_stage``)."""
        checks = list(self.s.checks.values())
        if self.triage_stage():
            return
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

    def describe_decision(self, req: DecisionRequest) -> str:
        if isinstance(req.decision, TriageDecision):
            return self.describe_triage(req.decision)
        return super().describe_decision(req)

    def check_decision(self, req: DecisionRequest) -> None:
        self.check_triage(req)
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

    # --- step 4: triage ------------------------------------------------------------------
    async def triage(self, cert: CertificateRef) -> None:
        if not cert.conviction_count:
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
            ),
            what="Recording overseas convictions on the PNC",
        )
        self.record(
            "step",
            f"{recorded.recorded} overseas offence(s) added to the PNC"
            + (f"; {recorded.not_recordable} not recordable" if recorded.not_recordable else ""),
        )
        # An offence the table cannot classify: an ACRO officer decides (issue 20).
        if self.needs_acro_triage(cert) and not await self.acro_triage(cert):
            return
        if not cert.serious:
            return
        if cert.details_missing:  # the nature of an offence not stated: ask the country
            await self.further_details(cert)
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
        # No offence named: the certificate may yet be found non-disclosable and
        # destroyed, and nothing of it may linger in the case.
        self.record(
            "step",
            f"Serious offending on the certificate from {cert.country}: "
            "referred to Criminal Casework",
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
        # Replies pushed (issue 22): the record closed by a local activity.
        pushed = any(c.pushed for c in self.s.checks.values())
        await (self.call_local if pushed else self.call)(
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
