"""The base of every decision kind (``models.decisions``), and ``needed``: a field a
new case requires but a decision recorded before it existed may lack.

A decision's payload is decoded again whenever its history replays, so a field added
to a kind that cases already recorded cannot be required by the model: it is optional
with no default answer, marked ``x-fno-needed`` in the schema (the forms and ``fno
decide --help`` show it as required), and the case's validator refuses a new decision
without it (``workflows.casework_case.CaseworkCase.check_needed``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NEEDED = "x-fno-needed"


class Kind(BaseModel):
    model_config = ConfigDict(extra="forbid")


def needed(description: str, *, when: str | None = None, **kw: Any) -> Any:
    """An optional field a new decision must carry (``when``: only for that answer of
    the decision, written ``field=value``, e.g. ``decision=deport``)."""
    extra: dict[str, Any] = {NEEDED: when or True}
    return Field(default=None, description=description, json_schema_extra=extra, **kw)


def missing_needed(decision: BaseModel) -> list[str]:
    """The ``needed`` fields ``decision`` lacks, given its own answers."""
    missing = []
    for name, info in type(decision).model_fields.items():
        extra = info.json_schema_extra
        if not isinstance(extra, dict) or NEEDED not in extra:
            continue
        when = extra[NEEDED]
        if isinstance(when, str):
            field, _, value = when.partition("=")
            if str(_plain(getattr(decision, field, None))) != value:
                continue
        value = getattr(decision, name)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(name)
    return missing


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    return value
