"""What ``fno`` prints: tables and lines on the terminal from the API's JSON, refusals
on stderr with their exit status (``cli.fno`` holds the commands). Times are shown in
the terminal's local time.

Stored text is printed literally: an actor's name, a reason, a timeline entry or an
alert's detail come from other people and systems, and Rich would read ``[bold]`` in
them as markup (and ``[/x]`` as an error that ends the command). Every value from the
API goes out as ``rich.text.Text`` (``literal``, ``row``) or with ``markup=False``; the
consoles highlight nothing of their own accord."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

# No automatic highlighting: it would style numbers and quotes inside stored text.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

REFUSED_EXIT = 1  # the case (or the store) refused: a decision, an alert already closed
AUTH_EXIT = 2  # not signed in, refused by the API (401/403), or bad input
UNREADABLE_EXIT = 3  # the case exists but cannot be read now
NO_ANSWER_EXIT = 4  # the API, or Temporal behind it, did not answer


def fail(message: str, code: int = REFUSED_EXIT) -> NoReturn:
    err.print(message, style="red", markup=False)
    raise typer.Exit(code)


def unreadable(answer: dict[str, Any], as_json: bool = False) -> NoReturn:
    """A case that cannot be read now (the API's 409 with ``why``): the reason and what
    to do, exit status 3; ``--json``: the API's answer on stdout too."""
    if as_json:
        print(json.dumps(answer, indent=2))
    err.print(str(answer.get("detail", "")), style="red", markup=False)
    if answer.get("error"):
        err.print(f"Error: {answer['error']}", style="red", markup=False)
    raise typer.Exit(UNREADABLE_EXIT)


def literal(value: Any, style: str = "") -> Text:
    """``value`` as text printed as it is: no markup, no emoji codes, no highlighting."""
    return Text("" if value is None else str(value), style=style)


def row(table: Table, *cells: Any) -> None:
    """Add a row of values printed literally (see ``literal``)."""
    table.add_row(*(literal(c) for c in cells))


def heading(case_id: Any, stage: Any) -> Text:
    """``CASE  STAGE`` with the case in bold, both literal."""
    return Text.assemble(literal(case_id, "bold"), "  ", literal(stage or ""))


def print_json(rows: Any) -> None:
    """``--json``: the API's answer, indented."""
    print(json.dumps(rows, indent=2))


def at(value: Any) -> datetime | None:
    """An ISO 8601 time from the API, in local time (None for none)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone()


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    moment = at(value)
    return f"{moment:{fmt}}" if moment else ""


def _joined(values: Iterable[Any] | None) -> str:
    return ", ".join(str(v) for v in values or [])


def case(state: dict[str, Any]) -> None:
    """A case: stage, outcome, what it awaits and from whom, deadlines, the timeline."""
    out.print(heading(state.get("case_id"), state.get("stage")))
    if state.get("casework_id"):
        out.print(f"Criminal Casework case: {state['casework_id']}", markup=False)
    if state.get("outcome"):
        out.print(f"Outcome: {state['outcome']}", markup=False)
    if state.get("awaiting"):
        awaiting, roles = _joined(state["awaiting"]), _joined(state.get("awaiting_role"))
        out.print(f"Awaiting: {awaiting} (from {roles})", markup=False)
    now = datetime.now().astimezone()
    for d in state.get("deadlines") or []:
        due = at(d["due_at"])
        left = f" ({due - now} left)" if due else ""
        out.print(f"Deadline: {d['name']} at {when(d['due_at'])}{left}", markup=False)
    table = Table("when", "what", "who", "why")
    for entry in state.get("timeline") or []:
        who = f"{entry['actor']} ({entry.get('role')})" if entry.get("actor") else ""
        row(table, when(entry.get("at")), entry.get("text", ""), who, entry.get("reason") or "")
    out.print(table)


def decisions(case_id: str, state: dict[str, Any]) -> None:
    """The decisions a case accepts now, their fields and who may make them."""
    # Imported here: the decision forms are built from the decisions' schema (pydantic),
    # which only this listing needs — not ``fno --help`` nor any other command.
    from models.decision_forms import decisions_accepted

    out.print(heading(case_id, state.get("stage")))
    if not state.get("awaiting"):
        out.print("The case accepts no decision now.")
        return
    table = Table("decision", "fields", "who may make it")
    for form in decisions_accepted(state["awaiting"]):
        fields = [f.usage() for f in form.fields]
        row(table, form.kind, "\n".join(fields) or "-", ", ".join(form.roles))
    out.print(table)
    out.print('Example: fno decide CASE KIND field=value --reason "why"')


def stuck(found: Sequence[dict[str, Any]]) -> None:
    table = Table("case", "stage", "why", "last error")
    for r in found:
        stage = r.get("stage") or ""
        if r.get("closed_at"):
            stage = f"{stage} (closed {when(r['closed_at'])})".strip()
        row(table, r["case_id"], stage, r.get("why", ""), r.get("last_error") or "")
    out.print(table)
    out.print(f"{len(found)} stuck case(s)", markup=False)


def cases(rows: Sequence[dict[str, Any]], page: int) -> None:
    table = Table("case", "stage", "outcome", "nat.", "force", "owner", "awaiting", "deadline")
    for r in rows:
        row(
            table,
            r["case_id"],
            r.get("stage") or "",
            r.get("outcome") or "",
            r.get("nationality") or "",
            r.get("force") or "",
            r.get("owner") or "",
            _joined(r.get("awaiting_roles")),
            when(r.get("next_deadline")),
        )
    out.print(table)
    out.print(f"page {page}: {len(rows)} case(s)", markup=False)


def audit(rows: Sequence[dict[str, Any]]) -> None:
    table = Table("when", "action", "who", "role", "case", "justification")
    for r in rows:
        row(
            table,
            when(r.get("at"), "%Y-%m-%d %H:%M:%S"),
            r.get("action", ""),
            r.get("actor", ""),
            r.get("role", ""),
            r.get("case_id", ""),
            r.get("justification", ""),
        )
    out.print(table)


def principal(me: dict[str, Any], api_url: str) -> None:
    """``fno whoami``: who the API says the token proves."""
    force = f", {me['force']}" if me.get("force") else ""
    out.print(f"{me.get('name', '?')} ({me.get('role', '?')}{force})", markup=False)
    out.print(f"subject: {me.get('subject', '?')}", markup=False)
    if me.get("expires_at"):
        out.print(f"token valid until {when(me['expires_at'])}", markup=False)
    out.print(f"API: {api_url}", markup=False)
