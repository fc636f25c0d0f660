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
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic as time_now

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingWorkflowTaskState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.client import WorkflowExecution as ListedWorkflow
from temporalio.service import RPCError

from access.diagnosis import failure_message, replay_error_of
from access.errors import CANNOT_REPLAY, QUERY_FAILED, is_replay_failure, safe_error
from access.kinds import kind_of, workflow_type
from access.listing import quoted
from access.notifications import reconciliation_health
from access.policy import Capability, case_ref, may, may_read
from identity.principal import Principal
from models import search
from models.notification_policy import NotificationPolicy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from runtime.logs import get_logger
from store.notifications import NotificationStore
from workflows.base import SYSTEM_RETRY
from workflows.reconciliation import NotificationReconciliationWorkflow

log = get_logger("fno.access")


class StuckCase(BaseModel):
    case_id: str
    stage: str | None
    why: str  # in words, or a reason code: "cannot_replay", "query_failed"
    last_error: str | None = None
    since: datetime | None = None
    closed_at: datetime | None = None  # a closed case that cannot be read, or ended
    code: str | None = None  # the reason code: HISTORY_LARGE, ENDED_CODES, …


DEFAULT_FAILING_FOR = timedelta(minutes=30)

# Reason codes of a history growing towards Temporal's limit, and of a case that ended
# without an outcome (by its execution status).
HISTORY_LARGE = "history_large"
ENDED_CODES = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}
_ENDED_WORDS = {"terminated": "was terminated", "failed": "failed", "timed_out": "timed out"}


@dataclass(frozen=True)
class HistoryAlert:
    """When a running case's history is large enough to say so: ``events`` or ``bytes``
    (``FNO_HISTORY_ALERT_EVENTS``, ``FNO_HISTORY_ALERT_BYTES``). The defaults sit well
    above where a case renews its history (``CasePolicy.continue_as_new_after_events``,
    2,000) and well below where Temporal ends it (51,200 events, 50 MB): a case past
    them is not renewing — a flood of signals or updates, or a case that cannot."""

    events: int = 5_000
    bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HistoryAlert:
        """The thresholds the environment sets (a setting that is not a whole number
        above zero is ignored, with a warning naming it)."""
        return cls(
            events=_positive(env, "FNO_HISTORY_ALERT_EVENTS", cls.events),
            bytes=_positive(env, "FNO_HISTORY_ALERT_BYTES", cls.bytes),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip().replace("_", "")
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        log.warning("setting ignored: not a whole number above zero", setting=name)
        return default
    return int(text)


@dataclass(frozen=True)
class EndedProbe:
    """Which ended cases are listed: those closed within ``within`` as terminated,
    failed or timed out (not those whose ID runs again), at most ``limit``."""

    within: timedelta = timedelta(days=7)
    limit: int = 100


DEFAULT_ENDED = EndedProbe()


@dataclass(frozen=True)
class ClosedProbe:
    """Which closed cases the stuck listing asks the state of, to find those the current
    workers cannot replay: each question is a replay of the case's whole history by a
    worker, so it is bounded — the ``limit`` most recently closed within ``within``, on
    task queues a worker polls, one queue's cases one after the other (a queue whose
    worker does not answer within ``timeout`` is left alone for five minutes)."""

    within: timedelta = timedelta(hours=24)
    limit: int = 20
    timeout: timedelta = timedelta(seconds=5)
    queues_at_once: int = 4


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
    return stuck


async def failing_steps(
    client: Client,
    w: ListedWorkflow,
    now: datetime,
    failing_for: timedelta,
    stage: str | None,
    history: HistoryAlert | None = None,
) -> list[StuckCase]:
    """A stuck entry for each step of the running workflow ``w`` that has been failing
    for at least ``failing_for`` (from its attempt count), with its last error; and one
    when the case's own next step (its workflow task) has waited that long for a worker
    to take it, or keeps failing — a worker outage, or a fault in the workflow code,
    which Temporal retries for ever without a word. With ``history``, last, one
    (``code="history_large"``) when its history is past the alert's thresholds."""
    described = await client.get_workflow_handle(w.id, run_id=w.run_id).describe()
    rows: list[StuckCase] = []
    for act in described.raw_description.pending_activities:
        failing = failing_time(act.attempt)
        if act.attempt < 2 or failing < failing_for:
            continue
        error = (
            await failure_message(client, act.last_failure)
            if act.HasField("last_failure")
            else None
        )
        rows.append(
            StuckCase(
                case_id=w.id,
                stage=stage,
                why=f"{act.activity_type.name} failing for about {failing} (attempt {act.attempt})",
                last_error=error,
                since=now - failing,
            )
        )
    # After the steps (more precise when both): the case's own next step — first of all
    # when its history cannot be replayed, the case's real trouble.
    raw = described.raw_description
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        first = task.original_scheduled_time.ToDatetime(tzinfo=UTC)
        waiting = task.scheduled_time.ToDatetime(tzinfo=UTC)
        replay_error = await replay_error_of(client, w.id, w.run_id) if task.attempt >= 2 else None
        if replay_error is not None:
            rows.insert(
                0,
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=CANNOT_REPLAY,
                    last_error=replay_error,
                    since=first,
                ),
            )
        elif task.attempt >= 2 and now - first >= failing_for:
            rows.append(
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=f"the case's own next step (workflow task) failing since "
                    f"{first:%Y-%m-%d %H:%M} UTC (attempt {task.attempt}): see its history",
                    since=first,
                )
            )
        elif (
            task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
            and now - waiting >= failing_for
        ):
            rows.append(
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=f"no worker has taken up the case's next step since "
                    f"{waiting:%Y-%m-%d %H:%M} UTC (is a worker running on its task queue?)",
                    since=waiting,
                )
            )
    info = raw.workflow_execution_info
    if history is not None and (
        info.history_length >= history.events or info.history_size_bytes >= history.bytes
    ):
        rows.append(
            StuckCase(
                case_id=w.id,
                stage=stage,
                why=f"its history has {info.history_length:,} events "
                f"({info.history_size_bytes / 1024 / 1024:.1f} MB), past the alert at "
                f"{history.events:,} events or {history.bytes / 1024 / 1024:.0f} MB: it "
                f"is not renewing, and Temporal ends a case at its limit (51,200 events, "
                f"50 MB) — look for a flood of signals or updates ({HISTORY_LARGE})",
                code=HISTORY_LARGE,
            )
        )
    return rows


