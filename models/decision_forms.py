"""Which decisions a case accepts now, and the fields of each, derived from the
``DecisionRequest`` schema (``models.decisions``) and ``ROLES_FOR``.

One source for ``fno decide CASE --help`` and the web app's decision forms: a new
decision kind, or a new field, shows in both without touching either.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from models.decisions import ROLES_FOR, DecisionRequest


class DecisionField(BaseModel):
    """One field of a decision, as a form or a command line needs it."""

    name: str
    type: str = Field(description="boolean, string, date, integer or number")
    choices: list[str] = Field(default_factory=list, description="The allowed values, if few.")
    required: bool
    default: Any = None
    max_length: int | None = None
    description: str | None = None

    def usage(self) -> str:
        """``name=a|b`` or ``name=type``, with ``(optional)``: the command line's hint."""
        what = "|".join(self.choices) if self.choices else self.type
        return f"{self.name}={what}" + ("" if self.required else " (optional)")


class DecisionForm(BaseModel):
    """A decision kind: what it is (the guidance's words, from its docstring), who may
    make it, and its fields."""

    kind: str
    description: str
    roles: list[str]
    fields: list[DecisionField]

    def allows(self, role: str) -> bool:
        return role in self.roles


def _field(name: str, prop: dict[str, Any], required: bool) -> DecisionField:
    # ``X | None`` fields are ``anyOf: [{...}, {"type": "null"}]`` in the schema.
    inner = next(
        (p for p in prop.get("anyOf", []) if p.get("type") != "null"),
        prop,
    )
    kind = inner.get("type", "string")
    if kind == "string" and inner.get("format") == "date":
        kind = "date"
    return DecisionField(
        name=name,
        type=kind,
        choices=[str(v) for v in inner.get("enum", [])],
        required=required,
        default=prop.get("default"),
        max_length=inner.get("maxLength"),
        description=prop.get("description"),
    )


@cache
def _forms() -> dict[str, DecisionForm]:
    schema = DecisionRequest.model_json_schema()
    forms: dict[str, DecisionForm] = {}
    for model in schema.get("$defs", {}).values():
        kind = model.get("properties", {}).get("kind", {}).get("const")
        if not kind:
            continue
        required = set(model.get("required", []))
        forms[kind] = DecisionForm(
            kind=kind,
            description=" ".join((model.get("description") or kind).split()),
            roles=list(ROLES_FOR.get(kind, ())),
            fields=[
                _field(name, prop, name in required)
                for name, prop in model.get("properties", {}).items()
                if name != "kind"
            ],
        )
    return forms


def decision_form(kind: str) -> DecisionForm:
    """The form of one decision kind; ``KeyError`` for an unknown kind."""
    return _forms()[kind]


def decisions_accepted(awaiting: Iterable[str], role: str | None = None) -> list[DecisionForm]:
    """The forms of the decisions a case accepts now (its ``awaiting``), in that order;
    with ``role``, only those that role may make."""
    forms = _forms()
    return [
        forms[kind]
        for kind in awaiting
        if kind in forms and (role is None or forms[kind].allows(role))
    ]
