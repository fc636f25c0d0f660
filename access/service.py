"""The operations people perform on cases, with the access log.

- ``read_case``: a case's state and timeline; needs a stated purpose, and the read
  is logged as a *consultation* (Data Protection Act 2018 s.62).
- ``send_decision``: a decision as the ``decide`` update; the refusal comes back as
  ``DecisionRefused`` with the workflow's reason.
- ``audit``: the access log of a case, or of an actor since a date — supervisors only.
- ``stuck_cases``: the cases that are not moving, or cannot be read: a failing step, a
  deadline passed unattended, a workflow task no worker takes up or that keeps failing,
  a history the current workers cannot replay (``why="cannot_replay"``, running cases
  from their failing workflow task, recently closed ones by asking their state).

A case whose state query fails (its history cannot be replayed by the current workers,
or the query itself fails) raises ``CaseUnreadable`` with a reason code, the error's
first line, whether the case is listed as stuck and what an operator should do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic as time_now
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    PendingWorkflowTaskState,
    TaskQueueType,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.client import WorkflowExecution as ListedWorkflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from models.case import CaseworkState, EncounterState, is_casework_id
from models.decisions import DecisionRefusal, DecisionRequest, DecisionResult
from models.notification import NotificationState, is_notification_id
from store.cases import AccessLogEntry, CaseStore
from store.notifications import NotificationStore
from workflows.activation_order import DEFERRED
from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow
from workflows.notification import NotificationWorkflow

if TYPE_CHECKING:
    from access.notifications import NotificationSummary

AUDIT_ROLES = ("supervisor", "director")


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day``, local time: the meaning of a date filter."""
    return datetime.combine(day, time.min).astimezone()


class AccessRefused(Exception):
    """The request lacks what the law or policy needs (a purpose, a role)."""


class CaseNotFound(Exception):
    pass


class DecisionRefused(Exception):
    """The case refused the decision; the message is the workflow's reason."""


class Reader(BaseModel):
    actor: str
    role: str
    reason: str | None


def _require_reason(reader: Reader) -> str:
    if not reader.reason or not reader.reason.strip():
        raise AccessRefused(
            "State the purpose of this read: reading a case is logged with its "
            "justification (--reason, the X-Reason header, or FNO_REASON)."
        )
    return reader.reason.strip()


# Reason codes of a case that cannot be read (``CaseUnreadable.why``, ``StuckCase.why``).
CANNOT_REPLAY = "cannot_replay"  # its history cannot be replayed by the current workers
QUERY_FAILED = "query_failed"  # the state query failed for another reason

# What an operator does about a case whose history the workers cannot replay.
REPLAY_ACTION = (
    "Nothing is lost: the case's history is intact in Temporal. Run workers whose workflow "
    "code replays it — roll back the change that broke it, or put the change behind "
    "workflow.patched (README: 'Changing workflow code under running cases'); a running "
    "case then carries on by itself. Its error is in 'fno cases --stuck' and in its "
    "history in the Temporal Web UI."
)
QUERY_ACTION = (
    "The case's state query failed: see the error in 'fno cases --stuck' and the case's "
    "history in the Temporal Web UI, and fix the workflow code."
)


# A decision a case defers is sent again this many times (about 4 s in all).
DEFER_ATTEMPTS = 8


class CaseUnreadable(Exception):
    """The case exists but its state cannot be read now: ``why`` is a reason code
    (``cannot_replay``, ``query_failed``), ``error`` the error's first line (no payload
    data), ``listed_as_stuck`` whether the stuck listing shows the case."""

    def __init__(
        self,
        case_id: str,
        why: str,
        error: str,
        *,
        closed_at: datetime | None,
        listed_as_stuck: bool,
    ) -> None:
        self.case_id = case_id
        self.why = why
        self.error = error
        self.closed_at = closed_at
        self.listed_as_stuck = listed_as_stuck
        super().__init__(self.detail)

    @property
    def action(self) -> str:
        return REPLAY_ACTION if self.why == CANNOT_REPLAY else QUERY_ACTION

    @property
    def detail(self) -> str:
        cause = (
            "its history cannot be replayed by the current workers (their workflow code "
            "no longer matches what the case did)"
            if self.why == CANNOT_REPLAY
            else "its state query failed"
        )
        if self.listed_as_stuck:
            listed = "It is listed as stuck (fno cases --stuck, GET /stuck-cases)."
        elif self.closed_at is None:
            listed = (
                "It will be listed as stuck when its next step runs and fails (a timer "
                "firing, a decision or a reply arriving)."
            )
        else:
            listed = (
                "It is not among the recently closed cases the stuck listing asks about "
                "by default: list it with fno cases --stuck --closed-within-hours H "
                "--probe-closed N."
            )
        return f"Case {self.case_id} cannot be read right now: {cause}. {listed} {self.action}"

    def as_dict(self) -> dict[str, Any]:
        """The structured answer (HTTP body, ``fno show --json``)."""
        return {
            "detail": self.detail,
            "case_id": self.case_id,
            "why": self.why,
            "error": self.error,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "listed_as_stuck": self.listed_as_stuck,
            "action": self.action,
        }