def failing_time(attempt: int) -> timedelta:
    """How long a step has been failing by its attempt number, from the retry schedule
    every step uses (``workflows.base.SYSTEM_RETRY``: the server tells the attempt, not
    when the first one started)."""
    initial = SYSTEM_RETRY.initial_interval.total_seconds()
    cap = SYSTEM_RETRY.maximum_interval.total_seconds() if SYSTEM_RETRY.maximum_interval else 0
    waited = 0.0
    for n in range(attempt - 1):
        step = initial * SYSTEM_RETRY.backoff_coefficient**n
        waited += min(step, cap) if cap else step
    return timedelta(seconds=waited)


async def ended_cases(
    client: Client, now: datetime, probe: EndedProbe, *, running: set[str], decode: bool
) -> list[StuckCase]:
    """The cases that ended without an outcome within ``probe.within`` (terminated,
    failed, timed out), the newest first, less those whose ID runs again (``running``):
    a row each, with the reason code and, as the last error, the termination's reason or
    the failure's first line (decrypted only when ``decode``: a person's listing)."""
    since = quoted((now - probe.within).isoformat())
    query = (
        f"{search.CASE_KIND.name} IS NOT NULL AND CloseTime >= {since} AND "
        "(ExecutionStatus = 'Terminated' OR ExecutionStatus = 'Failed' "
        "OR ExecutionStatus = 'TimedOut')"
    )
    try:
        found = [w async for w in client.list_workflows(query, limit=probe.limit * 2)]
    except RPCError:
        return []  # a visibility store that cannot filter so: nothing to say
    far = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda w: w.close_time or far, reverse=True)
    chosen: list[tuple[ListedWorkflow, str]] = []
    for w in found:
        code = ENDED_CODES.get(w.status) if w.status is not None else None
        if code is None or w.id in running or w.id in {c.id for c, _ in chosen}:
            continue
        chosen.append((w, code))
        if len(chosen) >= probe.limit:
            break
    at_once = asyncio.Semaphore(8)

    async def row(w: ListedWorkflow, code: str) -> StuckCase:
        async with at_once:
            how = await _how_it_ended(client, w, decode)
        closed = w.close_time
        at = f" at {closed.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if closed else ""
        return StuckCase(
            case_id=w.id,
            stage=w.typed_search_attributes.get(search.STAGE),
            why=f"the case {_ENDED_WORDS[code]}{at} without an outcome: nothing of it "
            f"runs any more; see its history ({code})",
            last_error=how,
            closed_at=closed,
            code=code,
        )

    return list(await asyncio.gather(*(row(w, code) for w, code in chosen)))


