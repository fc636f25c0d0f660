"""The stuck listing's cases that ended without an outcome: terminated, failed or
timed out within the last days (``EndedProbe``), a row each with the reason code
(``ENDED_CODES``) and how it ended, from the history's last event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.client import WorkflowExecution as ListedWorkflow
from temporalio.service import RPCError

from access.diagnosis import failure_message
from access.errors import safe_error
from access.listing import quoted
from access.stuck_rows import StuckCase
from models import search

# Reason codes of a case that ended without an outcome (by its execution status).
ENDED_CODES = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
}
_ENDED_WORDS = {"terminated": "was terminated", "failed": "failed", "timed_out": "timed out"}


@dataclass(frozen=True)
class EndedProbe:
    """Which ended cases are listed: those closed within ``within`` as terminated,
    failed or timed out (not those whose ID runs again), at most ``limit``."""

    within: timedelta = timedelta(days=7)
    limit: int = 100


DEFAULT_ENDED = EndedProbe()


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
