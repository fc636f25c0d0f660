"""Criminal Casework, step 5: the certificate asked of ACRO for immigration purposes
is a wait like any other (issue 20). Each request has a due date (the EU reply
deadline in working days for EU countries, the non-EU chaser period for others),
chasers, and — when it fails, with no answer after the chasers or an answer that is
not disclosable either (destroyed too) — a caseworker's decision with a deadline:
ask again, or close the referral as not disclosable
(``workflows.casework_immigration_decisions``). Until they decide, a late answer is
still taken.

Each request's wait runs beside the case's own steps (started by ``CertificateDesk``),
so a certificate that joins late and is not disclosable gets its request whatever
stage the case is at. Before the case holds a disclosable certificate, the stage
shows the requests' waits; afterwards their deadlines are shown beside the stage's.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

from workflows.casework_case import IMMIGRATION_PURPOSE, CaseworkCase
from workflows.changes import REPLIES_PUSHED

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CertificateRef, CountryCheck, Deadline, Referral, Stage
    from models.steps import AcroCheckRequest

A = CaseActivities

KIND = "immigration_certificate_outcome"
REPLY_DUE = "Immigration certificate from "
DECISION_DUE = "Caseworker decision: immigration certificate from "


class ImmigrationRequests(CaseworkCase):
    """The requests for a certificate for immigration purposes, and their failures."""

    _awaiting_disclosable = False  # the case's steps wait for a disclosable certificate
    _request_tasks: dict[int, asyncio.Task[None]]

    def referral_of(self, document_id: str | None) -> Referral:
        """The referral that brought a certificate (the first, for one of no referral)."""
        return next(
            (
                r
                for r in self.s.referrals
                if any(c.document_id == document_id for c in r.certificates)
            ),
            self.s.referrals[0],
        )

    def reply_checks(self) -> list[CountryCheck]:
        return list(self.s.immigration_requests)

    def certificate(self, document_id: str) -> CertificateRef | None:
        return next((c for c in self.all_certificates if c.document_id == document_id), None)

    # --- what the case shows ------------------------------------------------------------
    def open_requests(self) -> list[CountryCheck]:
        return [
            r
            for r in self.s.immigration_requests
            if r.settled is None and r.decision_due_at is None
        ]

    def failed_requests(self) -> list[CountryCheck]:
        return [
            r
            for r in self.s.immigration_requests
            if r.settled is None and r.decision_due_at is not None
        ]

    def request_deadlines(self) -> list[Deadline]:
        due = [
            Deadline(name=f"{REPLY_DUE}{r.country}", due_at=r.reply_due_at)
            for r in self.open_requests()
            if r.reply_due_at is not None and r.status == "requested"
        ]
        decide = [
            Deadline(name=f"{DECISION_DUE}{r.country}", due_at=r.decision_due_at)
            for r in self.failed_requests()
            if r.decision_due_at is not None
        ]
        return decide + due

    @staticmethod
    def is_side_deadline(d: Deadline) -> bool:
        return d.name.startswith((REPLY_DUE, DECISION_DUE))

    def side_deadlines(self) -> list[Deadline]:
        if not self._per_certificate or not self.s.disclosable:
            return []  # before that, the stage itself is the requests' wait
        return self.request_deadlines()

    def refresh_side_deadlines(self) -> None:
        if self._per_certificate and self.s.disclosable and self.s.stage is not Stage.CLOSED:
            self.s.deadlines = [*self._stage_deadlines, *self.side_deadlines()]
            self.publish()

    def refresh_disclosure_stage(self) -> None:
        """While the case waits for a disclosable certificate: a caseworker's decision
        on a failed request, the requests' replies, or (dormant by design, CID noted)
        a further referral when every request was closed."""
        if not self._awaiting_disclosable or self.s.disclosable:
            self.refresh_side_deadlines()
            return
        deadlines = self.request_deadlines()
        if self.failed_requests():
            self.set_stage(Stage.IMMIGRATION_CERTIFICATE_DECISION, deadlines=deadlines)
        elif self.open_requests():
            self.set_stage(Stage.AWAITING_DISCLOSABLE_CERTIFICATE, deadlines=deadlines)
        else:
            self.set_stage(Stage.NO_DISCLOSABLE_CERTIFICATE)

    # --- one request's wait ---------------------------------------------------------------
    async def immigration_request(self, req: CountryCheck) -> None:
        if req.request_ref is None:
            await self.send_immigration_request(req)
        if req.status == "requested" and not await self.await_immigration_reply(req):
            if self.s.stage is Stage.CLOSED:
                return
            self.request_failed(req, "no answer after the chasers")
        if req.status == "no_response" and not await self.await_late_reply(req):
            return
        assert req.certificate is not None
        document_id = req.certificate.document_id
        # The desk checks it like any other certificate (and destroys it if need be).
        await workflow.wait_condition(
            lambda: (
                (c := self.certificate(document_id)) is None or c.destroyed or bool(c.disclosable)
            )
        )
        cert = self.certificate(document_id)
        if cert is not None:
            req.certificate = cert.model_copy()
        if cert is not None and cert.disclosable and not cert.destroyed:
            req.settled = "disclosable"
            self.refresh_disclosure_stage()
            return
        self.request_failed(req, "the certificate is not disclosable either, and was destroyed")

    async def await_late_reply(self, req: CountryCheck) -> bool:
        """Until the caseworker decides, a late answer is still taken (and checked)."""
        if req.pushed:  # issue 22: no poll, no timer: the answer comes as a signal
            await workflow.wait_condition(
                lambda: (
                    req.delivered is not None
                    or req.settled is not None
                    or self.s.stage is Stage.CLOSED
                )
            )
            if req.delivered is None or req.settled is not None or self.s.stage is Stage.CLOSED:
                return False
            cert, req.delivered = req.delivered, None
            req.decision_due_at = None  # answered after all: no decision is needed
            self.take_reply(req, cert)
            self.refresh_disclosure_stage()
            return True
        p = self.s.policy
        while req.settled is None:
            since = req.last_polled_at or workflow.now()
            await self.wait_until(
                lambda: req.settled is not None or self.s.stage is Stage.CLOSED,
                since + p.days(p.late_reply_poll_days),
            )
            if req.settled is not None or self.s.stage is Stage.CLOSED:
                return False
            cert = await self.step(
                self.collect_reply,
                req,
                what=f"Collecting a late immigration certificate from {req.country}",
            )
            if cert is not None and req.settled is None:
                req.decision_due_at = None  # answered after all: no decision is needed
                self.take_reply(req, cert)
                self.refresh_disclosure_stage()
                return True
        return False

    def request_failed(self, req: CountryCheck, why: str) -> None:
        p = self.s.policy
        req.decision_due_at = p.working_days_after(
            workflow.now(), p.immigration_decision_working_days
        )
        self.record(
            "step",
            f"Certificate for immigration purposes from {req.country} not obtained ({why}): "
            "a caseworker decides whether to ask ACRO again or close the referral",
            country=req.country,
            failed=True,
        )
        self.refresh_disclosure_stage()

    def first_due(self, req: CountryCheck, start: datetime) -> datetime:
        p = self.s.policy
        if req.eu:
            return p.working_days_after(start, p.eu_reply_working_days)
        return start + p.days(p.non_eu_first_chaser_days)

    async def send_immigration_request(self, req: CountryCheck) -> None:
        same = [r for r in self.s.immigration_requests if r.country == req.country]
        n = next(i for i, r in enumerate(same) if r is req) + 1
        subject = self.referral_of(req.replaces).event.subject
        pushed = workflow.patched(REPLIES_PUSHED)
        ref = await self.step(
            A.request_acro_check,
            AcroCheckRequest(
                case_id=self.s.case_id,
                idempotency_key=self.key(
                    f"acro-immigration/{req.country}" + ("" if n == 1 else f"/{n}")
                ),
                as_of=workflow.now(),
                country=req.country,
                channel=req.channel,
                subject_key=self.s.subject_key,
                purpose="immigration_deportation",
                reason="deportation consideration",
                subject=subject,
                pushed=pushed,
            ),
            what="New ACRO request for immigration purposes",
        )
        now = workflow.now()
        req.pushed = pushed
        req.request_ref = ref.request_ref
        self.requested(req)
        req.requested_at = now
        req.last_polled_at = now
        req.reply_due_at = self.first_due(req, now)
        self.record(
            "request",
            f"New ACRO referral made for immigration purposes to {req.country} "
            f"('{IMMIGRATION_PURPOSE}')",
            country=req.country,
            request_ref=req.request_ref,
        )
        self.refresh_disclosure_stage()

    def next_poll_at(self, req: CountryCheck) -> datetime:
        p = self.s.policy
        assert req.last_polled_at is not None
        schedule = p.reply_poll_schedule_days
        interval = schedule[req.polls] if req.polls < len(schedule) else p.reply_poll_days
        return req.last_polled_at + p.days(interval)

    async def await_immigration_reply(self, req: CountryCheck) -> bool:
        """Polls, chasers and the due date; True once the country has answered."""
        p = self.s.policy
        if req.reply_due_at is None:  # asked before the request was a wait with a due date
            req.reply_due_at = self.first_due(req, req.requested_at or workflow.now())
        if req.pushed:
            return await self.await_pushed_immigration_reply(req)
        if req.last_polled_at is None:
            req.last_polled_at = workflow.now()
        while True:
            wake = self.next_poll_at(req)
            deadline = req.reply_due_at
            assert deadline is not None
            await self.wait_until(lambda: self.s.stage is Stage.CLOSED, min(wake, deadline))
            if self.s.stage is Stage.CLOSED:
                return False
            if workflow.now() >= wake:
                cert = await self.step(
                    self.collect_reply,
                    req,
                    what=f"Collecting the immigration certificate from {req.country}",
                )
                if cert is not None:
                    self.take_reply(req, cert)
                    return True
            if workflow.now() < deadline:
                continue
            if req.chasers_sent >= (p.eu_max_chasers if req.eu else p.non_eu_max_chasers):
                req.status = "no_response"
                return False
            await self.chase(req)

    async def await_pushed_immigration_reply(self, req: CountryCheck) -> bool:
        """Issue 22: one deadline timer at a time (the due date, each chaser's) and the
        reply signal (``AcroCase.acro_reply``), taken at once; True once answered."""
        p = self.s.policy
        while True:
            deadline = req.reply_due_at
            assert deadline is not None
            await self.wait_until(
                lambda: req.delivered is not None or self.s.stage is Stage.CLOSED, deadline
            )
            if req.delivered is not None:
                cert, req.delivered = req.delivered, None
                self.take_reply(req, cert)
                return True
            if self.s.stage is Stage.CLOSED:
                return False
            if workflow.now() < deadline:
                continue
            if req.chasers_sent >= (p.eu_max_chasers if req.eu else p.non_eu_max_chasers):
                req.status = "no_response"
                return False
            await self.chase(req)

    def take_reply(self, req: CountryCheck, cert: CertificateRef) -> None:
        req.status = "replied"
        req.certificate = cert
        # It joins the referral of the certificate it replaces; the desk checks it.
        self.referral_of(req.replaces).certificates.append(cert.model_copy())
        self.record(
            "reply",
            f"Certificate received from {req.country} in answer to the request for "
            "immigration purposes",
            document_id=cert.document_id,
        )

    async def chase(self, req: CountryCheck) -> None:
        assert req.request_ref is not None
        req.chasers_sent += 1
        await self.step(
            A.send_chaser,
            self.chaser_for(
                req, self.key(f"immigration-chaser/{req.request_ref}/{req.chasers_sent}")
            ),
            what=f"Chaser to {req.country}",
        )
        self.chased(req)
        self.record(
            "chaser",
            f"Certificate for immigration purposes from {req.country} overdue: "
            f"chaser {req.chasers_sent} sent",
            country=req.country,
        )
        self.refresh_disclosure_stage()
