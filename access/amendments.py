"""Corrections of a custody event (DOMAIN.md step 1: names and dates of birth often are
corrected after fingerprinting): an integrator amends an event it sent, the same for
every door (the HTTP API's ``POST /custody-events/{case_id}/amendments``).

    await amend_event(client, store, sender, case_id, correction, subject_key_secret=...)

In order: the case must be an encounter that exists (``CaseNotFound``, 404), be for a
force the sender's credential names (``SenderRefused``, 403, as at intake), be open
(``AmendmentRefused``, 409: a closed case takes no correction) and the corrected subject
must pass intake's checks (``AmendmentInvalid``, 422, the fields named). Then the
encounter takes it (its ``amend_event`` update, through the front door as the sender),
once per ``amendment_id``; the access log records an **alteration** under the proven
system, once per amendment, naming the fields changed, never their values; and when the
case was referred to Criminal Casework, the corrected subject is indexed again for that
case (``store.person_index``: a re-arrest under the corrected name then finds it). A
repeat of an amendment answers ``already_applied`` and adds nothing (the log entry and
the index are written again idempotently, so a repeat after a lost answer completes
what the first attempt left undone).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from access.diagnosis import describe, running_replay_error
from access.errors import CANNOT_REPLAY, CaseNotFound, CaseUnreadable
from access.intake import SenderRefused
from identity.principal import Principal
from models.case import EncounterState
from models.event import ENCOUNTER_PREFIX
from models.located import AMEND_EVENT_UPDATE, AmendmentResult, EventAmendment, EventCorrection
from models.person_match import person_keys
from runtime.front_door import acting_as
from runtime.logs import get_logger
from store.cases import CaseStore
from store.person_index import PersonIndex
from workflows.activation_order import DEFERRED
from workflows.encounter import EncounterWorkflow
from workflows.encounter_located import AMENDMENT_CASE_CLOSED

log = get_logger("fno.access")

# An encounter's workflow ID (``CustodyEvent.case_id``): anything else is no case here.
_ENCOUNTER_ID = re.compile(
    rf"^{ENCOUNTER_PREFIX}[a-z0-9][a-z0-9-]{{1,39}}-[A-Z0-9][A-Z0-9/_-]{{0,39}}$"
)
HOW_TO_FIND = (
    "amend with the case_id POST /custody-events answered for the event "
    "(encounter-<force>-<CUSTODY REFERENCE>)"
)
DEFER_ATTEMPTS = 8


class AmendmentRefused(Exception):
    """The case takes no correction now: the message says why, ``why`` in a word
    (``case_closed``; ``refused``: renewing its history, send it again, or refused by
    the case's own checks)."""

    def __init__(self, message: str, why: str = "case_closed") -> None:
        super().__init__(message)
        self.why = why


class AmendmentInvalid(Exception):
    """The corrected event fails intake's checks: ``errors`` as intake's (``loc`` in the
    body, ``msg``, ``type``)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e["msg"]) for e in errors))
        self.errors = errors


@dataclass
class AmendmentOutcome:
    case_id: str
    amendment_id: str
    status: Literal["applied", "already_applied"]
    changed: list[str] = field(default_factory=list)
    reindexed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "amendment_id": self.amendment_id,
            "status": self.status,
            "changed": self.changed,
            "link": f"/cases/{self.case_id}",
        }


async def amend_event(
    client: Client,
    store: CaseStore,
    sender: Principal,
    case_id: str,
    correction: EventCorrection,
    *,
    subject_key_secret: str,
) -> AmendmentOutcome:
    """Apply ``correction`` to the custody event of ``case_id`` for ``sender`` (see the
    module's docstring)."""
    state = await _open_encounter(client, case_id)
    if not sender.may_send_for(state.event.force):
        mine = ", ".join(sender.forces) or "no force"
        raise SenderRefused(
            f"{sender.name} amends custody events for {mine} only; this case is another "
            "force's: nothing was changed"
        )
    subject = state.event.subject
    if correction.subject is not None:
        try:
            subject = correction.subject.applied_to(subject)
        except ValidationError as err:
            raise AmendmentInvalid(
                [
                    {"loc": ["subject", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                    for e in err.errors(include_url=False, include_input=False)
                ]
            ) from None
    amendment = EventAmendment(correction=correction, by=sender.name, by_id=sender.subject)
    with acting_as(sender.subject, sender.name, sender.role):
        result = await _send(client, case_id, amendment)
    outcome = AmendmentOutcome(
        case_id,
        correction.amendment_id,
        "applied" if result.applied else "already_applied",
        list(result.changed),
    )
    await asyncio.to_thread(_log_alteration, store, sender, outcome)
    if result.casework_id is not None:
        keys = person_keys(subject, subject_key_secret)
        await asyncio.to_thread(PersonIndex(store.engine).add, keys, result.casework_id)
        outcome.reindexed = True
    log.info(
        "custody event amended", case_id=case_id, status=outcome.status, fields=outcome.changed
    )
    return outcome


async def _open_encounter(client: Client, case_id: str) -> EncounterState:
    if not _ENCOUNTER_ID.fullmatch(case_id):
        raise CaseNotFound(f"no custody event case {case_id!r}: {HOW_TO_FIND}")
    try:
        described = await describe(client, case_id)
    except CaseNotFound:
        raise CaseNotFound(f"no custody event case {case_id!r}: {HOW_TO_FIND}") from None
    if (
        described.workflow_execution_info.status
        != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    ):
        raise AmendmentRefused(
            f"the case {case_id} is closed: its custody event can no longer be corrected"
        )
    error = await running_replay_error(client, described)
    if error is not None:
        raise CaseUnreadable(case_id, CANNOT_REPLAY, error, closed_at=None, listed_as_stuck=True)
    state: EncounterState = await client.get_workflow_handle(case_id).query(EncounterWorkflow.state)
    return state


async def _send(client: Client, case_id: str, amendment: EventAmendment) -> AmendmentResult:
    handle = client.get_workflow_handle(case_id)
    for attempt in range(DEFER_ATTEMPTS):
        try:
            result: AmendmentResult = await handle.execute_update(
                AMEND_EVENT_UPDATE, amendment, result_type=AmendmentResult
            )
            return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) else None
            if kind == DEFERRED and attempt < DEFER_ATTEMPTS - 1:
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            # Closed meanwhile, renewing, or refused by the case's own checks: its
            # words are the answer.
            message = cause.message if isinstance(cause, ApplicationError) else str(err)
            closed = kind == AMENDMENT_CASE_CLOSED
            raise AmendmentRefused(message, "case_closed" if closed else "refused") from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # it closed meanwhile
                raise AmendmentRefused(
                    f"the case {case_id} is closed: its custody event can no longer be corrected"
                ) from None
            raise
    raise AssertionError("unreachable")


def _log_alteration(store: CaseStore, sender: Principal, outcome: AmendmentOutcome) -> None:
    changed = ", ".join(outcome.changed) or "no field changed"
    store.log(
        actor=sender.name,
        role=sender.role,
        subject=sender.subject,
        action="alteration",
        case_id=outcome.case_id,
        justification=f"custody event corrected by its integrator (amendment "
        f"{outcome.amendment_id}): {changed}",
        act_key=f"alteration:{outcome.case_id}:{outcome.amendment_id}",
    )