_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


def _state_query(case_id: str) -> Any:
    """The ``state`` query of the case's kind, by its ID."""
    return (
        CriminalCaseworkWorkflow.state
        if is_casework_id(case_id)
        else NotificationWorkflow.state
        if is_notification_id(case_id)
        else EncounterWorkflow.state
    )


# Temporal's nondeterminism error ([TMPRL1100], from the SDK's core) and the Python
# SDK's own NondeterminismError: the workers' code cannot replay the history.
_REPLAY_MARKERS = ("[TMPRL1100]", "nondeterminism", "nondeterministic")


def is_replay_failure(message: str) -> bool:
    lowered = message.lower()
    return any(marker.lower() in lowered for marker in _REPLAY_MARKERS)


def safe_error(message: str, limit: int = 300) -> str:
    """An error's first line, at most ``limit`` characters, cut before anything that
    could carry payload data: what may be listed and logged. (Temporal's replay errors
    name history events and command types, never their payloads; other messages of the
    product's workflows are encrypted — "Encoded failure" — unless decoded.)"""
    lines = message.strip().splitlines()
    first = lines[0].strip() if lines else ""
    lowered = first.lower()
    cuts = [at for word in ("payload", "data:", "metadata") if (at := lowered.find(word)) >= 0]
    if cuts:
        first = first[: min(cuts)].rstrip() + " …"
    return first if len(first) <= limit else first[: limit - 1] + "…"


async def read_case(
    client: Client, store: CaseStore, case_id: str, reader: Reader
) -> EncounterState | CaseworkState | NotificationState:
    """The case's whole state; the consultation is logged once the state is read, with
    its purpose. A read that reads nothing (no such case, a case that cannot be read
    now: ``CaseUnreadable``) is not a consultation and is not logged."""
    reason = _require_reason(reader)
    handle = client.get_workflow_handle(case_id)
    # A running case whose workflow task cannot be replayed answers no query (the query
    # waits for that task, which never completes, and times out): say so at once.
    await _raise_if_cannot_replay(client, case_id)
    try:
        state = await handle.query(_state_query(case_id))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(f"no case {case_id!r}") from None
        await _raise_if_cannot_replay(client, case_id)  # its task began failing meanwhile
        raise
    except WorkflowQueryFailedError as err:
        raise await _unreadable(client, case_id, err.message) from None
    store.log(
        actor=reader.actor,
        role=reader.role,
        action="consultation",
        case_id=case_id,
        justification=reason,
    )
    return state  # type: ignore[no-any-return]


