"""The operations people perform on cases, with the access log.

- ``read_case``: a case's state and timeline; needs a stated purpose, and the read
  is logged as a *consultation* (Data Protection Act 2018 s.62).
- ``send_decision``: a decision as the ``decide`` update; the refusal comes back as
  ``DecisionRefused`` with the workflow's reason.
- ``audit``: the access log of a case, or of an actor since a date — supervisors only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.store import AccessLogEntry, CaseStore
from models.case import CaseworkState, EncounterState
from models.decisions import DecisionRequest, DecisionResult
from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow

AUDIT_ROLES = ("supervisor", "director")


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
) -> EncounterState | CaseworkState:
    """The case's whole state; the consultation is logged first, with its purpose."""
    reason = _require_reason(reader)
    handle = client.get_workflow_handle(case_id)
    query: Any = (
        CriminalCaseworkWorkflow.state
        if case_id.startswith("casework-")
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
