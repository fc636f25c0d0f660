"""``fno daily-file`` and ``fno notifications``: notifications out from the terminal,
through the API (``cli.client``).

    fno daily-file FILE...                 send PNC daily activity files (a system key:
                                           FNO_API_CLIENT_KEY), one result line each
    fno notifications summary              sent, acknowledged, overdue… by EU state
    fno notifications list [--country PL] [--status overdue]
    fno notifications files                the daily files received
    fno notifications alerts [--all]       gaps the reconciliation found
    fno notifications accept ID --reason   a senior caseworker accepts an alert
    fno notifications reconcile            run the reconciliation now (its Schedule):
                                           an operator's task, straight to Temporal

Nothing here shows personal data: notifications are listed by ID (an HMAC of the
conviction), state and dates; ``fno show <notification id> --reason …`` reads one.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from cli.client import body, call, detail, person, system
from cli.render import (
    AUTH_EXIT,
    NO_ANSWER_EXIT,
    REFUSED_EXIT,
    at,
    fail,
    out,
    print_json,
    row,
    when,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Notifications out: UK convictions of EU nationals to their home states.",
)
AsJson = Annotated[bool, typer.Option("--json", help="Print the same as JSON.")]
STATUSES = (
    "not_started",
    "sending",
    "awaiting_ack",
    "acknowledged",
    "escalated",
    "overdue",
    "closed",
)
DAILY_FILE_STATUS = {201, 200, 409}  # taken (or completed), the same again, conflicting


def _get(path: str, **params: Any) -> Any:
    """A read of notifications out as the signed-in person; ends on anything but 200."""
    answer = call(person(), "GET", path, params=params)
    said = body(answer)
    if answer.status_code == 200 and said is not None:
        return said
    fail(detail(answer), NO_ANSWER_EXIT if answer.status_code >= 500 else AUTH_EXIT)


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as e:
        fail(f"Cannot read {path}: {e.strerror}", AUTH_EXIT)


def _sequence_of(raw: bytes) -> int:
    """The header's sequence, to send several files in order (unreadable: last)."""
    try:
        return int(json.loads(raw.split(b"\n", 1)[0])["sequence"])
    except (ValueError, KeyError, TypeError):
        return sys.maxsize


def daily_file(
    files: Annotated[list[str], typer.Argument(help="Daily activity files (- for stdin).")],
) -> None:
    """Send PNC daily activity files (JSON Lines, header first).

    To ``POST /daily-files`` with the feed's credential (``FNO_API_CLIENT_KEY``); see
    models/notification.py. One notification per conviction and EU state of
    nationality, each file recorded once. One result line per file; exit status 1 if a
    file was refused, conflicted with one already taken, or was incomplete; 2 if the
    credential may not send daily files."""
    api = system()
    contents = [(path, _read(path)) for path in files]
    contents.sort(key=lambda item: _sequence_of(item[1]))
    code = 0
    for path, raw in contents:
        answer = call(
            api,
            "POST",
            "/daily-files",
            content=raw,
            content_type="application/x-ndjson",
            forbidden_ok=True,
        )
        said = body(answer)
        if answer.status_code in DAILY_FILE_STATUS and isinstance(said, dict) and "status" in said:
            result = {"file": path, **said}
        else:
            status = "forbidden" if answer.status_code == 403 else "refused"
            result = {"file": path, "status": status, "detail": detail(answer)}
        print(json.dumps(result))
        if result["status"] == "forbidden":
            code = AUTH_EXIT
        elif code == 0 and (
            result["status"] in ("refused", "conflict") or not result.get("complete")
        ):
            code = 1
    raise typer.Exit(code)


@app.command()
def summary(as_json: AsJson = False) -> None:
    """Notifications by EU state; files and open alerts.

    Sent, acknowledged, awaiting acknowledgement, escalated, overdue (not sent within
    28 days), sent late."""
    s = _get("/notifications/summary")
    if as_json:
        print_json(s)
        return
    columns = (
        "notifications",
        "sending",
        "sent",
        "awaiting_ack",
        "acknowledged",
        "escalated",
        "overdue",
        "sent_late",
        "closed_otherwise",
        "not_started",
    )
    table = Table(
        "state",
        "total",
        "sending",
        "sent",
        "awaiting ack",
        "acknowledged",
        "escalated",
        "overdue",
        "sent late",
        "closed otherwise",
        "not started",
    )
    for c in [*s.get("by_country", []), s.get("total", {})]:
        country = c.get("country", "*")
        row(table, "all" if country == "*" else country, *(c.get(k, 0) for k in columns))
    out.print(table)
    sequence = s.get("last_file_sequence")
    last = f"{sequence} ({s.get('last_file_date')})" if sequence else "none"
    out.print(
        f"daily files received: {s.get('files_received')} (incomplete: "
        f"{s.get('files_incomplete')}; latest {last}); open alerts: {s.get('open_alerts')}",
        markup=False,
    )


