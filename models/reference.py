"""Reference data: ACRO target countries and the offence seriousness table.

Both live as JSON files in ``models/reference_data`` so they can be reviewed and
amended without touching code. The offence table may be replaced by a file of the
same shape named by ``FNO_OFFENCE_TABLE``: the worker reads it at start
(``use_offence_table_from_env``) and refuses to start, saying what is wrong, when the
file is not a valid table. Only activities read the offence table (triage of a reply,
``activities.certificates``), never workflow code: a change of table never alters how
a recorded history replays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Channel = Literal["ECRIS", "INTERPOL", "BILATERAL"]
IdentityField = Literal["father_name", "mother_name", "place_of_birth"]

OFFENCE_TABLE_ENV = "FNO_OFFENCE_TABLE"


class Country(BaseModel):
    code: str
    name: str
    eu: bool
    eea: bool
    channel: Channel
    required_fields: list[IdentityField]


class Offence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=60, pattern=r"^[A-Z][A-Z0-9_]*$")
    description: str = Field(min_length=1)
    serious: bool
    most_serious: bool
    borderline: bool = Field(
        default=False,
        description="Neither serious nor not serious by the table: an ACRO officer triages "
        "a reply with this offence (serious or not, with a reason).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Offence:
        if self.most_serious and not self.serious:
            raise ValueError(f"{self.code}: most_serious requires serious")
        if self.borderline and self.serious:
            raise ValueError(
                f"{self.code}: borderline and serious both set (a serious offence is "
                "referred without asking; a borderline one is triaged by an ACRO officer)"
            )
        return self


class OffenceTable(BaseModel):
    """The file's shape: ``{"offences": [{code, description, serious, most_serious,
    borderline?}, ...]}`` (other top-level keys starting with ``_`` are comments)."""

    offences: list[Offence] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> OffenceTable:
        seen: set[str] = set()
        for o in self.offences:
            if o.code in seen:
                raise ValueError(f"offence code {o.code} listed twice")
            seen.add(o.code)
        return self


class UnknownCountryError(ValueError):
    pass


class UnknownOffenceError(ValueError):
    pass


class OffenceTableError(ValueError):
    """The offence table file is missing or not a valid table (raised at worker start)."""


def _load(name: str) -> dict:
    text = resources.files("models").joinpath("reference_data").joinpath(name).read_text("utf-8")
    return json.loads(text)


def _table_of(data: object, source: str) -> dict[str, Offence]:
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not k.startswith("_")}
    try:
        table = OffenceTable.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'the file'}: {e['msg']}" for e in err.errors()
        )
        raise OffenceTableError(f"offence table {source} is not valid: {problems}") from None
    return {o.code: o for o in table.offences}


def load_offence_table(path: Path) -> dict[str, Offence]:
    """The offence table in ``path`` (the shape of models/reference_data/offences.json);
    ``OffenceTableError`` saying what is wrong."""
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise OffenceTableError(
            f"offence table {path} ({OFFENCE_TABLE_ENV}) cannot be read: {err.strerror}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise OffenceTableError(
            f"offence table {path} is not JSON: {err.msg} at line {err.lineno}"
        ) from None
    return _table_of(data, str(path))


# Loaded once at import: workflow code reads countries through a passed-through
# import, so no file is opened inside the workflow sandbox.
_COUNTRIES = {c["code"]: Country(**c) for c in _load("countries.json")["countries"]}
_DEFAULT_OFFENCES = _table_of(_load("offences.json"), "models/reference_data/offences.json")
_offences: dict[str, Offence] = _DEFAULT_OFFENCES


def use_offence_table_from_env(env: Mapping[str, str] | None = None) -> Path | None:
    """At worker start: the table named by ``FNO_OFFENCE_TABLE`` replaces the bundled
    one (unset or empty: the bundled one). Returns the file used, if any; raises
    ``OffenceTableError`` for a bad file."""
    global _offences
    env = os.environ if env is None else env
    name = env.get(OFFENCE_TABLE_ENV, "").strip()
    if not name:
        _offences = _DEFAULT_OFFENCES
        return None
    path = Path(name)
    _offences = load_offence_table(path)
    return path


def countries() -> dict[str, Country]:
    return _COUNTRIES


def offences() -> dict[str, Offence]:
    """The offence table in force (the bundled one, or ``FNO_OFFENCE_TABLE``'s)."""
    return _offences


def bundled_offences() -> dict[str, Offence]:
    """The table shipped in models/reference_data (the simulated world draws from it)."""
    return _DEFAULT_OFFENCES


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
