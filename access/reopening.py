"""Reopening a closed Criminal Casework case, with its history (issue 21): wrongly
closed, or the subject returned to the UK after leaving (or after removal).

Only a senior caseworker or a CC manager may (``access.policy.Capability.REOPEN``),
within what they may read. The closed run's state is read (a query on the closed
workflow), and a new run of the same workflow ID is started through the front door
(``runtime.front_door.acting_as``: the start carries the assertion the worker checks,
like intake's) with that state and a ``Reopening`` saying who, why and on which
grounds; the case records it and goes back to allocation
(``workflows.casework_reopen``). The act is logged in the access log under the proven
person (an *alteration*, with the grounds and the reason).

    await reopen_case(client, store, case_id, principal, grounds, reason) -> Reopened

Refusals: ``NotPermitted`` (403: the role), ``CaseNotFound`` (404), ``ReopenRefused``
(409: the case is open, not a casework case, or closed without an outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from access.diagnosis import RUNNING, describe
from access.kinds import CASEWORK, kind_of
from access.policy import Capability, require, require_read, resolve_case
from identity.principal import Principal
from models.case import CASEWORK_WORKFLOW, CaseworkInput, CaseworkState, Outcome
from models.casework_progress import Reopening
from runtime.front_door import acting_as
from runtime.logs import get_logger
from store.cases import CaseStore

log = get_logger("fno.access")

# Grounds that need the subject to have left: returned after leaving, or after removal.
RETURNED_FROM = frozenset({Outcome.LEFT_UK, Outcome.DEPORTED})


class ReopenRefused(Exception):
    """The case cannot be reopened now (409): open, not casework, no outcome."""


@dataclass
class Reopened:
    case_id: str
    previous_outcome: str
    grounds: str

    def as_dict(self) -> dict[str, str]:
        return {
            "case_id": self.case_id,
            "status": "reopened",
            "previous_outcome": self.previous_outcome,
            "grounds": self.grounds,
        }


async def reopen_case(
    client: Client,
    store: CaseStore,
    case_id: str,
    principal: Principal,
    grounds: str,
    reason: str,
) -> Reopened:
    """Reopen the closed case ``case_id`` for ``reason`` on ``grounds``
    (``wrongly_closed`` or ``returned_to_uk``), as ``principal``."""
    require(principal, Capability.REOPEN)
    ref = await resolve_case(client, case_id, principal)
    require_read(principal, ref)
    if ref.kind != CASEWORK.name:
        raise ReopenRefused(f"Only a Criminal Casework case can be reopened; {case_id} is not one.")
    handle = client.get_workflow_handle(case_id)
    info = (await describe(client, case_id)).workflow_execution_info  # CaseNotFound: 404
    if info.status == RUNNING:
        raise ReopenRefused(f"Case {case_id} is open: only a closed case can be reopened.")
    state: CaseworkState = await handle.query(kind_of(case_id).state_query)
    if state.outcome is None:
        raise ReopenRefused(
            f"Case {case_id} ended without an outcome (ended by hand): it cannot be reopened."
        )
    if grounds == "returned_to_uk" and state.outcome not in RETURNED_FROM:
        raise ReopenRefused(
            f"Case {case_id} was closed as {state.outcome.value!r}: 'returned to the UK' "
            "applies to a subject who left the UK or was removed; reopen it as wrongly closed."
        )
    reopening = Reopening(
        grounds=grounds,  # type: ignore[arg-type]
        by=principal.name,
        by_id=principal.subject,
        role=principal.role,
        reason=reason,
        previous_outcome=state.outcome.name,
        at=datetime.now(UTC),
    )
    start = CaseworkInput(
        case_id=state.case_id,
        subject_key=state.subject_key,
        nationality=state.nationality,
        policy=state.policy,
        state=state,
        reopen=reopening,
    )
    try:
        with acting_as(principal.subject, principal.name, principal.role):
            await client.start_workflow(
                CASEWORK_WORKFLOW,
                start,
                id=case_id,
                task_queue=info.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"Criminal Casework ({state.nationality}) reopened ({grounds})",
                static_details="A closed case reopened with its history (issue 21).",
            )
    except WorkflowAlreadyStartedError:
        raise ReopenRefused(f"Case {case_id} was reopened meanwhile: it is open.") from None
    store.log(
        actor=principal.name,
        role=principal.role,
        subject=principal.subject,
        action="alteration",
        case_id=case_id,
        justification=f"case reopened ({grounds}): {reason}",
    )
    log.info("case reopened", case_id=case_id, grounds=grounds, role=principal.role)
    return Reopened(case_id, state.outcome.name, grounds)
