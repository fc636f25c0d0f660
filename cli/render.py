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


def titles(kinds: Iterable[str]) -> list[str]:
    """Decision kinds by their forms' titles (``models.decision_forms``)."""
    # Imported here: the forms are built from the decisions' schema (pydantic), which
    # ``fno --help`` and the commands that show no decision should not load.
    from models.decision_forms import decision_form

    shown = []
    for kind in kinds:
        try:
            shown.append(decision_form(kind).title)
        except KeyError:
            shown.append(kind.replace("_", " "))
    return shown


def case(state: dict[str, Any], files: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """A case: stage, outcome, what it awaits and from whom, deadlines, its progress
    (references, representations, tasks), notes and attachments, the timeline."""
    out.print(heading(state.get("case_id"), state.get("stage")))
    if state.get("casework_id"):
        out.print(f"Criminal Casework case: {state['casework_id']}", markup=False)
    if state.get("outcome"):
        out.print(f"Outcome: {state['outcome']}", markup=False)
    if state.get("awaiting"):
        awaiting = "; ".join(titles(state["awaiting"]))
        roles = _joined(state.get("awaiting_role"))
        out.print(f"Awaiting: {awaiting} (from {roles})", markup=False)
    progress(state)
    for n in (files or {}).get("notes", []):
        out.print(
            f"Note ({when(n.get('at'))}, {n.get('author')}, {n.get('role')}): "
            f"{n.get('text') or '(destroyed)'}",
            markup=False,
        )
    for a in (files or {}).get("attachments", []):
        gone = " (destroyed)" if a.get("destroyed") else ""
        out.print(
            f"Attachment {a.get('id')}: {a.get('kind')}, {a.get('filename')}, "
            f"{a.get('size')} bytes, by {a.get('by')} {when(a.get('at'))}{gone}",
            markup=False,
        )
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


def progress(state: dict[str, Any]) -> None:
    """What a casework case's ``progress`` holds: the references other systems gave,
    the representations, the tasks."""
    p = state.get("progress") or {}
    for name, ref in (p.get("references") or {}).items():
        out.print(f"Reference: {name}: {ref}", markup=False)
    for r in p.get("representations") or []:
        att = f", attachment {r['attachment_id']}" if r.get("attachment_id") else ""
        out.print(
            f"Representations received {r.get('received_on')} (by {r.get('recorded_by')}{att})",
            markup=False,
        )
    for r in p.get("reopenings") or []:
        out.print(
            f"Reopened {when(r.get('at'))} ({r.get('grounds')}) by {r.get('by')}; "
            f"was {r.get('previous_outcome')}: {r.get('reason')}",
            markup=False,
        )
    for t in state.get("tasks") or []:
        follow = f", follow up {t['follow_up_on']}" if t.get("follow_up_on") else ""
        out.print(
            f"Task: {titles([t['kind']])[0]} — {t.get('assignee_name') or 'unassigned'}"
            f" ({_joined(t.get('candidate_roles'))}), due {when(t.get('due_at'))}{follow}, "
            f"{t.get('priority', 'normal')} priority",
            markup=False,
        )


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
        row(table, f"{form.title}\n{form.kind}", "\n".join(fields) or "-", ", ".join(form.roles))
    out.print(table)
    out.print('Example: fno decide CASE KIND field=value --reason "why"')


def stuck(found: Sequence[dict[str, Any]]) -> None:
    table = Table("case", "stage", "code", "why", "last error")
    for r in found:
        stage = r.get("stage") or ""
        if r.get("closed_at"):
            stage = f"{stage} (closed {when(r['closed_at'])})".strip()
        row(
            table,
            r["case_id"],
            stage,
            r.get("code") or "",
            r.get("why", ""),
            r.get("last_error") or "",
        )
    out.print(table)
    out.print(f"{len(found)} stuck case(s)", markup=False)


def cases(rows: Sequence[dict[str, Any]], page: int) -> None:
    table = Table(
        "case", "who", "stage", "outcome", "nat.", "force", "owner", "awaiting", "deadline"
    )
    for r in rows:
        who = r.get("subject") or {}
        row(
            table,
            r["case_id"],
            f"{who['name']} ({who['nationality']})" if who else "",
            r.get("stage_words") or r.get("stage") or "",
            r.get("outcome") or "",
            r.get("nationality") or "",
            r.get("force") or "",
            r.get("owner") or "",
            _joined(r.get("awaiting_roles")),
            when(r.get("next_deadline")),
        )
    out.print(table)
    out.print(f"page {page}: {len(rows)} case(s)", markup=False)


def _stage_words(code: str | None) -> str:
    """A stage's code in the guidance's words (``models.case.Stage``)."""
    from models.case import Stage  # here: the command's start-up cost, only when listed

    if code is None:
        return ""
    return Stage[code].value if code in Stage.__members__ else code


def inbox(rows: Sequence[dict[str, Any]]) -> None:
    """``fno cases --mine``: my tasks, then my team's unassigned ones."""
    table = Table("case", "task", "stage", "assigned", "priority", "due", "follow up")
    for r in rows:
        assigned = "me" if r.get("mine") else (r.get("assignee_name") or "unassigned")
        due = when(r.get("due_at")) + (" (overdue)" if r.get("overdue") else "")
        row(
            table,
            r["case_id"],
            (r.get("task") or "").replace("_", " "),
            _stage_words(r.get("task_stage") or r.get("case_stage")),
            assigned,
            r.get("priority") or "",
            due,
            r.get("follow_up_on") or "",
        )
    out.print(table)
    out.print(f"{len(rows)} task(s)", markup=False)


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
