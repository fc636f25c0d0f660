"""Sending a decision to a case, as the ``decide`` update: a refusal comes back as
``DecisionRefused`` with the workflow's reason (and goes on the case's timeline), a
decision the case defers is sent again moments later, a case no worker can replay
answers ``CaseUnreadable`` at once with the decision unsent."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from access.diagnosis import raise_if_cannot_replay
from access.errors import CaseNotFound, DecisionRefused
from models.decisions import DecisionRefusal, DecisionRequest, DecisionResult
from workflows.activation_order import DEFERRED

# A decision a case defers is sent again this many times (about 4 s in all).
DEFER_ATTEMPTS = 8


async def send_decision(client: Client, case_id: str, req: DecisionRequest) -> DecisionResult:
    # A case whose history no worker can replay would hold the update until it times
    # out: say so at once (CaseUnreadable), the decision unsent.
    await raise_if_cannot_replay(client, case_id)
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
