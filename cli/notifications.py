"""``fno daily-file`` and ``fno notifications``: notifications out from the terminal.

    fno daily-file FILE...                 take PNC daily activity files (one line each)
    fno notifications summary              sent, acknowledged, overdue… by EU state
    fno notifications list [--country PL] [--status overdue]
    fno notifications files                the daily files received
    fno notifications alerts [--all]       gaps the reconciliation found
    fno notifications accept ID --reason   a senior caseworker accepts an alert
    fno notifications reconcile            run the reconciliation now (its Schedule)

Nothing here shows personal data: notifications are listed by ID (an HMAC of the
conviction), state and dates; ``fno show <notification id> --reason …`` reads one.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.table import Table

from access.notifications import AlertRow, ingest_daily_file, notification_summary
from models.daily_file import DailyFileError
from models.notification_policy import notification_policy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from runtime.config import Settings, connect
from runtime.logs import configure_logging
from store.cases import CaseStore
from store.notification_reports import NotificationStatus
from store.notifications import NotificationStore

app = typer.Typer(
    no_args_is_help=True,
    help="Notifications out: UK convictions of EU nationals to their home states.",
)
out = Console()
err = Console(stderr=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print the same as JSON.")]
ACCEPT_ROLES = ("senior_caseworker", "director")
STATUSES = (
    "not_started",
    "sending",
    "awaiting_ack",
    "acknowledged",
    "escalated",
    "overdue",
    "closed",
)


def _store() -> NotificationStore:
    return NotificationStore(CaseStore.current(Settings.from_env().database_url).engine)


def _print_json(rows: Any) -> None:
    print(json.dumps(rows, indent=2, default=str))


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _sequence_of(raw: bytes) -> int:
    """The header's sequence, to take several files in order (unreadable: last)."""
    try:
        return int(json.loads(raw.split(b"\n", 1)[0])["sequence"])
    except (ValueError, KeyError, TypeError):
        return sys.maxsize


