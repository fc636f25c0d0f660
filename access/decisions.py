"""Sending a decision to a case, as the ``decide`` update, for a proven person: the
need-to-know policy is asked first (``access.policy``: ``NotPermitted``, nothing sent,
when the person's role may not make that decision on that case), the request must be
theirs (its actor, role and ``actor_id`` are the principal's: ``request_for`` builds
one), and the update goes through the front door (``runtime.front_door.acting_as``),
so the case can check who sent it. The case's own validator stays the authority: a
refusal comes back as ``DecisionRefused`` with the workflow's reason, a decision the
case defers is sent again moments later, a case no worker can replay answers
``CaseUnreadable`` at once with the decision unsent.

Temporal lets one case have only so many updates in flight (the server's
``history.maxInFlightUpdates``, 10 by default; beyond, RESOURCE_EXHAUSTED "limit on
number of concurrent in-flight updates has been reached"), refused ones included: each
waits for a worker to run the case's validator. So one process sends at most
``CASE_UPDATES_IN_FLIGHT`` decisions to one case at a time, the others wait their turn
here, in order (at most ``TURN_WAIT_S``). What is still over the server's limit (other
processes deciding on the same case) is retried by the SDK, backing off from 1 s for
some 15 s (``temporalio.bridge`` core's ``retry.rs``: RESOURCE_EXHAUSTED is retried with
its throttle policy); then, or after too long a wait for a turn, ``CaseBusy`` answers:
nothing was sent, send it again after ``retry_after`` (the API's 429, never a 5xx).

A refusal writes nothing to Temporal (an update its validator rejects leaves no event in
the case's history, and no signal follows it): with ``refusals`` (the case store: every
door passes it) it goes in the store's refusal log, bounded per case, and the timeline
shows it from there (``access.reading.read_case``). A flood of refused decisions cannot
grow a case's history towards Temporal's limit and so cannot end the case.

    request_for(principal, reason, decision) -> DecisionRequest
    await send_decision(client, case_id, principal, req, refusals=store) -> DecisionResult"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from access.case_files import unknown_attachments
from access.diagnosis import raise_if_cannot_replay
from access.errors import CaseBusy, CaseNotFound, DecisionRefused, NotPermitted, safe_error
from access.policy import require_decide, resolve_case
from identity.principal import Principal
from models.decisions import DecisionRequest, DecisionResult
from runtime.front_door import acting_as
from runtime.http_metrics import decisions_refused
from runtime.logs import get_logger
from store.cases import CaseStore
from workflows.activation_order import DEFERRED

log = get_logger("fno.access")

# A decision a case defers is sent again this many times (about 15 s in all: a case
# defers while it still acts on the previous decision, at most its SETTLE_LIMIT).
DEFER_ATTEMPTS = 20

# Decisions one process has in flight on one case at most (Temporal's own limit, per
# case, is 10 by default: room is left for the other processes and for amendments), how
# long one waits for its turn before ``CaseBusy``, and the Retry-After ``CaseBusy`` gives.
CASE_UPDATES_IN_FLIGHT = 4
TURN_WAIT_S = 30.0
BUSY_RETRY_AFTER_S = 5

# Reason codes of a refusal by the case (``RefusalEntry.code``): the failure's type when
# the case gives one (the front door's ``REFUSED``, ``DEFERRED`` …), else these.
REFUSED_BY_CASE = "refused_by_case"
CASE_CLOSED = "case_closed"


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
    client: Client,
    case_id: str,
    principal: Principal,
    req: DecisionRequest,
    *,
    refusals: CaseStore | None = None,
) -> DecisionResult:
    """Send ``req`` to the case as ``principal`` (see the module's docstring); a refusal
    by the case is logged in ``refusals`` (the case store), never in Temporal."""
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
        decisions_refused.labels(req.decision.kind).inc()
        log.warning(
            "decision refused",
            case_id=case_id,
            kind=req.decision.kind,
            role=principal.role,
            why=err.code,
        )
        raise
    if refusals is not None:  # issue 21 (h4): claim checks of this case's attachments only
        unknown = await asyncio.to_thread(unknown_attachments, refusals, case_id, req.decision)
        if unknown:
            raise DecisionRefused(
                f"Refused: case {case_id} has no attachment {unknown[0]}: attach the document "
                "to the case first, then name its ID."
            )
    with acting_as(principal.subject, principal.name, principal.role):
        try:
            return await _send(client, case_id, req)
        except _Refusal as refused:
            decisions_refused.labels(req.decision.kind).inc()
            if refusals is not None:
                try:
                    await asyncio.to_thread(
                        refusals.record_refusal,
                        case_id,
                        kind=req.decision.kind,
                        actor=principal.name,
                        role=principal.role,
                        subject=principal.subject,
                        code=refused.code,
                        reason=refused.message,
                    )
                except SQLAlchemyError as err:  # the refusal is still the answer
                    log.warning("refusal not logged", case_id=case_id, error=type(err).__name__)
            raise DecisionRefused(refused.message) from None


class _Refusal(Exception):
    """The case refused the decision: its reason code and words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


async def _send(client: Client, case_id: str, req: DecisionRequest) -> DecisionResult:
    # A case whose history no worker can replay would hold the update until it times
    # out: say so at once (CaseUnreadable), the decision unsent.
    await raise_if_cannot_replay(client, case_id)
    handle = client.get_workflow_handle(case_id)
    try:
        return await _decide_when_not_deferred(handle, req)
    except WorkflowUpdateFailedError as err:
        # Rejected by the case's validator: nothing was written to its history.
        cause = err.cause
        if isinstance(cause, ApplicationError):
            raise _Refusal(_code_of(cause), cause.message) from None
        raise _Refusal(REFUSED_BY_CASE, str(cause or err)) from None
    except RPCError as err:
        if _back_pressure(err):  # not admitted: nothing was sent (see the module's docstring)
            log.warning(
                "decision not sent: case busy", case_id=case_id, error=safe_error(err.message)
            )
            raise CaseBusy(case_id, BUSY_RETRY_AFTER_S) from None
        if err.status == RPCStatusCode.NOT_FOUND:
            if await _exists(client, case_id):  # it has finished: the case is closed
                raise _Refusal(
                    CASE_CLOSED, "Refused: the case is closed; no decision is expected."
                ) from None
            raise CaseNotFound(f"no case {case_id!r}") from None
        raise


def _code_of(cause: ApplicationError) -> str:
    if cause.type:
        return cause.type[:60]
    if cause.message.startswith("Refused: the case is closed"):
        return CASE_CLOSED
    return REFUSED_BY_CASE


async def _decide_when_not_deferred(handle: Any, req: DecisionRequest) -> DecisionResult:
    """Send the decision; a case that defers it (it arrived in a workflow task with
    other events: ``workflows.activation_order``) takes it when sent again, moments
    later. After ``DEFER_ATTEMPTS`` deferrals the last one is the answer."""
    for attempt in range(DEFER_ATTEMPTS):
        try:
            async with _turn(handle.id):
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


def _back_pressure(err: RPCError) -> bool:
    """Temporal's "not now" to an update: a limit of the case's updates in flight or of
    the cluster's rate (RESOURCE_EXHAUSTED), not a message too large for it."""
    return err.status == RPCStatusCode.RESOURCE_EXHAUSTED and "larger than max" not in (
        err.message or ""
    )


@dataclass
class _Turns:
    slots: asyncio.Semaphore
    waiting_or_sending: int = 0


# Per event loop (a semaphore belongs to one), per case: dropped when no one uses it.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Turns]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def _turn(case_id: str) -> AsyncIterator[None]:
    """One of this process's ``CASE_UPDATES_IN_FLIGHT`` slots on ``case_id``, first come
    first served; ``CaseBusy`` (nothing sent) after ``TURN_WAIT_S`` without one."""
    cases = _TURNS.setdefault(asyncio.get_running_loop(), {})
    turns = cases.get(case_id)
    if turns is None:
        turns = cases[case_id] = _Turns(asyncio.Semaphore(CASE_UPDATES_IN_FLIGHT))
    turns.waiting_or_sending += 1
    try:
        try:
            async with asyncio.timeout(TURN_WAIT_S):
                await turns.slots.acquire()
        except TimeoutError:
            log.warning("decision not sent: no turn on the case", case_id=case_id)
            raise CaseBusy(case_id, BUSY_RETRY_AFTER_S) from None
        try:
            yield
        finally:
            turns.slots.release()
    finally:
        turns.waiting_or_sending -= 1
        if turns.waiting_or_sending == 0 and cases.get(case_id) is turns:
            del cases[case_id]


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
