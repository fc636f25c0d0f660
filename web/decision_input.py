"""A decision as the case page's form posts it: which kinds of decision exist
(``known_kind``), and the decision's fields read from the form, typed, with each
field's problem in words (``decision_from_form``)."""

from __future__ import annotations

from typing import Any

from models.decision_forms import DecisionForm, decision_form


def known_kind(kind: str) -> bool:
    try:
        decision_form(kind)
    except KeyError:
        return False
    return True


def decision_from_form(spec: DecisionForm, form: dict[str, str]) -> tuple[dict[str, Any], dict]:
    """The decision's fields from the form (``f.<name>``), typed; with each field's
    problem in words."""
    decision: dict[str, Any] = {"kind": spec.kind}
    errors: dict[str, Any] = {}
    for f in spec.fields:
        raw = form.get(f"f.{f.name}", "").strip()
        if raw == "":
            if f.required:
                errors[f.name] = (
                    "Choose one." if f.type == "boolean" or f.choices else "This is needed."
                )
            continue
        if f.type == "boolean":
            if raw not in ("true", "false"):
                errors[f.name] = "Choose one."
                continue
            decision[f.name] = raw == "true"
        elif f.type == "integer":
            try:
                decision[f.name] = int(raw)
            except ValueError:
                errors[f.name] = "A whole number is needed."
        elif f.type == "number":
            try:
                decision[f.name] = float(raw)
            except ValueError:
                errors[f.name] = "A number is needed."
        else:
            if f.choices and raw not in f.choices:
                errors[f.name] = "Choose one of the options."
                continue
            decision[f.name] = raw
    # issue 21: a field needed for one answer only ("needed when decision=deport").
    for f in spec.fields:
        if f.name not in decision and f.name not in errors and f.needed_for(decision):
            errors[f.name] = (
                "This is needed for the answer given."
                if f.type != "boolean"
                else ("Choose one: it is needed for the answer given.")
            )
    return decision, errors
