"""What ``fno`` prints: tables and lines on the terminal, refusals on stderr with their
exit status (``cli.fno`` holds the commands)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from access.errors import CaseUnreadable
from models.decision_forms import decisions_accepted

out = Console()
err = Console(stderr=True)

UNREADABLE_EXIT = 3


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


def unreadable(e: CaseUnreadable, as_json: bool = False) -> NoReturn:
    """A case that cannot be read now: the reason and what to do, exit status 3."""
    if as_json:
        print(json.dumps(e.as_dict(), indent=2))
    err.print(e.detail, style="red", markup=False)
    err.print(f"Error: {e.error}", style="red", markup=False)
    raise typer.Exit(UNREADABLE_EXIT)


def unanswered(e: RPCError) -> NoReturn:
    fail(f"The case cannot be read right now: Temporal did not answer ({e.message}).", 4)


def print_rows(rows: Sequence[Any]) -> None:
    """``--json``: the rows as one indented JSON array."""
    print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))


def case(state: Any) -> None:
    """A case: stage, outcome, what it awaits and from whom, deadlines, the timeline."""
    out.print(f"[bold]{state.case_id}[/bold]  {state.stage.value}")
    if getattr(state, "casework_id", None):
        out.print(f"Criminal Casework case: {state.casework_id}")
    if state.outcome:
        out.print(f"Outcome: {state.outcome.value}")
    if state.awaiting:
        out.print(f"Awaiting: {', '.join(state.awaiting)} (from {', '.join(state.awaiting_role)})")
    now = datetime.now(tz=state.opened_at.tzinfo if state.opened_at else None)
    for d in state.deadlines:
        out.print(f"Deadline: {d.name} at {d.due_at:%Y-%m-%d %H:%M} ({d.due_at - now} left)")
    table = Table("when", "what", "who", "why")
    for entry in state.timeline:
        who = f"{entry.actor} ({entry.role})" if entry.actor else ""
        table.add_row(f"{entry.at:%Y-%m-%d %H:%M}", entry.text, who, entry.reason or "")
    out.print(table)


def decisions(case_id: str, state: Any) -> None:
    """The decisions a case accepts now, their fields and who may make them."""
    out.print(f"[bold]{case_id}[/bold]  {state.stage.value}")
    if not state.awaiting:
        out.print("The case accepts no decision now.")
        return
    table = Table("decision", "fields", "who may make it")
    for form in decisions_accepted(state.awaiting):
        fields = [f.usage() for f in form.fields]
        table.add_row(form.kind, "\n".join(fields) or "-", ", ".join(form.roles))
    out.print(table)
    out.print('Example: fno decide CASE KIND field=value --reason "why"')


def stuck(found: Sequence[Any]) -> None:
    table = Table("case", "stage", "why", "last error")
    for r in found:
        stage = r.stage or ""
        if r.closed_at:
            stage = f"{stage} (closed {r.closed_at:%Y-%m-%d %H:%M})".strip()
        table.add_row(r.case_id, stage, r.why, r.last_error or "")
    out.print(table)
    out.print(f"{len(found)} stuck case(s)")


def cases(rows: Sequence[Any], page: int) -> None:
    table = Table("case", "stage", "outcome", "nat.", "force", "owner", "awaiting", "deadline")
    for r in rows:
        table.add_row(
            r.case_id,
            r.stage or "",
            r.outcome or "",
            r.nationality or "",
            r.force or "",
            r.owner or "",
            ", ".join(r.awaiting_roles),
            f"{r.next_deadline:%Y-%m-%d %H:%M}" if r.next_deadline else "",
        )
    out.print(table)
    out.print(f"page {page}: {len(rows)} case(s)")


def audit(rows: Sequence[Any]) -> None:
    table = Table("when", "action", "who", "role", "case", "justification")
    for r in rows:
        table.add_row(
            f"{r.at:%Y-%m-%d %H:%M:%S}", r.action, r.actor, r.role, r.case_id, r.justification
        )
    out.print(table)
