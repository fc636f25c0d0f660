"""The shapes of a re-arrest lookup and of a custody event's correction.

- ``LocatedResult``: what the registration of a new custody event found: an open Criminal
  Casework case of the same person (``activities.located_steps``), which is told the
  subject is located (``models.case.InCustody``).
- ``EventCorrection``: what an integrator may correct in a custody event it sent
  (``POST /custody-events/{case_id}/amendments``): the subject's fields and the
  whereabouts, each optional, at least one, validated as at intake.
  ``EventAmendment``: the correction as the encounter takes it (the ``amend_event``
  update), with its ``amendment_id`` and who sent it; ``AmendmentResult`` its answer.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.event import INTAKE, IdentityDocument, Subject, Whereabouts, _Text

AMEND_EVENT_UPDATE = "amend_event"


class LocatedResult(BaseModel):
    told: list[str] = Field(default_factory=list, description="Casework IDs told.")


class SubjectCorrection(_Text):
    """Corrected fields of the subject; what is left out (or null) stays as it was. The
    nationality and other countries are not corrected here: they decide which
    countries were asked (a new custody event asks them)."""

    model_config = ConfigDict(extra="forbid")
    family_name: str | None = Field(default=None, min_length=1, max_length=120)
    given_names: str | None = Field(default=None, min_length=1, max_length=200)
    aliases: list[str] | None = Field(default=None, max_length=20)
    date_of_birth: date | None = None
    place_of_birth: str | None = Field(default=None, max_length=120)
    father_name: str | None = Field(default=None, max_length=120)
    mother_name: str | None = Field(default=None, max_length=120)
    identity_documents: list[IdentityDocument] | None = Field(default=None, max_length=10)
    pnc_id: str | None = Field(default=None, pattern=r"^\d{2,4}/\d{1,7}[A-Z]$")
    last_known_address: str | None = Field(default=None, max_length=300)

    def given(self) -> dict[str, object]:
        """The corrected fields, typed: those sent and not null."""
        return {
            k: getattr(self, k)
            for k in sorted(self.model_fields_set)
            if getattr(self, k) is not None
        }

    def applied_to(self, subject: Subject) -> Subject:
        """``subject`` with the corrections, validated as at intake (pydantic's
        ``ValidationError`` says which field)."""
        merged = subject.model_dump() | self.model_dump(include=set(self.given()))
        return Subject.model_validate(merged, context=INTAKE)


class EventCorrection(BaseModel):
    """The body of an amendment: an ID of the integrator's (the same ID again is the
    same amendment: applied once), and the corrected fields."""

    model_config = ConfigDict(extra="forbid")
    amendment_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,79}$",
        description="The integrator's own ID of this correction; sent again, nothing more happens.",
    )
    subject: SubjectCorrection | None = None
    whereabouts: Whereabouts | None = None

    @model_validator(mode="after")
    def _something_corrected(self) -> EventCorrection:
        if self.whereabouts is None and (self.subject is None or not self.subject.given()):
            raise ValueError(
                "nothing to correct: give at least one field of subject, or whereabouts"
            )
        return self

    def field_names(self) -> list[str]:
        names = [f"subject.{k}" for k in (self.subject.given() if self.subject else {})]
        return names + (["whereabouts"] if self.whereabouts is not None else [])


class EventAmendment(BaseModel):
    """The correction as sent to the encounter, with the proven sender."""

    correction: EventCorrection
    by: str = Field(description="The sending system's name.")
    by_id: str = Field(description="Its stable identity (client:<id>).")


class AmendmentResult(BaseModel):
    applied: bool = Field(description="False: this amendment_id was applied before.")
    changed: list[str] = Field(
        default_factory=list, description="Fields whose value changed (names only)."
    )
    casework_id: str | None = Field(
        default=None, description="The Criminal Casework case it was referred to, if any."
    )
