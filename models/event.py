"""The custody event: what an integrator (a force's custody system) sends."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.reference import IdentityField, country

# Checks against the clock run only at intake (``model_validate(..., context=INTAKE)``):
# the same model is decoded again inside workflows, where reading the clock is not
# deterministic and an event accepted yesterday must still decode.
INTAKE = {"intake": True}

# Limits (also in the model's fields: aliases <= 20, other countries <= 5, identity
# documents <= 10, names <= 120 characters). A real event is a few kilobytes.
MAX_EVENT_BYTES = 64 * 1024

ENCOUNTER_PREFIX = "encounter-"


def subject_key_for(basis: str, secret: str) -> str:
    return hmac.new(secret.encode(), basis.encode(), hashlib.sha256).hexdigest()[:24]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _Text(BaseModel):
    """Text fields refuse control characters (NUL, escapes): no record needs them and
    they break logs, terminals and the systems the data is sent on to."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _CONTROL.search(text):
                raise ValueError("contains control characters")
        return value


def _at_intake(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("intake"))


class IdentityDocument(_Text):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["passport", "national_id_card", "residence_permit", "driving_licence", "other"]
    number: str = Field(min_length=1, max_length=40)
    issuing_country: str = Field(pattern=r"^[A-Z]{2}$")


class Officer(_Text):
    """The police officer who asked for the check; asked for missing identity data."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    collar_number: str | None = Field(default=None, max_length=20)
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)


class Subject(_Text):
    model_config = ConfigDict(extra="forbid")
    family_name: str = Field(min_length=1, max_length=120)
    given_names: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    date_of_birth: date
    nationality: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    other_countries: list[str] = Field(
        default_factory=list, max_length=5, description="Other countries lived in (ISO codes)."
    )
    place_of_birth: str | None = Field(default=None, max_length=120)
    father_name: str | None = Field(default=None, max_length=120)
    mother_name: str | None = Field(default=None, max_length=120)
    identity_documents: list[IdentityDocument] = Field(default_factory=list, max_length=10)
    pnc_id: str | None = Field(default=None, pattern=r"^\d{2,4}/\d{1,7}[A-Z]$")
    last_known_address: str | None = Field(default=None, max_length=300)

    @field_validator("nationality", "other_countries")
    @classmethod
    def _known_countries(cls, value: str | list[str]) -> str | list[str]:
        for code in [value] if isinstance(value, str) else value:
            country(code)
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _born_in_the_past(cls, value: date, info: ValidationInfo) -> date:
        if _at_intake(info) and value >= datetime.now(UTC).date():
            raise ValueError("date_of_birth must be in the past")
        return value

    def missing_fields(self, required: list[IdentityField]) -> list[IdentityField]:
        return [f for f in required if not getattr(self, f)]

    def subject_key(self, secret: str) -> str:
        """A stable key for the person that reveals nothing of them.

        Used to find an open Criminal Casework case for the same subject, and in that
        case's workflow ID. An HMAC under a secret of the deployment
        (``FNO_SUBJECT_KEY_SECRET``), so it cannot be reversed by trying every PNC ID.
        The PNC ID is the best identity; without one, name, date of birth and
        nationality.
        """
        if self.pnc_id:
            basis = f"pnc:{self.pnc_id}"
        else:
            basis = "|".join(
                [
                    "person",
                    self.family_name.strip().casefold(),
                    self.given_names.strip().casefold(),
                    self.date_of_birth.isoformat(),
                    self.nationality,
                ]
            )
        return subject_key_for(basis, secret)


Whereabouts = Literal[
    "in_police_custody", "remanded", "serving_sentence", "address_known", "unknown"
]
KNOWN_WHEREABOUTS: tuple[Whereabouts, ...] = (
    "in_police_custody",
    "remanded",
    "serving_sentence",
    "address_known",
)


class CustodyEvent(_Text):
    """A foreign national in police custody, or a victim or witness."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = Field(
        default=1, description="Version of this shape; integrators send 1 (the only one yet)."
    )
    force: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,39}$",
        description="Force code, lower case, e.g. 'hampshire', 'derbyshire'.",
    )
    custody_reference: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/_-]{0,39}$",
        description="The custody system's own reference for this encounter.",
    )
    reason: Literal["arrest", "victim", "witness"]
    encountered_at: datetime
    uk_matter: str | None = Field(
        default=None, max_length=200, description="Why the person is in custody, e.g. 'theft'."
    )
    subject: Subject
    requesting_officer: Officer
    whereabouts: Whereabouts | None = Field(
        default=None,
        description="Where the subject is now, when known: in police custody, remanded, "
        "serving a sentence, or at a known address. 'unknown' or left out: not known "
        "(Criminal Casework then asks NBTC whether they left the UK, and if not adds a "
        "wanted/missing marker and tasks ICE).",
    )

    @field_validator("encountered_at")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None:
            raise ValueError("encountered_at needs a time zone, e.g. 2017-12-04T10:30:00Z")
        if _at_intake(info) and value > datetime.now(UTC):
            raise ValueError("encountered_at is in the future")
        return value

    @model_validator(mode="after")
    def _target_countries_distinct(self) -> CustodyEvent:
        if self.subject.nationality in self.subject.other_countries:
            self.subject.other_countries = [
                c for c in self.subject.other_countries if c != self.subject.nationality
            ]
        return self

    def case_id(self) -> str:
        """The workflow ID: the event's own identity, never a name or date of birth.

        The custody reference is kept as sent (upper-cased: custody systems do not
        distinguish case), so "CU/1" and "CU-1" stay two cases."""
        return f"{ENCOUNTER_PREFIX}{self.force}-{self.custody_reference.upper()}"

    def whereabouts_known(self) -> bool:
        return self.whereabouts in KNOWN_WHEREABOUTS

    def target_countries(self) -> list[str]:
        return [self.subject.nationality, *dict.fromkeys(self.subject.other_countries)]