def daily_file(
    files: Annotated[list[str], typer.Argument(help="Daily activity files (- for stdin).")],
) -> None:
    """Take PNC daily activity files (JSON Lines, header first — see
    models/notification.py): one notification per conviction and EU state of
    nationality, each file recorded once. One result line per file; exit status 1 if a
    file was refused, conflicted with one already taken, or was incomplete."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    store = NotificationStore(CaseStore.current(settings.database_url).engine)
    contents = [(path, _read(path)) for path in files]
    contents.sort(key=lambda item: _sequence_of(item[1]))

    async def go() -> list[dict[str, Any]]:
        client = await connect()
        results: list[dict[str, Any]] = []
        for path, raw in contents:
            try:
                report = await ingest_daily_file(
                    client,
                    store,
                    raw,
                    task_queue=settings.task_queue,
                    policy=notification_policy(settings.policy),
                    secret=settings.subject_key_secret,
                    source=f"fno daily-file {Path(path).name}",
                )
            except DailyFileError as e:
                results.append({"file": path, "status": "refused", "detail": str(e)})
                continue
            results.append({"file": path, **report.model_dump(mode="json")})
        return results

    results = asyncio.run(go())
    for r in results:
        print(json.dumps(r))
    bad = [r for r in results if r["status"] in ("refused", "conflict") or not r.get("complete")]
    raise typer.Exit(1 if bad else 0)


@app.command()
def summary(as_json: AsJson = False) -> None:
    """Notifications by EU state: sent, acknowledged, awaiting acknowledgement,
    escalated, overdue (not sent within 28 days), sent late; files and open alerts."""
    s = notification_summary(_store(), datetime.now(UTC))  # stop-gap (h3): h4 calls the API
    if as_json:
        print(s.model_dump_json(indent=2))
        return
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
    for c in [*s.by_country, s.total]:
        table.add_row(
            "all" if c.country == "*" else c.country,
            *map(
                str,
                (
                    c.notifications,
                    c.sending,
                    c.sent,
                    c.awaiting_ack,
                    c.acknowledged,
                    c.escalated,
                    c.overdue,
                    c.sent_late,
                    c.closed_otherwise,
                    c.not_started,
                ),
            ),
        )
    out.print(table)
    last = f"{s.last_file_sequence} ({s.last_file_date})" if s.last_file_sequence else "none"
    out.print(
        f"daily files received: {s.files_received} (incomplete: {s.files_incomplete}; "
        f"latest {last}); open alerts: {s.open_alerts}"
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
        err.print(f"--status must be one of {', '.join(STATUSES)}", style="red")
        raise typer.Exit(2)
    rows = _store().notifications(
        now=datetime.now(UTC), country=country, status=cast(NotificationStatus, status), limit=limit
    )
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table(
        "notification", "state", "file", "recorded", "due", "sent", "acknowledged", "outcome"
    )
    for r in rows:
        table.add_row(
            r.notification_id,
            r.country,
            str(r.file_sequence),
            f"{r.recorded_at:%Y-%m-%d}",
            f"{r.due_at:%Y-%m-%d}",
            f"{r.sent_at:%Y-%m-%d %H:%M}" if r.sent_at else "",
            f"{r.acknowledged_at:%Y-%m-%d %H:%M}" if r.acknowledged_at else "",
            r.outcome or "",
        )
    out.print(table)
    out.print(f"{len(rows)} notification(s)")


@app.command()
def files(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 30, as_json: AsJson = False
) -> None:
    """The daily activity files received, newest first: sequence, date, records, digest."""
    rows = _store().files(limit)
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
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
        table.add_row(
            str(f.sequence),
            f.file_date.isoformat(),
            str(f.declared_count),
            str(f.records_ingested),
            str(f.rejected),
            str(f.convictions),
            str(f.notifications),
            "yes" if f.complete else "NO",
            f"{f.first_received_at:%Y-%m-%d %H:%M}",
            f.digest[:12],
        )
    out.print(table)


@app.command()
def alerts(
    include_resolved: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    as_json: AsJson = False,
) -> None:
    """Gaps found by the reconciliation or the intake: files missing, incomplete or out
    of sequence; convictions without a notification in flight or sent."""
    rows = [AlertRow.of(a) for a in _store().alerts(include_resolved=include_resolved)]
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("id", "kind", "raised", "detail", "resolved")
    for a in rows:
        resolved = f"{a.resolved_at:%Y-%m-%d %H:%M} by {a.resolved_by}" if a.resolved_at else ""
        table.add_row(str(a.id), a.kind, f"{a.raised_at:%Y-%m-%d %H:%M}", a.detail, resolved)
    out.print(table)
    out.print(f"{len(rows)} alert(s)")


@app.command()
def accept(
    alert_id: int,
    actor: Annotated[str, typer.Option("--as", envvar="FNO_ACTOR", help="Your name.")] = "",
    role: Annotated[str, typer.Option("--role", envvar="FNO_ROLE", help="Your role.")] = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (it is logged).")] = "",
) -> None:
    """Accept an open alert (e.g. the PNC confirms it has no file for that day): it is
    not raised again, and no more re-sends are asked. Senior caseworkers and the
    Director; recorded in the access log."""
    if role not in ACCEPT_ROLES:
        err.print(f"Refused: only a {' or '.join(ACCEPT_ROLES)} may accept an alert.", style="red")
        raise typer.Exit(1)
    if not actor or len(reason.strip()) < 3:
        err.print("Say who you are (--as) and why (--reason).", style="red")
        raise typer.Exit(2)
    try:
        _store().accept_alert(alert_id, actor=actor, role=role, reason=reason, at=datetime.now(UTC))
    except (KeyError, ValueError) as e:
        err.print(str(e), style="red", markup=False)
        raise typer.Exit(1) from None
    out.print(f"Alert {alert_id} accepted.")


@app.command()
def reconcile() -> None:
    """Run the reconciliation now (triggers its Schedule; the worker runs it)."""

    async def go() -> None:
        await (await connect()).get_schedule_handle(RECONCILIATION_SCHEDULE_ID).trigger()

    try:
        asyncio.run(go())
    except Exception as e:
        err.print(f"Could not trigger the reconciliation: {e}", style="red", markup=False)
        raise typer.Exit(1) from None
    out.print("Reconciliation triggered: see `fno notifications alerts` in a moment.")
