"""Reference data: ACRO target countries and the offence seriousness table.

Both live as JSON files in ``models/reference_data`` so they can be reviewed and
amended without touching code.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Literal

from pydantic import BaseModel

Channel = Literal["ECRIS", "INTERPOL", "BILATERAL"]
IdentityField = Literal["father_name", "mother_name", "place_of_birth"]


class Country(BaseModel):
    code: str
    name: str
    eu: bool
    eea: bool
    channel: Channel
    required_fields: list[IdentityField]


class Offence(BaseModel):
    code: str
    description: str
    serious: bool
    most_serious: bool


class UnknownCountryError(ValueError):
    pass


class UnknownOffenceError(ValueError):
    pass


def _load(name: str) -> dict:
    text = resources.files("models").joinpath("reference_data").joinpath(name).read_text("utf-8")
    return json.loads(text)


# Loaded once at import: workflow code reads these through a passed-through import,
# so no file is opened inside the workflow sandbox.
_COUNTRIES = {c["code"]: Country(**c) for c in _load("countries.json")["countries"]}
_OFFENCES = {o["code"]: Offence(**o) for o in _load("offences.json")["offences"]}


def countries() -> dict[str, Country]:
    return _COUNTRIES


def offences() -> dict[str, Offence]:
    return _OFFENCES


def country(code: str) -> Country:
    try:
        return countries()[code]
    except KeyError:
        raise UnknownCountryError(
            f"unknown country code {code!r}: use an ISO 3166-1 alpha-2 code listed in "
            "models/reference_data/countries.json (for example PL, RO, AL)"
        ) from None


def offence(code: str) -> Offence:
    try:
        return offences()[code]
    except KeyError:
        raise UnknownOffenceError(
            f"unknown offence code {code!r}: see models/reference_data/offences.json"
        ) from None
