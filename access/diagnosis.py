"""What Temporal tells of a case's trouble: its execution described, the error of a
workflow task the current workers cannot replay (so a read or a decision says so at
once rather than wait for a task that never completes), a failure's message decrypted.
Reading, deciding and the stuck listing all ask here."""

from __future__ import annotations

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from access.errors import CANNOT_REPLAY, CaseNotFound, CaseUnreadable, is_replay_failure, safe_error

RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def describe(client: Client, case_id: str) -> DescribeWorkflowExecutionResponse:
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


async def running_replay_error(
    client: Client, described: DescribeWorkflowExecutionResponse
) -> str | None:
    """The replay error of a running case whose workflow task keeps failing because its
    history cannot be replayed (the stuck listing shows it at once), else None."""
    info = described.workflow_execution_info
    running = info.status == RUNNING
    if not running or described.pending_workflow_task.attempt < 2:
        return None
    return await replay_error_of(client, info.execution.workflow_id, info.execution.run_id)


async def raise_if_cannot_replay(client: Client, case_id: str) -> None:
    """``CaseUnreadable`` when the running case cannot be replayed (see above)."""
    error = await running_replay_error(client, await describe(client, case_id))
    if error is not None:
        raise CaseUnreadable(case_id, CANNOT_REPLAY, error, closed_at=None, listed_as_stuck=True)


async def replay_error_of(client: Client, workflow_id: str, run_id: str | None) -> str | None:
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
                await failure_message(client, attrs.failure) if attrs.HasField("failure") else ""
            )
            nondeterministic = (
                attrs.cause
                == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
            )
            if nondeterministic or is_replay_failure(message):
                return safe_error(message) or "nondeterminism error"
            return None
    return None


async def failure_message(client: Client, failure: Failure) -> str:
    """A failure's message, decrypted: with encrypted failure attributes the server only
    holds "Encoded failure" (``runtime.codec``)."""
    try:
        error = await client.data_converter.decode_failure(failure)
    except Exception:  # a key this process lacks: say what the server has
        return failure.message
    return error.message if isinstance(error, FailureError) else str(error)
