"""The claim check of a country's reply (``CertificateRef``), and the convictions that
histories recorded before it carried (``ConvictionSummary``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class ConvictionSummary(BaseModel):
    """A conviction as cases recorded before the claim check carried it (old histories
    only: no workflow carries conviction detail any more, see ``CertificateRef``)."""

    offence: str
    serious: bool
    most_serious: bool
    recordable_on_pnc: bool
    convicted_on: str | None = None


class CertificateRef(BaseModel):
    """Claim check for a country's reply held in the case store.

    It carries no conviction detail — no offence code, no date: the certificate's
    content lives only in the case store (``store.cases.CaseStore``), read by the
    activities that need it. Destroying the document (DOMAIN.md step 5) then leaves
    nothing of it in any workflow's state or history. What a case decides on is here:
    how many convictions, whether serious (by the offence table or an ACRO officer's
    triage), and whether the certificate may be used (``disclosable``)."""

    document_id: str
    country: str
    purpose: Literal["criminal_proceedings", "immigration_deportation"]
    received_at: datetime
    conviction_count: int = 0
    serious: bool = Field(default=False, description="Serious offending: refer to CC.")
    most_serious: bool = Field(default=False, description="Offences of the most serious nature.")
    needs_triage: bool = Field(
        default=False,
        description="An offence the table does not know, or marks borderline: an ACRO "
        "officer decides whether it is serious.",
    )
    details_missing: bool = Field(
        default=False,
        description="The reply lacks the nature of a serious offence (its sentence): "
        "further details are asked of the country.",
    )
    disclosable: bool | None = Field(
        default=None,
        description="May be used for deportation (immigration purpose, or offences on the "
        "PNC); None until checked by CC Workflow.",
    )
    destroyed: bool = False
    convictions: list[ConvictionSummary] = Field(
        default_factory=list,
        description="Filled only in histories recorded before the claim check; never now.",
    )

    @model_validator(mode="after")
    def _flags_of_an_old_payload(self) -> CertificateRef:
        # A reply recorded before the claim check listed its convictions and had no flags.
        if self.convictions and "conviction_count" not in self.model_fields_set:
            self.conviction_count = len(self.convictions)
            self.serious = any(c.serious for c in self.convictions)
            self.most_serious = any(c.most_serious for c in self.convictions)
        return self
