"""Which decisions a case accepts now, and the fields of each, derived from the
``DecisionRequest`` schema (``models.decisions``) and ``ROLES_FOR``.

One source for ``fno decide CASE --help`` and the web app's decision forms: a new
decision kind, or a new field, shows in both without touching either. A field marked
``x-fno-needed`` (``models.decision_kind.needed``) is shown as required, or "needed
when …" for one answer; a deprecated field is not shown; no answer that changes the
outcome is chosen for the user (``DecisionField.asked``: yes/no and choices start
unanswered).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from models.decision_kind import NEEDED
from models.decisions import ROLES_FOR, DecisionRequest

# A decision kind's title, in the guidance's words (the web app's, the CLI's, a
# refusal's); a kind not named here is titled by the first sentence of its docstring.
TITLES = {
    "identity_data_supplied": "Missing identity data supplied",
    "exclusion_consultation": "Exclusion consultation (subject left the UK)",
    "subject_located": "Subject located",
    "detention": "Detention decision",
    "deportation": "Deportation decision (after the Stage 1 response window)",
    "director_approval": "CC Director: deportation not pursued",
    "admin_removal_referral": "Referral to Removals Casework for administrative removal",
    "deportation_enforced": "Deportation enforced",
    "resume_after_fault": "Resume after a refusal by another system was put right",
    "notification_escalation": "Conviction notification not acknowledged: what next",
    "ice_tasking_review": "ICE tasking ended: liable to deport, or extend the tasking",
    "immigration_certificate_outcome": "Immigration certificate not obtained: what next",
    "triage": "ACRO triage of a country's reply",
    "claim_task": "Claim a task",
    "unclaim_task": "Give a task back to its team",
    "reassign_task": "Reassign a task",
    "bring_forward": "Bring a task forward",
    "stand_in": "Name a stand-in for the case owner",
    "allocate_case": "Allocate the case to a CC case owner",
    "offending_history_review": "Offending history: PNC print compared with the referral",
    "investigating_officer_answer": "The investigating officer's answer",
    "pending_prosecution": "Pending prosecutions clarified with the police",
    "prosecution_consideration": "Pending prosecution: proceed to a decision or wait",
    "prosecution_outcome": "Outcome of the UK prosecution",
    "detention_gatekeeper": "Detention Gatekeeper: accept or reject detention",
    "subject_detained": "Subject detained by ICE",
    "serve_stage1": "Serve the Stage 1 notice",
    "representations": "Representations received (Stage 1 response window)",
    "serve_deportation_order": "Serve the deportation order",
    "appeal_lodged": "Appeal lodged",
    "appeal_determined": "Appeal determined",
    "absconded": "Subject absconded",
}


class DecisionField(BaseModel):
    """One field of a decision, as a form or a command line needs it."""

    name: str
    type: str = Field(description="boolean, string, date, integer or number")
    choices: list[str] = Field(default_factory=list, description="The allowed values, if few.")
    required: bool
    default: Any = None
    max_length: int | None = None
    description: str | None = None
    needed_when: str | None = Field(
        default=None,
        description="Needed only for this answer (``field=value``); the schema's "
        "``x-fno-needed``. A field needed whatever the answers is ``required``.",
    )

    def usage(self) -> str:
        """``name=a|b`` or ``name=type``, with ``(optional)`` or ``(needed when …)``:
        the command line's hint."""
        what = "|".join(self.choices) if self.choices else self.type
        if self.required:
            return f"{self.name}={what}"
        if self.needed_when:
            return f"{self.name}={what} (needed when {self.needed_when})"
        return f"{self.name}={what} (optional)"

    @property
    def asked(self) -> bool:
        """Whether a form asks for an answer with none chosen for the user: a
        required or needed field, or any yes/no (its answer changes the outcome)."""
        return self.required or self.needed_when is not None or self.type == "boolean"

    def needed_for(self, answers: dict[str, object]) -> bool:
        """Whether this field must be answered given the form's other ``answers``."""
        if self.required:
            return True
        if self.needed_when is None:
            return False
        field, _, value = self.needed_when.partition("=")
        given = answers.get(field)
        return (str(given).lower() if isinstance(given, bool) else str(given)) == value


class DecisionForm(BaseModel):
    """A decision kind: what it is (the guidance's words, from its docstring), who may
    make it, and its fields."""

    kind: str
    description: str
    roles: list[str]
    fields: list[DecisionField]
    title: str = ""

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
    needed = prop.get(NEEDED)
    return DecisionField(
        name=name,
        type=kind,
        choices=[str(v) for v in inner.get("enum", [])],
        required=required or needed is True,
        default=prop.get("default"),
        max_length=inner.get("maxLength"),
        description=prop.get("description"),
        needed_when=needed if isinstance(needed, str) else None,
    )


def _title(kind: str, description: str) -> str:
    if kind in TITLES:
        return TITLES[kind]
    first = description.split(". ")[0].split(": ")[0].rstrip(".")
    return first or kind.replace("_", " ")


@cache
def _forms() -> dict[str, DecisionForm]:
    schema = DecisionRequest.model_json_schema()
    forms: dict[str, DecisionForm] = {}
    for model in schema.get("$defs", {}).values():
        kind = model.get("properties", {}).get("kind", {}).get("const")
        if not kind:
            continue
        required = set(model.get("required", []))
        description = " ".join((model.get("description") or kind).split())
        forms[kind] = DecisionForm(
            kind=kind,
            description=description,
            title=_title(kind, description),
            roles=list(ROLES_FOR.get(kind, ())),
            # A deprecated field (kept for decisions recorded before) is asked no more.
            fields=[
                _field(name, prop, name in required)
                for name, prop in model.get("properties", {}).items()
                if name != "kind" and not prop.get("deprecated")
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