@app.command("list")
def list_cmd(
    country: Annotated[str | None, typer.Option(help="EU state, e.g. PL.")] = None,
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES))] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: AsJson = False,
) -> None:
    """Notifications, newest first (IDs, states and dates: no personal data)."""
    if status is not None and status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}", AUTH_EXIT)
    rows = _get("/notifications", country=country, status=status, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table(
        "notification",
        "state",
        "file",
        "recorded",
        "due by (UK)",
        "sent",
        "acknowledged",
        "outcome",
    )
    for r in rows:
        row(
            table,
            r["notification_id"],
            r.get("country", ""),
            str(r.get("file_sequence", "")),
            when(r.get("recorded_at"), "%Y-%m-%d"),
            last_uk_day(r.get("due_at")),
            when(r.get("sent_at")),
            when(r.get("acknowledged_at")),
            r.get("outcome") or "",
        )
    out.print(table)
    out.print(f"{len(rows)} notification(s)", markup=False)


@app.command()
def files(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 30, as_json: AsJson = False
) -> None:
    """The daily activity files received, newest first: sequence, date, records, digest."""
    rows = _get("/daily-files", limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table(
        "sequence",
        "date",
        "declared",
        "read",
        "rejected",
        "convictions",
        "notifications",
        "complete",
        "received",
        "digest",
    )
    for f in rows:
        row(
            table,
            str(f.get("sequence")),
            str(f.get("file_date")),
            str(f.get("declared_count")),
            str(f.get("records_ingested")),
            str(f.get("rejected")),
            str(f.get("convictions")),
            str(f.get("notifications")),
            "yes" if f.get("complete") else "NO",
            when(f.get("first_received_at")),
            str(f.get("digest", ""))[:12],
        )
    out.print(table)


@app.command()
def alerts(
    include_resolved: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    as_json: AsJson = False,
) -> None:
    """Gaps found by the reconciliation or the intake.

    Files missing, incomplete or out of sequence; convictions without a notification in
    flight or sent."""
    rows = _get("/notification-alerts", all=include_resolved)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "raised", "detail", "resolved")
    for a in rows:
        resolved = (
            f"{when(a['resolved_at'])} by {a.get('resolved_by')}" if a.get("resolved_at") else ""
        )
        row(
            table,
            a["id"],
            a.get("kind", ""),
            when(a.get("raised_at")),
            a.get("detail", ""),
            resolved,
        )
    out.print(table)
    out.print(f"{len(rows)} alert(s)", markup=False)


@app.command()
def accept(
    alert_id: int,
    reason: Annotated[str, typer.Option("--reason", help="Why (it is logged).")] = "",
) -> None:
    """Accept an open alert (senior caseworkers and the Director).

    E.g. the PNC confirms it has no file for that day: it is not raised again, and no
    more re-sends are asked. Your token says who you are; recorded in the access log."""
    if len(reason.strip()) < 3:
        fail("Say why (--reason): accepting an alert is recorded with its justification.", 2)
    answer = call(person(), "POST", f"/notification-alerts/{alert_id}/accept", reason=reason)
    if answer.status_code == 200:
        out.print(f"Alert {alert_id} accepted.", markup=False)
        return
    if answer.status_code == 422:
        fail(detail(answer), AUTH_EXIT)
    fail(detail(answer), NO_ANSWER_EXIT if answer.status_code >= 500 else REFUSED_EXIT)


@app.command()
def reconcile() -> None:
    """Run the reconciliation now (operators: straight to Temporal, not the API).

    Triggers its Schedule; the worker runs it. It talks to Temporal directly, with the
    worker's connection settings and keys (TEMPORAL_*, FNO_*)."""
    # Imported here: only this operator's task uses the Temporal SDK; the rest of fno
    # (and ``fno --help``) speaks HTTP and must not load it.
    from cli.direct import trigger_reconciliation

    trigger_reconciliation()


def last_uk_day(due_at: Any) -> str:
    """The last UK day to notify: the deadline is the start of the next UK day."""
    moment = at(due_at)
    if moment is None:
        return ""
    return f"{(moment - timedelta(microseconds=1)).astimezone(ZoneInfo('Europe/London')):%Y-%m-%d}"