async def _how_it_ended(client: Client, w: ListedWorkflow, decode: bool) -> str | None:
    """The reason of a termination (the server's, e.g. its history limit, or an
    operator's), or the failure's first line, from the history's last event."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=w.id, run_id=w.run_id or ""),
        maximum_page_size=1,
    )
    try:
        answer = await client.workflow_service.get_workflow_execution_history_reverse(request)
    except RPCError:
        return None
    for event in answer.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return safe_error(event.workflow_execution_terminated_event_attributes.reason)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            message = await failure_message(client, failure) if decode else failure.message
            return safe_error(message) or None
    return None


async def closed_candidates(
    client: Client, now: datetime, probe: ClosedProbe
) -> list[ListedWorkflow]:
    """The closed cases ``probe`` looks at: the most recently closed first."""
    query = (
        f"ExecutionStatus != 'Running' AND CloseTime >= "
        f"{quoted((now - probe.within).isoformat())} AND {search.CASE_KIND.name} IS NOT NULL"
    )
    found = [w async for w in client.list_workflows(query, limit=probe.limit)]
    far = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda w: w.close_time or far, reverse=True)
    return found[: probe.limit]


async def _polled(client: Client, task_queue: str, now: datetime) -> bool:
    """Whether a worker has polled the task queue in the last two minutes (an idle
    worker's long poll lasts about one): else asking would only wait for nobody."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        described = await client.workflow_service.describe_task_queue(request)
    except RPCError:
        return True  # cannot tell (a server without it): ask, within the timeout
    recent = now.astimezone(UTC) - timedelta(minutes=2)
    return any(p.last_access_time.ToDatetime(tzinfo=UTC) >= recent for p in described.pollers)


# Task queues where a closed case's state query found no worker answering, until when
# (``time.monotonic``): the next scans do not wait on them again.
_silent_queues: dict[str, float] = {}
SILENT_QUEUE_PAUSE = 300.0


async def unreadable_closed_cases(
    client: Client, now: datetime, probe: ClosedProbe
) -> list[StuckCase]:
    """The recently closed cases (``probe``) whose state query fails: a row each, with
    the reason code and the error's first line."""
    try:
        candidates = await closed_candidates(client, now, probe)
    except RPCError:
        return []  # a visibility store that cannot filter so: nothing to say
    by_queue: dict[str, list[ListedWorkflow]] = {}
    for w in candidates:
        by_queue.setdefault(w.task_queue, []).append(w)
    at_once = asyncio.Semaphore(max(probe.queues_at_once, 1))

    async def ask(queue: str, workflows: list[ListedWorkflow]) -> list[StuckCase]:
        rows: list[StuckCase] = []
        async with at_once:
            if _silent_queues.get(queue, 0.0) > time_now() or not await _polled(client, queue, now):
                return rows
            for w in workflows:
                handle = client.get_workflow_handle(w.id, run_id=w.run_id)
                try:  # by name, the answer undecoded into a model: only whether it comes
                    await handle.query(kind_of(w.id).state_query_name, rpc_timeout=probe.timeout)
                except WorkflowQueryFailedError as err:
                    rows.append(
                        StuckCase(
                            case_id=w.id,
                            stage=w.typed_search_attributes.get(search.STAGE),
                            why=CANNOT_REPLAY if is_replay_failure(err.message) else QUERY_FAILED,
                            last_error=safe_error(err.message),
                            closed_at=w.close_time,
                        )
                    )
                except RPCError:
                    # No worker answered on this queue (one stopped within the last
                    # minutes still looks polled): leave the queue alone for a while.
                    _silent_queues[queue] = time_now() + SILENT_QUEUE_PAUSE
                    break
                except Exception:  # e.g. a payload under a key this process lacks
                    continue  # not this case's trouble: nothing to list
        return rows

    found = await asyncio.gather(*(ask(q, ws) for q, ws in by_queue.items()))
    return [row for rows in found for row in rows]


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
