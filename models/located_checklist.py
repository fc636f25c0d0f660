"""What the located checklist's steps send and get back (issue 21, DOMAIN.md step 8):
the PNC print compared with the referral. Counts only: no offence code or text ever
reaches a workflow (the certificates are read from the case store by the activity)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from models.steps import Step


class PncPrintQuery(Step):
    """Compare the subject's PNC print with the offences of the referral's certificates."""

    subject_key: str
    document_ids: list[str] = Field(
        default_factory=list, description="The certificates in use (claim checks)."
    )
    offences: list[str] = Field(
        default_factory=list, description="Sent only by cases recorded before the claim check."
    )


class PncPrintComparison(BaseModel):
    referred: int = Field(description="Distinct offences of the referral.")
    missing: int = Field(description="Of them, not on the PNC print.")

    @property
    def complete(self) -> bool:
        return self.missing == 0
