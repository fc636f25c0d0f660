"""``fno``: cases from the terminal, a client of the FNO HTTP API with your own token.

    fno login [--username NAME] [--password-stdin | --token-stdin]   sign in (cli.account)
    fno whoami | fno logout
    fno show CASE --reason "why"            a case's stage, deadlines and timeline
    fno decide CASE KIND [field=value ...] --reason "why"
    fno cases [filters] | --stuck           find cases; those not moving
    fno audit CASE | --actor NAME [--since DATE]     (supervisors)
    fno intake FILE|-                        custody events, one case each (a system key)
    fno daily-file FILE...                   PNC daily activity files (a system key)
    fno notifications summary|list|files|alerts|accept|reconcile

Who you are is what your token proves: the API (``FNO_API_URL``, default
http://127.0.0.1:8000) verifies it on every request; ``--as``/``--role`` and
``FNO_ACTOR``/``FNO_ROLE`` are refused. A read's purpose comes from ``--reason`` or
``FNO_REASON`` (sent as ``X-Reason``, logged). Exit statuses: 1 refused by the case,
2 not signed in / refused by the API / bad input, 3 a case that cannot be read now
(its history cannot be replayed by the current workers; ``--json``: the reason as a
JSON object on stdout), 4 the API (or Temporal behind it) did not answer.

Operators' tasks that talk to Temporal or the database directly are not here but in
the Makefile (``make migrate``, ``make schedules``, ``make register-search-attributes``);
``fno notifications reconcile`` is the one direct command and says so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cli import account, casework, notifications, render
from cli.client import body, call, detail, field_errors, person, system
from cli.render import AUTH_EXIT, NO_ANSWER_EXIT, fail, print_json
from models.json_input import JsonInputError, parse_json

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cases from the terminal, through the FNO API (FNO_API_URL, default "
    "http://127.0.0.1:8000) with your own token: sign in with `fno login`, then show, "
    "decide, list, audit.",
    epilog="Operators' tasks that reach Temporal or the database directly are not fno "
    "commands but make targets: make migrate, make schedules, make "
    "register-search-attributes (and fno notifications reconcile).",
)
err = render.err
for command in (account.login, account.whoami, account.logout):  # signing in first
    app.command()(command)

Reason = Annotated[
    str | None, typer.Option("--reason", envvar="FNO_REASON", help="Why (it is logged).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the same as JSON.")]

GONE_OPTIONS = ("--as", "--role")
GONE_ENV = ("FNO_ACTOR", "FNO_ROLE")
GONE = (
    "{what} is gone: who you are and your role come from your sign-in token, proven to "
    "the API. Run `fno login` (`fno whoami` shows who you are signed in as){unset}."
)


def declared_identity(argv: list[str], env: Mapping[str, str]) -> str | None:
    """The refusal for a self-declared identity (``--as``/``--role``, ``FNO_ACTOR``/
    ``FNO_ROLE``), or None."""
    for arg in argv:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name in GONE_OPTIONS:
            return GONE.format(what=name, unset="")
    for var in GONE_ENV:
        if env.get(var):
            return GONE.format(what=var, unset=f"; unset {var}")
    return None


@app.callback()
def _root() -> None:
    refusal = declared_identity([], os.environ)
    if refusal:
        fail(refusal, AUTH_EXIT)


def _path(case_id: str, *rest: str) -> str:
    return "/".join(["/cases", quote(case_id, safe="/"), *rest])


def _day(text: str | None, flag: str) -> str | None:
    """A YYYY-MM-DD option as sent to the API, or a clear refusal."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        fail(f"{flag} {text!r}: use a date such as 2026-11-01", AUTH_EXIT)


def _read_case(case_id: str, reason: str | None, as_json: bool = False) -> dict[str, Any]:
    """``GET /cases/{id}``; ends the command on anything but the state."""
    answer = call(person(), "GET", _path(case_id), reason=reason)
    said = body(answer)
    if answer.status_code == 200 and isinstance(said, dict):
        return said
    if answer.status_code == 409 and isinstance(said, dict) and said.get("why"):
        render.unreadable(said, as_json)
    if answer.status_code == 503:
        fail(detail(answer), NO_ANSWER_EXIT)
    fail(detail(answer), AUTH_EXIT)  # 404 no such case, 422 a bad purpose


