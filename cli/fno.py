"""``fno``: cases from the terminal, without knowing Temporal.

    fno show CASE --reason "why"            a case's stage, deadlines and timeline
    fno decide CASE KIND [field=value ...] --reason "why"
    fno audit CASE | --actor NAME [--since DATE]     (supervisors)
    fno intake FILE|-                        custody events, one case each
    fno daily-file FILE...                   PNC daily activity files (notifications out)
    fno notifications summary|list|files|alerts|accept|reconcile

Who you are comes from ``--as``/``--role`` or ``FNO_ACTOR``/``FNO_ROLE``; a read's
purpose from ``--reason`` or ``FNO_REASON``. A case that cannot be read now (its history
cannot be replayed by the current workers) exits with status 3 and says why and what to
do (``--json``: the same as a JSON object on stdout). Connection and store as the worker's
(``TEMPORAL_*``, ``FNO_*``).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from temporalio.service import RPCError

from access.decisions import request_for, send_decision
from access.errors import AccessRefused, CaseNotFound, CaseUnreadable, DecisionRefused
from access.intake import describe_validation_error
from access.intake_files import intake_file
from access.listing import CaseFilter, list_cases, start_of_day
from access.reading import audit, read_case
from access.stuck import ClosedProbe, stuck_cases
from cli import notifications, render
from cli.render import fail as _fail
from cli.render import print_rows
from cli.render import unanswered as _unanswered
from cli.render import unreadable as _unreadable
from identity.principal import Principal
from runtime.codec import CodecConfigError
from runtime.config import Settings, connect
from runtime.shutdown import exit_now
from store.cases import CaseStore
from store.notifications import NotificationStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cases from the terminal: show, decide, audit, intake.",
)
err = render.err

Actor = Annotated[str, typer.Option("--as", envvar="FNO_ACTOR", help="Your name.")]
Role = Annotated[str, typer.Option("--role", envvar="FNO_ROLE", help="Your role.")]
Reason = Annotated[
    str | None, typer.Option("--reason", envvar="FNO_REASON", help="Why (it is logged).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the same as JSON.")]


def _store() -> CaseStore:
    return CaseStore.current(Settings.from_env().database_url)


def _day(text: str | None, flag: str) -> datetime | None:
    """A YYYY-MM-DD option as the start of that day, or a clear refusal."""
    if text is None:
        return None
    try:
        return start_of_day(date.fromisoformat(text))
    except ValueError:
        _fail(f"{flag} {text!r}: use a date such as 2026-11-01", 2)
    return None


UNREADABLE_EXIT = render.UNREADABLE_EXIT


def _declared(actor: str, role: str, reason: str | None = None) -> Principal:
    # Stop-gap (h3) until fno speaks to the API with a token (h4): the declared identity.
    return Principal(
        subject=f"declared:{actor or 'unknown'}",
        name=actor or "unknown",
        role=role or "unknown",
        reason=reason,
    )


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
            _declared(actor, role, reason),
        )

    try:
        state = asyncio.run(go())
    except (AccessRefused, CaseNotFound) as e:
        _fail(str(e), 2)
    except CaseUnreadable as e:
        _unreadable(e, as_json)
    except RPCError as e:
        _unanswered(e)
    if as_json:
        print(state.model_dump_json(indent=2))
        return
    render.case(state)


def _decisions_accepted(case_id: str, actor: str, role: str, reason: str | None) -> None:
    async def go() -> Any:
        return await read_case(
            await connect(),
            _store(),
            case_id,
            _declared(actor, role, reason or "which decisions the case accepts"),
        )

    try:
        state = asyncio.run(go())
    except (AccessRefused, CaseNotFound) as e:
        _fail(str(e), 2)
    except CaseUnreadable as e:
        _unreadable(e)
    except RPCError as e:
        _unanswered(e)
    render.decisions(case_id, state)


@app.command(context_settings={"help_option_names": []})
def decide(
    ctx: typer.Context,
    case_id: Annotated[str | None, typer.Argument()] = None,
    kind: Annotated[str | None, typer.Argument()] = None,
    fields: Annotated[list[str] | None, typer.Argument(help="field=value pairs")] = None,
    actor: Actor = "",
    role: Role = "",
    reason: Reason = None,
    show_help: Annotated[
        bool, typer.Option("--help", help="With a case: the decisions it accepts now.")
    ] = False,
) -> None:
    """Send a decision; prints the new stage, or the refusal (exit status 1).
    ``fno decide CASE --help`` lists the decisions the case accepts now."""
    if show_help or case_id is None:
        if case_id is None:
            print(ctx.get_help())
            return
        _decisions_accepted(case_id, actor, role, reason)
        return
    if kind is None:
        _fail(f"Name the decision: `fno decide {case_id} --help` lists those it accepts now.", 2)
    decision: dict[str, Any] = {"kind": kind}
    for pair in fields or []:
        name, sep, value = pair.partition("=")
        if not sep:
            _fail(f"{pair!r}: write fields as name=value", 2)
        decision[name] = {"true": True, "false": False}.get(value.lower(), value)
    who = _declared(actor, role)
    try:
        req = request_for(who, reason or "", decision)
    except ValidationError as e:
        _fail(describe_validation_error(e), 2)

    async def go() -> Any:
        return await send_decision(await connect(), case_id, who, req)

    try:
        result = asyncio.run(go())
    except (DecisionRefused, CaseNotFound, AccessRefused) as e:
        _fail(str(e))
    except CaseUnreadable as e:
        _unreadable(e)
    render.out.print(f"Accepted. Stage: {result.stage}")


@app.command()
def cases(
    stage: Annotated[
        str | None, typer.Option(help="Stage name, e.g. LIABLE_TO_DEPORT_WANTED.")
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="Outcome name, e.g. DEPORTED.")] = None,
    nationality: Annotated[str | None, typer.Option(help="ISO code, e.g. PL.")] = None,
    force: Annotated[str | None, typer.Option(help="Force code, e.g. hampshire.")] = None,
    owner: Annotated[str | None, typer.Option(help="Case owner.")] = None,
    kind: Annotated[str | None, typer.Option(help="encounter, casework or notification.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Awaiting a decision from my role.")] = False,
    overdue: Annotated[bool, typer.Option(help="Next deadline passed.")] = False,
    running: Annotated[bool, typer.Option(help="Open cases only.")] = False,
    opened_after: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    opened_before: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    sort: Annotated[str, typer.Option(help="opened (newest first) or deadline.")] = "opened",
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    stuck: Annotated[
        bool,
        typer.Option(
            "--stuck",
            help="Cases not moving (a failing step, a passed deadline) or that cannot be read.",
        ),
    ] = False,
    failing_minutes: Annotated[float, typer.Option(help="--stuck: failing this long.")] = 30,
    overdue_minutes: Annotated[
        float, typer.Option(help="--stuck: deadline passed this long ago.")
    ] = 60,
    probe_closed: Annotated[
        int,
        typer.Option(
            min=0, help="--stuck: ask the state of this many recently closed cases (0: none)."
        ),
    ] = 20,
    closed_within_hours: Annotated[
        float, typer.Option(min=0, help="--stuck: closed cases closed this recently.")
    ] = 24,
    role: Role = "",
    as_json: AsJson = False,
) -> None:
    """List cases by stage, outcome, nationality, force, owner, awaiting my decision,
    overdue deadline, opened before/after; sorted and paginated. ``--stuck`` lists the
    cases that are not moving, with the last error."""
    if stuck:
        found = asyncio.run(
            _stuck(
                stuck_cases,
                failing_minutes,
                overdue_minutes,
                ClosedProbe(within=timedelta(hours=closed_within_hours), limit=probe_closed),
            )
        )
        if as_json:
            print_rows(found)
            return
        render.stuck(found)
        return

    if sort not in ("opened", "deadline"):
        _fail("--sort must be 'opened' or 'deadline'", 2)
    if mine and not role:
        _fail("--mine needs your role (--role or FNO_ROLE)", 2)

    f = CaseFilter(
        kind=kind,
        stage=stage,
        outcome=outcome,
        nationality=nationality,
        force=force,
        owner=owner,
        awaiting_role=role if mine else None,
        overdue=overdue,
        opened_after=_day(opened_after, "--opened-after"),
        opened_before=_day(opened_before, "--opened-before"),
        running_only=running,
    )

    async def go() -> Any:
        return await list_cases(
            await connect(),
            _declared("unknown", role),
            f,
            now=datetime.now().astimezone(),
            sort=sort,
            page=page,
            page_size=page_size,
        )

    try:
        rows = asyncio.run(go())
    except AccessRefused as e:
        _fail(str(e), 2)
    if as_json:
        print_rows(rows)
        return
    render.cases(rows, page)


async def _stuck(
    stuck_cases: Any, failing_minutes: float, overdue_minutes: float, closed: Any
) -> Any:
    try:  # notifications out's alerts, when the case store is there to read
        notifications: NotificationStore | None = NotificationStore(_store().engine)
    except Exception as e:
        err.print(f"Notification alerts not listed: {e}", style="yellow", markup=False)
        notifications = None
    return await stuck_cases(
        await connect(),
        now=datetime.now().astimezone(),
        failing_for=timedelta(minutes=failing_minutes),
        overdue_by=timedelta(minutes=overdue_minutes),
        notifications=notifications,
        closed=closed,
    )


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
    since_at = _day(since, "--since")
    try:
        rows = audit(
            _store(),
            _declared(actor, role),
            case_id=case_id,
            actor=of_actor,
            since=since_at,
        )
    except AccessRefused as e:
        _fail(str(e), 2)
    if as_json:
        print_rows(rows)
        return
    render.audit(rows)


@app.command()
def intake(file: str) -> None:
    """Start cases from custody events (JSON or JSON Lines; - for stdin)."""
    code = asyncio.run(intake_file(file))
    raise typer.Exit(code)


# ``fno daily-file`` and ``fno notifications …`` (``cli.notifications``).
app.command("daily-file")(notifications.daily_file)
app.add_typer(notifications.app, name="notifications")


def main() -> None:
    # Leave through ``exit_now``: a process that used a Temporal client can crash in
    # interpreter teardown (see runtime.shutdown).
    try:
        app()
    except SystemExit as stop:
        exit_now(stop.code if isinstance(stop.code, int) else 1)
    except CodecConfigError as e:  # no (or bad) payload encryption keys
        err.print(f"Refused to start: {e}", style="red", markup=False)
        exit_now(2)
    exit_now(0)


if __name__ == "__main__":
    sys.exit(main())  # type: ignore[func-returns-value]
