"""``fno``: cases from the terminal, without knowing Temporal.

    fno show CASE --reason "why"            a case's stage, deadlines and timeline
    fno decide CASE KIND [field=value ...] --reason "why"
    fno audit CASE | --actor NAME [--since DATE]     (supervisors)
    fno intake FILE|-                        custody events, one case each

Who you are comes from ``--as``/``--role`` or ``FNO_ACTOR``/``FNO_ROLE``; a read's
purpose from ``--reason`` or ``FNO_REASON``. Connection and store as the worker's
(``TEMPORAL_*``, ``FNO_*``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, datetime, time
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from access.service import (
    AccessRefused,
    CaseNotFound,
    DecisionRefused,
    Reader,
    audit,
    read_case,
    send_decision,
)
from activities.store import CaseStore, make_engine
from models.decisions import DecisionRequest
from runtime.config import Settings, connect

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cases from the terminal: show, decide, audit, intake.",
)
out = Console()
err = Console(stderr=True)

Actor = Annotated[str, typer.Option("--as", envvar="FNO_ACTOR", help="Your name.")]
Role = Annotated[str, typer.Option("--role", envvar="FNO_ROLE", help="Your role.")]
Reason = Annotated[
    str | None, typer.Option("--reason", envvar="FNO_REASON", help="Why (it is logged).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the same as JSON.")]


def _store() -> CaseStore:
    from runtime.database import require_current

    engine = make_engine(Settings.from_env().database_url)
    require_current(engine)
    return CaseStore(engine)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(code)


@app.command()
def show(
    case_id: str, actor: Actor = "", role: Role = "", reason: Reason = None, as_json: AsJson = False
) -> None:
    """A case: stage, outcome, what it awaits and from whom, deadlines, the timeline."""

    async def go() -> Any:
        return await read_case(
            await connect(),
            _store(),
            case_id,
            Reader(actor=actor or "unknown", role=role or "unknown", reason=reason),
        )

    try:
        state = asyncio.run(go())
    except (AccessRefused, CaseNotFound) as e:
        _fail(str(e), 2)
    if as_json:
        print(state.model_dump_json(indent=2))
        return
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


@app.command()
def decide(
    case_id: str,
    kind: str,
    fields: Annotated[list[str] | None, typer.Argument(help="field=value pairs")] = None,
    actor: Actor = "",
    role: Role = "",
    reason: Reason = None,
) -> None:
    """Send a decision; prints the new stage, or the refusal (exit status 1)."""
    decision: dict[str, Any] = {"kind": kind}
    for pair in fields or []:
        name, sep, value = pair.partition("=")
        if not sep:
            _fail(f"{pair!r}: write fields as name=value", 2)
        decision[name] = {"true": True, "false": False}.get(value.lower(), value)
    try:
        req = DecisionRequest.model_validate(
            {"actor": actor, "role": role, "reason": reason or "", "decision": decision}
        )
    except ValidationError as e:
        _fail("; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()), 2)

    async def go() -> Any:
        return await send_decision(await connect(), case_id, req)

    try:
        result = asyncio.run(go())
    except (DecisionRefused, CaseNotFound) as e:
        _fail(str(e))
    out.print(f"Accepted. Stage: {result.stage}")


@app.command("audit")
def audit_cmd(
    case_id: Annotated[str | None, typer.Argument()] = None,
    of_actor: Annotated[str | None, typer.Option("--actor", help="Entries by this actor.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    actor: Actor = "",
    role: Role = "",
    as_json: AsJson = False,
) -> None:
    """The access log: every collection, consultation, alteration, disclosure,
    decision and erasure — of a case, or by an actor since a date."""
    since_at = None
    if since:
        try:
            since_at = datetime.combine(date.fromisoformat(since), time.min).astimezone()
        except ValueError:
            _fail(f"--since {since!r}: use a date such as 2026-11-01", 2)
    try:
        rows = audit(
            _store(),
            Reader(actor=actor, role=role, reason=None),
            case_id=case_id,
            actor=of_actor,
            since=since_at,
        )
    except AccessRefused as e:
        _fail(str(e), 2)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    table = Table("when", "action", "who", "role", "case", "justification")
    for r in rows:
        table.add_row(
            f"{r.at:%Y-%m-%d %H:%M:%S}", r.action, r.actor, r.role, r.case_id, r.justification
        )
    out.print(table)


@app.command()
def intake(file: str) -> None:
    """Start cases from custody events (JSON or JSON Lines; - for stdin)."""
    import starter

    code = asyncio.run(starter.main([file]))
    raise typer.Exit(code)


def main() -> None:
    from runtime.shutdown import exit_now

    # Leave through ``exit_now``: a process that used a Temporal client can crash in
    # interpreter teardown (see runtime.shutdown).
    try:
        app()
    except SystemExit as stop:
        exit_now(stop.code if isinstance(stop.code, int) else 1)
    exit_now(0)


if __name__ == "__main__":
    sys.exit(main())  # type: ignore[func-returns-value]