@app.command()
def show(case_id: str, reason: Reason = None, as_json: AsJson = False) -> None:
    """A case: stage, outcome, what it awaits and from whom, deadlines, the timeline."""
    state = _read_case(case_id, reason, as_json)
    if as_json:
        print_json(state)
        return
    render.case(state, casework.case_files(case_id, reason) if casework.has_files(state) else None)


@app.command(context_settings={"help_option_names": []})
def decide(
    ctx: typer.Context,
    case_id: Annotated[str | None, typer.Argument()] = None,
    kind: Annotated[str | None, typer.Argument()] = None,
    fields: Annotated[list[str] | None, typer.Argument(help="field=value pairs")] = None,
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
        render.decisions(case_id, _read_case(case_id, reason or "which decisions the case accepts"))
        return
    if kind is None:
        fail(f"Name the decision: `fno decide {case_id} --help` lists those it accepts now.", 2)
    decision: dict[str, Any] = {"kind": kind}
    for pair in fields or []:
        name, sep, value = pair.partition("=")
        if not sep:
            fail(f"{pair!r}: write fields as name=value", AUTH_EXIT)
        decision[name] = {"true": True, "false": False}.get(value.lower(), value)
    answer = call(
        person(),
        "POST",
        _path(case_id, "decisions"),
        json={"reason": reason or "", "decision": decision},
    )
    said = body(answer)
    if answer.status_code == 200 and isinstance(said, dict):
        render.out.print(f"Accepted. Stage: {said.get('stage')}", markup=False)
        return
    if answer.status_code == 409 and isinstance(said, dict) and said.get("why"):
        render.unreadable(said)
    if answer.status_code == 422:
        fail(detail(answer), AUTH_EXIT)
    if answer.status_code == 503:
        fail(detail(answer), NO_ANSWER_EXIT)
    fail(detail(answer))  # 409 refused by the case, 404 no such case


@app.command()
def cases(
    stage: Annotated[
        str | None,
        typer.Option(help="A stage: its words or its code, e.g. LIABLE_TO_DEPORT_WANTED."),
    ] = None,
    outcome: Annotated[str | None, typer.Option(help="Outcome name, e.g. DEPORTED.")] = None,
    nationality: Annotated[str | None, typer.Option(help="ISO code, e.g. PL.")] = None,
    force: Annotated[str | None, typer.Option(help="Force code, e.g. hampshire.")] = None,
    owner: Annotated[str | None, typer.Option(help="Case owner.")] = None,
    kind: Annotated[str | None, typer.Option(help="encounter, casework or notification.")] = None,
    mine: Annotated[
        bool,
        typer.Option(
            "--mine",
            help="My inbox: my tasks, then my team's unassigned ones, overdue and urgent "
            "on top (with another filter: cases awaiting a decision from my role).",
        ),
    ] = False,
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
    ended_within_hours: Annotated[
        float,
        typer.Option(
            min=0,
            help="--stuck: cases terminated, failed or timed out this recently (0: none).",
        ),
    ] = 24 * 7,
    as_json: AsJson = False,
) -> None:
    """List cases (filters, sorted, paginated), or those not moving (--stuck).

    By stage, outcome, nationality, force, owner, awaiting my decision, overdue
    deadline, opened before/after. ``--stuck`` lists the cases that are not moving, with
    the last error and a reason code: also those whose history is past the alert
    (history_large) and those that ended without an outcome (terminated, failed,
    timed_out)."""
    if stuck:
        params: dict[str, Any] = {
            "failing_minutes": failing_minutes,
            "overdue_minutes": overdue_minutes,
            "probe_closed": probe_closed,
            "closed_within_hours": closed_within_hours,
            "ended_within_hours": ended_within_hours,
        }
        rows = _listed(call(person(), "GET", "/stuck-cases", params=params))
        print_json(rows) if as_json else render.stuck(rows)
        return
    if sort not in ("opened", "deadline"):
        fail("--sort must be 'opened' or 'deadline'", AUTH_EXIT)
    filters = (kind, stage, outcome, nationality, force, owner, opened_after, opened_before)
    if mine and not any(filters) and not overdue:  # issue 21: the inbox, task by task
        rows = _listed(call(person(), "GET", "/inbox", params={"limit": page_size * page}))
        print_json(rows) if as_json else render.inbox(rows)
        return
    params = {
        "kind": kind,
        "stage": stage,
        "outcome": outcome,
        "nationality": nationality,
        "force": force,
        "owner": owner,
        "mine": mine,
        "overdue": overdue,
        "running": running,
        "opened_after": _day(opened_after, "--opened-after"),
        "opened_before": _day(opened_before, "--opened-before"),
        "sort": sort,
        "page": page,
        "page_size": page_size,
        "subjects": True,
    }
    rows = _listed(call(person(), "GET", "/cases", params=params))
    print_json(rows) if as_json else render.cases(rows, page)


def _listed(answer: Any) -> list[dict[str, Any]]:
    """A list route's rows, or the command ends with the API's reason."""
    if answer.status_code == 200 and isinstance(rows := body(answer), list):
        return rows
    fail(detail(answer), NO_ANSWER_EXIT if answer.status_code >= 500 else AUTH_EXIT)


@app.command("audit")
def audit_cmd(
    case_id: Annotated[str | None, typer.Argument()] = None,
    of_actor: Annotated[str | None, typer.Option("--actor", help="Entries by this actor.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD).")] = None,
    as_json: AsJson = False,
) -> None:
    """The access log, of a case or by an actor since a date (supervisors).

    Every collection, consultation, alteration, disclosure, decision and erasure."""
    params = {"case_id": case_id, "actor": of_actor, "since": _day(since, "--since")}
    rows = _listed(call(person(), "GET", "/audit", params=params))
    print_json(rows) if as_json else render.audit(rows)


# --- custody events (a system's credential) ---------------------------------------------

INTAKE_STATUS = {201: "started", 200: "already_received", 409: "conflict"}


def parse_events(text: str) -> list[tuple[int, Any]]:
    """(line number, decoded JSON or the decoding error) for a JSON document (an object
    or an array of them) or JSON Lines — as ``starter.py`` reads a file."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = parse_json(stripped)  # bounded: a hostile file is an error, not a crash
        items = whole if isinstance(whole, list) else [whole]
        return [(i + 1, item) for i, item in enumerate(items)]
    except JsonInputError:
        pass
    found: list[tuple[int, Any]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            try:
                found.append((n, parse_json(raw)))
            except JsonInputError as e:
                found.append((n, e))
    return found


@app.command()
def intake(file: str) -> None:
    """Start cases from custody events (JSON or JSON Lines; - for stdin).

    One request to ``POST /custody-events`` each, with a system's credential
    (``FNO_API_CLIENT_KEY``). One result line per event; exit status 1 if any was
    rejected or conflicting, 2 if the credential may not send one of them."""
    api = system()
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text("utf-8")
    except OSError as e:
        fail(f"Cannot read {file}: {e.strerror}", AUTH_EXIT)
    code = 0
    for n, item in parse_events(text):
        if isinstance(item, Exception):
            result = {
                "status": "rejected",
                "case_id": None,
                "detail": f"line {n}: not JSON: {item}",
            }
        else:
            result = _post_event(api, n, item)
        print(json.dumps(result))
        if result["status"] == "refused":
            code = AUTH_EXIT
        elif result["status"] in ("rejected", "conflict") and code == 0:
            code = 1
    raise typer.Exit(code)


def _post_event(api: Any, n: int, item: Any) -> dict[str, Any]:
    answer = call(
        api,
        "POST",
        "/custody-events",
        content=json.dumps(item).encode(),
        content_type="application/json",
        forbidden_ok=True,
    )
    said = body(answer)
    if answer.status_code == 403:
        return {"status": "refused", "case_id": None, "detail": f"line {n}: {detail(answer)}"}
    if answer.status_code in INTAKE_STATUS and isinstance(said, dict):
        status = said.get("status") or INTAKE_STATUS[answer.status_code]
        return {"status": status, "case_id": said.get("case_id"), "detail": said.get("detail")}
    if (
        answer.status_code == 422
        and isinstance(said, dict)
        and isinstance(said.get("detail"), list)
    ):
        why = field_errors(said["detail"])
    else:
        why = detail(answer)
    return {"status": "rejected", "case_id": None, "detail": f"line {n}: {why}"}


# ``fno reopen``, ``note``, ``attach`` (``cli.casework``); ``fno daily-file`` and
# ``fno notifications …`` (``cli.notifications``).
for work in (casework.reopen, casework.note, casework.attach):
    app.command()(work)
app.command("daily-file")(notifications.daily_file)
app.add_typer(notifications.app, name="notifications")


def main() -> None:
    refusal = declared_identity(sys.argv[1:], os.environ)
    if refusal:
        render.err.print(refusal, style="red", markup=False)
        sys.exit(AUTH_EXIT)
    app()


if __name__ == "__main__":
    main()
