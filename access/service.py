"""The operations people perform on cases, with the access log.

- ``read_case``: a case's state and timeline; needs a stated purpose, and the read
  is logged as a *consultation* (Data Protection Act 2018 s.62).
- ``send_decision``: a decision as the ``decide`` update; the refusal comes back as
  ``DecisionRefused`` with the workflow's reason.
- ``audit``: the access log of a case, or of an actor since a date — supervisors only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.client import WorkflowExecution as ListedWorkflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.notification_store import NotificationStore
from activities.store import AccessLogEntry, CaseStore
from models.case import CaseworkState, EncounterState, is_casework_id
from models.decisions import DecisionRefusal, DecisionRequest, DecisionResult
from models.notification import NotificationState, is_notification_id
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


async def read_case(
    client: Client, store: CaseStore, case_id: str, reader: Reader
) -> EncounterState | CaseworkState | NotificationState:
    """The case's whole state; the consultation is logged first, with its purpose."""
    reason = _require_reason(reader)
    handle = client.get_workflow_handle(case_id)
    query: Any = (
        CriminalCaseworkWorkflow.state
        if is_casework_id(case_id)
        else NotificationWorkflow.state
        if is_notification_id(case_id)
        else EncounterWorkflow.state
    )
    try:
        state = await handle.query(query)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(f"no case {case_id!r}") from None
        raise
    store.log(
        actor=reader.actor,
        role=reader.role,
        action="consultation",
        case_id=case_id,
        justification=reason,
    )
    return state  # type: ignore[no-any-return]


async def send_decision(client: Client, case_id: str, req: DecisionRequest) -> DecisionResult:
    handle = client.get_workflow_handle(case_id)
    try:
        return await handle.execute_update("decide", req, result_type=DecisionResult)
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
    why: str
    last_error: str | None = None
    since: datetime | None = None


async def stuck_cases(
    client: Client,
    *,
    now: datetime,
    failing_for: timedelta = timedelta(minutes=30),
    overdue_by: timedelta = timedelta(hours=1),
    notifications: NotificationStore | None = None,
) -> list[StuckCase]:
    """Open cases that are not moving: a step in another system failing for longer than
    ``failing_for`` (with its last error), or a deadline passed ``overdue_by`` ago with
    nothing acting on it (for example no worker running). With ``notifications``, also
    the open alerts of notifications out (a daily file missing, incomplete or out of
    sequence; a conviction not notified) and a reconciliation not running."""
    from models import search

    stuck: list[StuckCase] = []
    seen: set[str] = set()
    overdue_query = (
        f"ExecutionStatus = 'Running' AND {search.NEXT_DEADLINE.name} < "
        f"{_quoted((now - overdue_by).isoformat())}"
    )
    async for w in client.list_workflows(overdue_query):
        deadline = w.typed_search_attributes.get(search.NEXT_DEADLINE)
        seen.add(w.id)
        stuck.append(
            StuckCase(
                case_id=w.id,
                stage=w.typed_search_attributes.get(search.STAGE),
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
    # After the steps (more precise when both): the case's own next step.
    raw = described.raw_description
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        first = task.original_scheduled_time.ToDatetime(tzinfo=UTC)
        waiting = task.scheduled_time.ToDatetime(tzinfo=UTC)
        if task.attempt >= 2 and now - first >= failing_for:
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
