"""Criminal Casework, step 5 for each certificate, including one that joins later
(issue 20): a background desk beside the case's own steps checks every certificate
as it arrives — disclosable if asked for immigration/deportation purposes or if its
offences are on the PNC. One that is not: CID is noted, a certificate for
immigration purposes is asked of ACRO for that country (``ImmigrationRequests``) and
only that certificate is destroyed. A disclosable one that joins after the CID record
was created goes on the record, with its encounter.

The desk changes no stage (the case's steps own it): it is started by one call at the
top of the run (``start_certificate_desk``), behind the patch
``workflows.changes.PER_CERTIFICATE_DISCLOSABILITY``; cases recorded before it keep
the whole-case check of ``workflows.casework_disclosure``.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.casework_case import IMMIGRATION_PURPOSE
from workflows.casework_immigration_decisions import ImmigrationDecisions
from workflows.changes import PER_CERTIFICATE_DISCLOSABILITY

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import CertificateRef, CountryCheck, Stage
    from models.reference import country
    from models.steps import (
        CaseNote,
        CertificateDestruction,
        CidCaseCreation,
        PncOffencesQuery,
    )

A = CaseActivities


class CertificateDesk(ImmigrationDecisions):
    """Each certificate's disclosability, whatever stage the case is at."""

    def start_certificate_desk(self) -> None:
        """Called once, at the top of the run: on the new path, start the desk and the
        immigration requests' decisions beside the case's own steps."""
        if not workflow.patched(PER_CERTIFICATE_DISCLOSABILITY):
            return
        self._per_certificate = True
        self._awaiting_disclosable = False
        self._request_tasks: dict[int, asyncio.Task[None]] = {}
        self._stage_deadlines = tuple(d for d in self.s.deadlines if not self.is_side_deadline(d))
        if self.s.cid_case_ref is not None and not self.s.cid_certificates:
            # Continued from a case that created its CID record under the whole-case
            # check: the certificates it held were used then, and stay so.
            for cert in self.all_certificates:
                if not cert.destroyed and cert.disclosable is None:
                    cert.disclosable = True
                    self.s.cid_certificates.append(cert.document_id)
        self._tasks = [
            asyncio.create_task(self.certificate_desk()),
            asyncio.create_task(self.immigration_decisions()),
        ]

    # --- what is to be done ---------------------------------------------------------
    def unchecked_certificates(self) -> list[CertificateRef]:
        """Certificates not yet found disclosable, nor destroyed."""
        return [c for c in self.all_certificates if not c.destroyed and not c.disclosable]

    def not_on_cid(self) -> list[CertificateRef]:
        if self.s.cid_case_ref is None:
            return []
        return [c for c in self.certificates if c.document_id not in self.s.cid_certificates]

    def requests_to_run(self) -> list[int]:
        return [
            i
            for i, r in enumerate(self.s.immigration_requests)
            if r.settled is None
            and (r.decision_due_at is None or r.status == "no_response")  # (late answers)
            and i not in self._request_tasks
        ]

    def answers_request(self, cert: CertificateRef) -> CountryCheck | None:
        return next(
            (
                r
                for r in self.s.immigration_requests
                if r.certificate is not None and r.certificate.document_id == cert.document_id
            ),
            None,
        )

    # --- the desk -------------------------------------------------------------------
    def desk_has_work(self) -> bool:
        if self.s.stage is Stage.CLOSED:
            return False
        return bool(self.unchecked_certificates() or self.not_on_cid() or self.requests_to_run())

    async def certificate_desk(self) -> None:
        while True:
            await workflow.wait_condition(self.desk_has_work)
            for i in self.requests_to_run():
                req = self.s.immigration_requests[i]
                self._request_tasks[i] = asyncio.create_task(self.immigration_request(req))
            for cert in self.unchecked_certificates():
                await self.check_certificate(cert)
            for cert in self.not_on_cid():
                await self.record_on_cid(cert)

    async def check_certificate(self, cert: CertificateRef) -> None:
        if cert.disclosable is None:
            cert.disclosable = await self.is_certificate_disclosable(cert)
        if cert.disclosable:
            self.s.disclosable = True  # the case may use it: case creation may go on
            self.refresh_side_deadlines()
            return
        if self.answers_request(cert) is None:
            await self.note_non_disclosable(cert)
            self.ask_for_immigration_certificate(cert)
        await self.destroy(cert)

    async def is_certificate_disclosable(self, cert: CertificateRef) -> bool:
        where = country(cert.country).name
        if cert.purpose == "immigration_deportation":
            self.record(
                "step",
                f"Certificate from {where} is disclosable: purpose '{IMMIGRATION_PURPOSE}'",
                document_id=cert.document_id,
            )
            return True
        answer = await self.step(
            A.check_offences_on_pnc,
            PncOffencesQuery(
                case_id=self.s.case_id,
                subject_key=self.s.subject_key,
                # Named only by certificates recorded before the claim check.
                offences=sorted({v.offence for v in cert.convictions if v.serious}),
                document_ids=[cert.document_id],
            ),
            what=f"PNC check of the offences on the certificate from {where}",
        )
        if answer.all_on_pnc:
            self.record(
                "step",
                f"Certificate from {where} is disclosable: the offences appear on the PNC",
                document_id=cert.document_id,
            )
            return True
        self.record(
            "step",
            f"Certificate from {where} is not disclosable: criminal-proceedings purpose "
            "only and the offences are not all on the PNC",
            document_id=cert.document_id,
        )
        return False

    async def note_non_disclosable(self, cert: CertificateRef) -> None:
        await self.step(
            A.note_on_cid,
            CaseNote(
                case_id=self.s.case_id,
                idempotency_key=self.key(f"cid-note/non-disclosable/{cert.document_id}"),
                subject_key=self.s.subject_key,
                text="Non-disclosable ACRO certificate received; no further action can be "
                "taken on it until a disclosable certificate is obtained",
            ),
            what="Noting CID",
        )
        self.record(
            "note",
            f"CID noted: non-disclosable ACRO certificate received from {cert.country}; no "
            "action can be taken on it until a disclosable certificate is obtained",
            document_id=cert.document_id,
        )

    def ask_for_immigration_certificate(self, cert: CertificateRef) -> None:
        """A request for immigration purposes to the certificate's country, unless one
        is open already; the request's own wait sends it (``immigration_request``)."""
        if any(
            r.country == cert.country and r.settled is None and r.decision_due_at is None
            for r in self.s.immigration_requests
        ):
            return
        c = country(cert.country)
        self.s.immigration_requests.append(
            CountryCheck(
                country=cert.country, channel=c.channel, eu=c.eu, replaces=cert.document_id
            )
        )

    async def destroy(self, cert: CertificateRef) -> None:
        asked_again = self.answers_request(cert) is not None
        await self.step(
            A.destroy_certificate,
            CertificateDestruction(
                case_id=self.s.case_id,
                idempotency_key=self.key(f"destroy/{cert.document_id}"),
                document_id=cert.document_id,
                step="CC Workflow disclosability check",
                reason=(
                    "certificate asked for immigration purposes came back not disclosable"
                    if asked_again
                    else "certificate requested for criminal proceedings, not for "
                    "immigration/deportation"
                )
                + ", and offences not on the PNC: must not be used for a decision",
            ),
            what="Destroying the non-disclosable certificate",
        )
        cert.destroyed = True
        cert.disclosable = False
        cert.convictions = []  # (old histories) nothing of it is used for a decision
        self.record(
            "step",
            f"Non-disclosable certificate from {cert.country} destroyed",
            document=cert.document_id,
        )

    # --- step 6 for what joins later -----------------------------------------------------
    async def create_case(self) -> None:
        # What case creation puts on the CID record: the certificates usable now.
        if self._per_certificate:
            for cert in self.certificates:
                if cert.document_id not in self.s.cid_certificates:
                    self.s.cid_certificates.append(cert.document_id)
        await super().create_case()

    async def record_on_cid(self, cert: CertificateRef) -> None:
        """A disclosable certificate that joined after the CID record was created: its
        overseas convictions and its encounter go on the record, once per certificate."""
        referral = self.referral_of(cert.document_id)
        cid = await self.step(
            A.create_cid_case,
            CidCaseCreation(
                case_id=self.s.case_id,
                idempotency_key=self.key(f"cid-case/{cert.document_id}"),
                subject_key=self.s.subject_key,
                nationality=self.s.nationality,
                encounter_ids=[referral.encounter_id],
                certificate_ids=[cert.document_id],
            ),
            what="Updating the CID record",
        )
        self.s.cid_certificates.append(cert.document_id)
        self.record(
            "step",
            f"CID record updated: overseas convictions of the certificate from {cert.country}",
            cid_ref=cid.cid_ref,
            document_id=cert.document_id,
            on_cid_encounter=referral.encounter_id,
        )
