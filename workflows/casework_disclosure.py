"""Criminal Casework, step 5: is the certificate disclosable? Either it was asked
for immigration/deportation purposes or its offences are on the PNC; if not, CID is
noted, a certificate for immigration purposes is asked of ACRO, the non-disclosable
one is destroyed, and the case waits for the new one.

Since issue 20 (``workflows.changes.PER_CERTIFICATE_DISCLOSABILITY``) each certificate
is checked on its own by the desk of ``workflows.casework_certificates``, and the case
steps here only wait for it: checked, then (if none is disclosable) the requests for
immigration purposes (``workflows.casework_immigration``). Cases recorded before keep
the whole-case check below, which is the code they ran.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.casework_case import IMMIGRATION_PURPOSE
from workflows.casework_certificates import CertificateDesk

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.case import (
        CaseworkInput,
        CountryCheck,
        Stage,
    )
    from models.reference import country
    from models.steps import (
        AcroCheckRequest,
        CaseNote,
        CertificateDestruction,
        PncOffencesQuery,
    )

A = CaseActivities


class Disclosability(CertificateDesk):
    """Step 5 of ``CriminalCaseworkWorkflow``."""

    async def establish_disclosability(self) -> None:
        self.set_stage(Stage.DISCLOSABILITY_CHECK)
        if self._per_certificate:
            await workflow.wait_condition(lambda: not self.unchecked_certificates())
            return
        if await self.is_disclosable():
            return
        for cert in self.certificates:
            if cert.destroyed:
                continue
            await self.call(
                A.note_on_cid,
                CaseNote(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"cid-note/non-disclosable/{cert.document_id}"),
                    subject_key=self.s.subject_key,
                    text="Non-disclosable ACRO certificate received; no further action can be "
                    "taken until a disclosable certificate is obtained",
                ),
                what="Noting CID",
            )
            self.record(
                "note",
                "CID noted: non-disclosable ACRO certificate received; no action can be taken "
                "until a disclosable certificate is obtained",
            )
            subject = self.s.referrals[0].event.subject
            ref = await self.call(
                A.request_acro_check,
                AcroCheckRequest(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"acro-immigration/{cert.country}"),
                    as_of=workflow.now(),
                    country=cert.country,
                    channel=country(cert.country).channel,
                    subject_key=self.s.subject_key,
                    purpose="immigration_deportation",
                    reason="deportation consideration",
                    subject=subject,
                ),
                what="New ACRO request for immigration purposes",
            )
            self.s.immigration_requests.append(
                CountryCheck(
                    country=cert.country,
                    channel=country(cert.country).channel,
                    eu=country(cert.country).eu,
                    request_ref=ref.request_ref,
                    requested_at=workflow.now(),
                    last_polled_at=workflow.now(),
                )
            )
            self.record(
                "request",
                f"New ACRO referral made for immigration purposes to {cert.country} "
                f"('{IMMIGRATION_PURPOSE}')",
            )
            await self.call(
                A.destroy_certificate,
                CertificateDestruction(
                    case_id=self.s.case_id,
                    idempotency_key=self.key(f"destroy/{cert.document_id}"),
                    document_id=cert.document_id,
                    step="CC Workflow disclosability check",
                    reason="certificate requested for criminal proceedings, not for immigration/"
                    "deportation, and offences not on the PNC: must not be used for a decision",
                ),
                what="Destroying the non-disclosable certificate",
            )
            cert.destroyed = True
            cert.disclosable = False
            cert.convictions = []  # (old histories) nothing of it is used for a decision
            self.record("step", "Non-disclosable certificate destroyed", document=cert.document_id)

    async def is_disclosable(self) -> bool:
        if self.has_immigration_certificate:
            self.s.disclosable = True
            self.record("step", f"Certificate is disclosable: purpose '{IMMIGRATION_PURPOSE}'")
            return True
        answer = await self.call(
            A.check_offences_on_pnc,
            PncOffencesQuery(
                case_id=self.s.case_id,
                subject_key=self.s.subject_key,
                offences=self.serious_offences,
                document_ids=[c.document_id for c in self.certificates],
            ),
            what="PNC check of the overseas offences",
        )
        if answer.all_on_pnc:
            self.s.disclosable = True
            self.record("step", "Certificate is disclosable: the offences appear on the PNC")
            return True
        self.record(
            "step",
            "Certificate is not disclosable: criminal-proceedings purpose only "
            "and the offences are not all on the PNC",
        )
        return False

    async def await_disclosable_certificate(self, inp: CaseworkInput) -> None:
        if self._per_certificate:
            await self.await_a_disclosable_certificate(inp)
            return
        p = self.s.policy
        self.set_stage(Stage.AWAITING_DISCLOSABLE_CERTIFICATE)
        while not self.s.disclosable:
            if self.has_immigration_certificate:
                self.s.disclosable = True  # a further referral brought one
                self.record("step", f"Certificate is disclosable: purpose '{IMMIGRATION_PURPOSE}'")
                break
            if self.history_is_long():
                await self.renew(inp)
            open_requests = [r for r in self.s.immigration_requests if r.status == "requested"]
            if not open_requests:  # every answer was unusable: only a new referral helps
                await workflow.wait_condition(lambda: self.has_immigration_certificate)
                continue
            for req in open_requests:
                await workflow.sleep(p.days(p.reply_poll_days))
                cert = await self.collect_reply(
                    req, f"Collecting the immigration certificate from {req.country}"
                )
                if cert is None:
                    continue
                req.status = "replied"
                req.certificate = cert
                self.s.referrals[0].certificates.append(cert)
                if cert.purpose != "immigration_deportation":
                    self.record(
                        "fault",
                        f"Certificate from {req.country} is still not "
                        "disclosable: a caseworker must chase ACRO",
                    )
                    continue
                self.record(
                    "reply",
                    f"Disclosable certificate received from {req.country} "
                    f"(purpose '{IMMIGRATION_PURPOSE}')",
                    document_id=cert.document_id,
                )
                self.s.disclosable = True
                break

    async def await_a_disclosable_certificate(self, inp: CaseworkInput) -> None:
        """Until one certificate is found disclosable: the requests for immigration
        purposes run beside (their stage: ``refresh_disclosure_stage``)."""
        self._awaiting_disclosable = True
        try:
            while not self.s.disclosable:
                self.refresh_disclosure_stage()
                await workflow.wait_condition(
                    lambda: self.s.disclosable or (self.history_is_long() and self.may_renew())
                )
                if not self.s.disclosable:
                    await self.renew(inp)
        finally:
            self._awaiting_disclosable = False

    def may_renew(self) -> bool:
        """Nobody waits for a decision and none is being acted on."""
        return self._pending is None and not any(n > 0 for n in self._waiting.values())
