"""Sending a decision to a case, as the ``decide`` update, for a proven person: the
need-to-know policy is asked first (``access.policy``: ``NotPermitted``, nothing sent,
when the person's role may not make that decision on that case), the request must be
theirs (its actor, role and ``actor_id`` are the principal's: ``request_for`` builds
one), and the update goes through the front door (``runtime.front_door.acting_as``),
so the case can check who sent it. The case's own validator stays the authority: a
refusal comes back as ``DecisionRefused`` with the workflow's reason (and goes on the
case's timeline), a decision the case defers is sent again moments later, a case no
worker can replay answers ``CaseUnreadable`` at once with the decision unsent.

    request_for(principal, reason, decision) -> DecisionRequest
    await send_decision(client, case_id, principal, req) -> DecisionResult"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from access.diagnosis import raise_if_cannot_replay
from access.errors import CaseNotFound, DecisionRefused, NotPermitted
from access.policy import require_decide, resolve_case
from identity.principal import Principal
from models.decisions import DecisionRefusal, DecisionRequest, DecisionResult
from runtime.front_door import acting_as
from runtime.logs import get_logger
from workflows.activation_order import DEFERRED

log = get_logger("fno.access")

# A decision a case defers is sent again this many times (about 4 s in all).
DEFER_ATTEMPTS = 8


def request_for(principal: Principal, reason: str, decision: Any) -> DecisionRequest:
    """The ``DecisionRequest`` of ``principal``: who, role and ``actor_id`` from the
    proven identity, ``reason`` and ``decision`` (a model or its dict) from the form.
    Raises pydantic's ``ValidationError`` for a bad decision or reason."""
    return DecisionRequest.model_validate(
        {
            "actor": principal.name,
            "role": principal.role,
            "actor_id": principal.subject,
            "reason": reason,
            "decision": decision,
        }
    )


async def send_decision(
    client: Client, case_id: str, principal: Principal, req: DecisionRequest
) -> DecisionResult:
    """Send ``req`` to the case as ``principal`` (see the module's docstring)."""
    if (req.actor, req.role, req.actor_id) != (principal.name, principal.role, principal.subject):
        raise NotPermitted(
            "Not permitted: a decision is sent in your own name, role and identity "
            "(build it with access.decisions.request_for).",
            code="not_yours",
        )
    ref = await resolve_case(client, case_id, principal)
    try:
        require_decide(principal, ref, req.decision.kind)
    except NotPermitted as err:
        log.warning(
            "decision refused",
            case_id=case_id,
            kind=req.decision.kind,
            role=principal.role,
            why=err.code,
        )
        raise
    with acting_as(principal.subject, principal.name, principal.role):
        return await _send(client, case_id, req)


async def _send(client: Client, case_id: str, req: DecisionRequest) -> DecisionResult:
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
