"""The cases that are not moving, or cannot be read: a failing step, a deadline passed
unattended, a workflow task no worker takes up or that keeps failing, a history the
current workers cannot replay (``why="cannot_replay"``, running cases from their failing
workflow task, recently closed ones by asking their state), a history growing towards
Temporal's limit (``code="history_large"``: past ``FNO_HISTORY_ALERT_EVENTS`` events,
default 5,000, or ``FNO_HISTORY_ALERT_BYTES``, default 10 MB — a case renews its history
at 2,000 events, and Temporal ends a case at 51,200 or 50 MB), the cases that ended
without an outcome in the last days (``code`` ``terminated``, ``failed`` or
``timed_out``: nothing of them runs any more), and the open alerts of notifications out.

Every row has ``why`` in words and, for those kinds, a reason ``code``.

The doors (the HTTP API, the web app) pass the ``principal``: they list only the cases
it may read (``access.policy``), and the rows of notifications out only to those who
may see them. Without one, the listing is the worker's own periodic scan (no person).

This module puts the listing together (``stuck_cases``) and adds notifications out's
rows; the rows come from ``access.stuck_rows`` (the row, a running case's failing steps
and workflow task, its history size), ``access.stuck_closed`` (recently closed cases
that cannot be read) and ``access.stuck_ended`` (cases ended without an outcome), and
their names can be imported from here too.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from access.errors import CANNOT_REPLAY
from access.kinds import workflow_type
from access.listing import quoted
from access.notifications import reconciliation_health
from access.policy import Capability, case_ref, may, may_read
from access.stuck_closed import (
    SILENT_QUEUE_PAUSE,
    ClosedProbe,
    closed_candidates,
    unreadable_closed_cases,
)
from access.stuck_ended import DEFAULT_ENDED, ENDED_CODES, EndedProbe, ended_cases
from access.stuck_replies import kept_reply_rows
from access.stuck_rows import (
    DEFAULT_FAILING_FOR,
    HISTORY_LARGE,
    HistoryAlert,
    StuckCase,
    failing_steps,
    failing_time,
)
from identity.principal import Principal
from models import search
from models.notification_policy import NotificationPolicy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from store.notifications import NotificationStore
from workflows.reconciliation import NotificationReconciliationWorkflow

__all__ = [
    "DEFAULT_ENDED",
    "DEFAULT_FAILING_FOR",
    "ENDED_CODES",
    "HISTORY_LARGE",
    "SILENT_QUEUE_PAUSE",
    "ClosedProbe",
    "EndedProbe",
    "HistoryAlert",
    "StuckCase",
    "closed_candidates",
    "ended_cases",
    "failing_steps",
    "failing_time",
    "notification_gaps",
    "stuck_cases",
    "unreadable_closed_cases",
]


async def stuck_cases(
    client: Client,
    *,
    now: datetime,
    failing_for: timedelta = DEFAULT_FAILING_FOR,
    overdue_by: timedelta = timedelta(hours=1),
    notifications: NotificationStore | None = None,
    closed: ClosedProbe | None = None,
    principal: Principal | None = None,
    history: HistoryAlert | None = None,
    ended: EndedProbe | None = DEFAULT_ENDED,
) -> list[StuckCase]:
    """Open cases that are not moving: a step in another system failing for longer than
    ``failing_for`` (with its last error), or a deadline passed ``overdue_by`` ago with
    nothing acting on it (for example no worker running), or a case whose history the
    current workers cannot replay (``why="cannot_replay"``, at once: retrying does not
    help). With ``notifications``, also the open alerts of notifications out (a daily
    file missing, incomplete or out of sequence; a conviction not notified) and a
    reconciliation not running. With ``closed``, also the recently closed cases whose
    state cannot be read (``ClosedProbe``: the listings of ``fno``, the HTTP API and the
    web app pass one; the worker's periodic scan does not replay closed cases). A
    running case whose history is past ``history`` (default: ``HistoryAlert.from_env``)
    is listed too, and, with ``ended``, the cases that ended without an outcome. With
    ``principal``, only what it may see (see the module's docstring)."""
    alert = history or HistoryAlert.from_env(os.environ)
    stuck: list[StuckCase] = []
    seen: set[str] = set()
    overdue_query = (
        f"ExecutionStatus = 'Running' AND {search.NEXT_DEADLINE.name} < "
        f"{quoted((now - overdue_by).isoformat())}"
    )
    async for w in client.list_workflows(overdue_query):
        deadline = w.typed_search_attributes.get(search.NEXT_DEADLINE)
        stage = w.typed_search_attributes.get(search.STAGE)
        seen.add(w.id)
        # A case whose history cannot be replayed misses its deadlines too: say why.
        failing = await failing_steps(client, w, now, failing_for, stage, alert)
        stuck.extend(r for r in failing if r.code == HISTORY_LARGE)
        if failing and failing[0].why == CANNOT_REPLAY:
            stuck.append(failing[0])
            continue
        stuck.append(
            StuckCase(
                case_id=w.id,
                stage=stage,
                why=f"deadline passed at {deadline:%Y-%m-%d %H:%M} with nothing acting on it"
                if deadline
                else "deadline passed",
                since=deadline,
            )
        )
    running = f"ExecutionStatus = 'Running' AND {search.CASE_KIND.name} IS NOT NULL"
    async for w in client.list_workflows(running):
        if w.id in seen:
            continue
        seen.add(w.id)
        failing = await failing_steps(
            client, w, now, failing_for, w.typed_search_attributes.get(search.STAGE), alert
        )
        steps = [r for r in failing if r.code != HISTORY_LARGE]
        stuck.extend([*steps[:1], *(r for r in failing if r.code == HISTORY_LARGE)])
    if closed is not None and closed.limit > 0:
        stuck.extend(await unreadable_closed_cases(client, now, closed))
    if ended is not None and ended.limit > 0:
        stuck.extend(await ended_cases(client, now, ended, running=seen, decode=bool(principal)))
    if principal is not None:
        stuck = [s for s in stuck if may_read(principal, case_ref(s.case_id))]
        if not may(principal, Capability.NOTIFICATIONS):
            notifications = None
    if notifications is not None:
        stuck.extend(await notification_gaps(client, notifications, now, failing_for))
        # issue 22: ACRO replies no case took (same case store; same readers).
        stuck.extend(await kept_reply_rows(notifications.engine))
    return stuck


async def notification_gaps(
    client: Client, store: NotificationStore, now: datetime, failing_for: timedelta
) -> list[StuckCase]:
    """The stuck-case rows of notifications out: every open alert, a reconciliation not
    running, and a reconciliation whose step keeps failing."""
    rows = [
        StuckCase(
            case_id=a.notification_id
            or (f"daily-file-{a.file_sequence}" if a.file_sequence is not None else a.alert_key),
            stage=f"Notifications out: {a.kind.replace('_', ' ')}",
            why=a.detail,
            since=a.raised_at,
        )
        for a in await asyncio.to_thread(store.alerts)
    ]
    try:
        health = await reconciliation_health(client, now, NotificationPolicy())
    except RPCError as err:
        health = f"the reconciliation schedule could not be checked: {err.message}"
    if health:
        rows.append(
            StuckCase(
                case_id=RECONCILIATION_SCHEDULE_ID,
                stage="Notifications out: reconciliation",
                why=health,
            )
        )
    reconciling = workflow_type(NotificationReconciliationWorkflow)
    running = f"ExecutionStatus = 'Running' AND WorkflowType = '{reconciling}'"
    async for w in client.list_workflows(running):
        rows.extend(
            await failing_steps(client, w, now, failing_for, "Notifications out: reconciliation")
        )
    return rows