async def _describe(client: Client, case_id: str) -> DescribeWorkflowExecutionResponse:
    """The case's execution as the server describes it (undecoded: no payloads, no
    search attributes parsed); ``CaseNotFound`` when there is no such case."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    try:
        return await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(f"no case {case_id!r}") from None
        raise


async def _running_replay_error(
    client: Client, described: DescribeWorkflowExecutionResponse
) -> str | None:
    """The replay error of a running case whose workflow task keeps failing because its
    history cannot be replayed (the stuck listing shows it at once), else None."""
    info = described.workflow_execution_info
    running = info.status == _RUNNING
    if not running or described.pending_workflow_task.attempt < 2:
        return None
    return await _replay_error(client, info.execution.workflow_id, info.execution.run_id)


async def _raise_if_cannot_replay(client: Client, case_id: str) -> None:
    """``CaseUnreadable`` when the running case cannot be replayed (see above)."""
    error = await _running_replay_error(client, await _describe(client, case_id))
    if error is not None:
        raise CaseUnreadable(case_id, CANNOT_REPLAY, error, closed_at=None, listed_as_stuck=True)


async def _unreadable(client: Client, case_id: str, message: str) -> CaseUnreadable:
    """Why the case's state query failed, and whether the stuck listing shows the case
    (by the listing's own rules: its failing workflow task while it runs, the default
    look at recently closed cases once closed)."""
    why = CANNOT_REPLAY if is_replay_failure(message) else QUERY_FAILED
    listed = False
    closed_at: datetime | None = None
    try:
        described = await _describe(client, case_id)
        info = described.workflow_execution_info
        if info.status == _RUNNING:
            listed = await _running_replay_error(client, described) is not None
        else:
            if info.HasField("close_time"):
                closed_at = info.close_time.ToDatetime(tzinfo=UTC)
            candidates = await _closed_candidates(client, datetime.now(UTC), ClosedProbe())
            listed = case_id in {w.id for w in candidates}
    except (RPCError, CaseNotFound):
        pass  # the answer stays: the case cannot be read
    return CaseUnreadable(
        case_id, why, safe_error(message), closed_at=closed_at, listed_as_stuck=listed
    )


async def send_decision(client: Client, case_id: str, req: DecisionRequest) -> DecisionResult:
    # A case whose history no worker can replay would hold the update until it times
    # out: say so at once (CaseUnreadable), the decision unsent.
    await _raise_if_cannot_replay(client, case_id)
    handle = client.get_workflow_handle(case_id)
    try:
        return await _decide_when_not_deferred(handle, req)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        # A refusal leaves the case unchanged but goes on its timeline.
        try:
            await handle.signal(
                "decision_refused",
                DecisionRefusal(
                    actor=req.actor, role=req.role, kind=req.decision.kind, reason=message
                ),
            )
        except RPCError:
            pass  # the case has just closed: the refusal is still returned
        raise DecisionRefused(message) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            if await _exists(client, case_id):  # it has finished: the case is closed
                raise DecisionRefused(
                    "Refused: the case is closed; no decision is expected."
                ) from None
            raise CaseNotFound(f"no case {case_id!r}") from None
        raise


async def _decide_when_not_deferred(handle: Any, req: DecisionRequest) -> DecisionResult:
    """Send the decision; a case that defers it (it arrived in a workflow task with
    other events: ``workflows.activation_order``) takes it when sent again, moments
    later. After ``DEFER_ATTEMPTS`` deferrals the last one is the answer."""
    for attempt in range(DEFER_ATTEMPTS):
        try:
            result: DecisionResult = await handle.execute_update(
                "decide", req, result_type=DecisionResult
            )
            return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            deferred = isinstance(cause, ApplicationError) and cause.type == DEFERRED
            if not deferred or attempt == DEFER_ATTEMPTS - 1:
                raise
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
    raise AssertionError("unreachable")


async def _exists(client: Client, case_id: str) -> bool:
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=case_id)
    )
    try:
        await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def audit(
    store: CaseStore,
    reader: Reader,
    *,
    case_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> list[AccessLogEntry]:
    """The access log, for supervisors: by case, or by actor since a date."""
    if reader.role not in AUDIT_ROLES:
        raise AccessRefused(
            f"Only a supervisor may read the access log (you are acting as {reader.role})."
        )
    if case_id is None and actor is None:
        raise AccessRefused("Name a case, or an actor (with --since), to audit.")
    return store.access_log(case_id, actor=actor, since=since)


class CaseFilter(BaseModel):
    """What ``fno cases`` and ``GET /cases`` filter on: search attributes only, so no
    personal data is needed (or possible) in a filter."""

    kind: str | None = None
    stage: str | None = None
    outcome: str | None = None
    nationality: str | None = None
    force: str | None = None
    owner: str | None = None
    awaiting_role: str | None = None
    overdue: bool = False
    opened_after: datetime | None = None
    opened_before: datetime | None = None
    running_only: bool = False


class CaseRow(BaseModel):
    case_id: str
    kind: str | None
    status: str
    stage: str | None
    outcome: str | None
    nationality: str | None
    force: str | None
    owner: str | None
    awaiting_roles: list[str]
    next_deadline: datetime | None
    opened_at: datetime
    closed_at: datetime | None = None


def _quoted(value: str) -> str:
    if "'" in value or "\\" in value:
        raise AccessRefused(f"filter value {value!r} may not contain quotes or backslashes")
    return f"'{value}'"


def visibility_query(f: CaseFilter, now: datetime) -> str:
    """The Temporal visibility query for a filter (values are quoted, never spliced)."""
    from models import search

    clauses: list[str] = []
    keyed: list[tuple[SearchAttributeKey[Any], str | None]] = [
        (search.CASE_KIND, f.kind),
        (search.STAGE, f.stage),
        (search.OUTCOME, f.outcome),
        (search.NATIONALITY, f.nationality),
        (search.FORCE, f.force),
        (search.CASE_OWNER, f.owner),
        (search.AWAITING_ROLE, f.awaiting_role),
    ]
    for key, value in keyed:
        if value:
            clauses.append(f"{key.name} = {_quoted(value)}")
    if f.overdue:
        clauses.append(f"{search.NEXT_DEADLINE.name} < {_quoted(now.isoformat())}")
    if f.opened_after:
        clauses.append(f"StartTime >= {_quoted(f.opened_after.isoformat())}")
    if f.opened_before:
        clauses.append(f"StartTime < {_quoted(f.opened_before.isoformat())}")
    if f.running_only:
        clauses.append("ExecutionStatus = 'Running'")
    if not clauses:
        clauses.append(f"{search.CASE_KIND.name} IS NOT NULL")
    return " AND ".join(clauses)


async def list_cases(
    client: Client,
    f: CaseFilter,
    *,
    now: datetime,
    sort: str = "opened",
    page: int = 1,
    page_size: int = 50,
) -> list[CaseRow]:
    """Cases matching the filter, sorted (``opened``, ``deadline``), one page of them."""
    from models import search

    rows: list[CaseRow] = []
    async for w in client.list_workflows(visibility_query(f, now)):
        sa = w.typed_search_attributes
        rows.append(
            CaseRow(
                case_id=w.id,
                kind=sa.get(search.CASE_KIND),
                status=w.status.name if w.status else "UNKNOWN",
                stage=sa.get(search.STAGE),
                outcome=sa.get(search.OUTCOME),
                nationality=sa.get(search.NATIONALITY),
                force=sa.get(search.FORCE),
                owner=sa.get(search.CASE_OWNER),
                awaiting_roles=list(sa.get(search.AWAITING_ROLE) or []),
                next_deadline=sa.get(search.NEXT_DEADLINE),
                opened_at=w.start_time,
                closed_at=w.close_time,
            )
        )
    if sort == "deadline":
        far = datetime.max.replace(tzinfo=now.tzinfo)
        rows.sort(key=lambda r: (r.next_deadline or far, r.case_id))
    else:
        rows.sort(key=lambda r: (r.opened_at, r.case_id), reverse=True)
    start = (max(page, 1) - 1) * page_size
    return rows[start : start + page_size]


class StuckCase(BaseModel):
    case_id: str
    stage: str | None
    why: str  # in words, or a reason code: "cannot_replay", "query_failed"
    last_error: str | None = None
    since: datetime | None = None
    closed_at: datetime | None = None  # a closed case that cannot be read


DEFAULT_FAILING_FOR = timedelta(minutes=30)


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
) -> list[StuckCase]:
    """Open cases that are not moving: a step in another system failing for longer than
    ``failing_for`` (with its last error), or a deadline passed ``overdue_by`` ago with
    nothing acting on it (for example no worker running), or a case whose history the
    current workers cannot replay (``why="cannot_replay"``, at once: retrying does not
    help). With ``notifications``, also the open alerts of notifications out (a daily
    file missing, incomplete or out of sequence; a conviction not notified) and a
    reconciliation not running. With ``closed``, also the recently closed cases whose
    state cannot be read (``ClosedProbe``: the listings of ``fno``, the HTTP API and the
    web app pass one; the worker's periodic scan does not replay closed cases)."""
    from models import search

    stuck: list[StuckCase] = []
    seen: set[str] = set()
    overdue_query = (
        f"ExecutionStatus = 'Running' AND {search.NEXT_DEADLINE.name} < "
        f"{_quoted((now - overdue_by).isoformat())}"
    )
    async for w in client.list_workflows(overdue_query):
        deadline = w.typed_search_attributes.get(search.NEXT_DEADLINE)
        stage = w.typed_search_attributes.get(search.STAGE)
        seen.add(w.id)
        # A case whose history cannot be replayed misses its deadlines too: say why.
        failing = await failing_steps(client, w, now, failing_for, stage)
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
        failing = await failing_steps(
            client, w, now, failing_for, w.typed_search_attributes.get(search.STAGE)
        )
        stuck.extend(failing[:1])
    if closed is not None and closed.limit > 0:
        stuck.extend(await unreadable_closed_cases(client, now, closed))
    if notifications is not None:
        from access.notifications import notification_gaps

        stuck.extend(await notification_gaps(client, notifications, now, failing_for))
    return stuck


async def failing_steps(
    client: Client,
    w: ListedWorkflow,
    now: datetime,
    failing_for: timedelta,
    stage: str | None,
) -> list[StuckCase]:
    """A stuck entry for each step of the running workflow ``w`` that has been failing
    for at least ``failing_for`` (from its attempt count), with its last error; and one
    when the case's own next step (its workflow task) has waited that long for a worker
    to take it, or keeps failing — a worker outage, or a fault in the workflow code,
    which Temporal retries for ever without a word."""
    described = await client.get_workflow_handle(w.id, run_id=w.run_id).describe()
    rows: list[StuckCase] = []
    for act in described.raw_description.pending_activities:
        failing = failing_time(act.attempt)
        if act.attempt < 2 or failing < failing_for:
            continue
        error = (
            await _failure_message(client, act.last_failure)
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
        replay_error = await _replay_error(client, w.id, w.run_id) if task.attempt >= 2 else None
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
    return rows


async def _replay_error(client: Client, workflow_id: str, run_id: str | None) -> str | None:
    """The error of the workflow's latest failed workflow task, when the workers could
    not replay its history (Temporal records the first failure of a task it then retries;
    the newest events are read, a page at most); None otherwise."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id or ""),
        maximum_page_size=50,
    )
    try:
        history = await client.workflow_service.get_workflow_execution_history_reverse(request)
    except RPCError:
        return None
    for event in history.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return None  # a later workflow task went through
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attrs = event.workflow_task_failed_event_attributes
            message = (
                await _failure_message(client, attrs.failure) if attrs.HasField("failure") else ""
            )
            nondeterministic = (
                attrs.cause
                == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
            )
            if nondeterministic or is_replay_failure(message):
                return safe_error(message) or "nondeterminism error"
            return None
    return None


async def _closed_candidates(
    client: Client, now: datetime, probe: ClosedProbe
) -> list[ListedWorkflow]:
    """The closed cases ``probe`` looks at: the most recently closed first."""
    from models import search

    query = (
        f"ExecutionStatus != 'Running' AND CloseTime >= "
        f"{_quoted((now - probe.within).isoformat())} AND {search.CASE_KIND.name} IS NOT NULL"
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
    from models import search

    try:
        candidates = await _closed_candidates(client, now, probe)
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
                    await handle.query("state", rpc_timeout=probe.timeout)
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


def notification_counts(store: NotificationStore, now: datetime) -> NotificationSummary:
    """Notifications out by state of nationality and in total — sent, acknowledged,
    awaiting acknowledgement, escalated, overdue (not sent within 28 days), sent late —
    with the daily files received and the open alerts: the supervisors' figures (``fno
    notifications summary``, ``GET /notifications/summary``, the dashboard)."""
    from access.notifications import notification_summary

    return notification_summary(store, now)


async def _failure_message(client: Client, failure: Failure) -> str:
    """A failure's message, decrypted: with encrypted failure attributes the server only
    holds "Encoded failure" (``runtime.codec``)."""
    try:
        error = await client.data_converter.decode_failure(failure)
    except Exception:  # a key this process lacks: say what the server has
        return failure.message
    return error.message if isinstance(error, FailureError) else str(error)


def failing_time(attempt: int) -> timedelta:
    """How long a step has been failing by its attempt number, from the retry schedule
    every step uses (``workflows.base.SYSTEM_RETRY``: the server tells the attempt, not
    when the first one started)."""
    from workflows.base import SYSTEM_RETRY

    initial = SYSTEM_RETRY.initial_interval.total_seconds()
    cap = SYSTEM_RETRY.maximum_interval.total_seconds() if SYSTEM_RETRY.maximum_interval else 0
    waited = 0.0
    for n in range(attempt - 1):
        step = initial * SYSTEM_RETRY.backoff_coefficient**n
        waited += min(step, cap) if cap else step
    return timedelta(seconds=waited)
