"""The worker's trust: a case takes decisions and starts only from the front door.

``FrontDoorWorker`` is the worker interceptor that checks the assertion the front
door signs (``runtime.front_door``) in the ``fno-front-door`` header:

- **Decisions** (the ``decide`` update): before the case's own validator, the
  assertion must be valid (signed with a front-door key this worker holds), made for
  this workflow, this update ID and these very arguments, and vouch for the person
  the decision names — ``actor``, ``role`` and ``actor_id`` (when the request carries
  one) as the front door proved them. Otherwise the update is refused (a validator's
  refusal: nothing of it reaches the history) with the reason. A raw ``temporal
  workflow update`` has no assertion; a header copied from another decision does not
  match.
- **Starts** of the case workflows (``EncounterWorkflow``, ``CriminalCaseworkWorkflow``,
  ``NotificationWorkflow``): the assertion must be for this workflow ID, type and
  input, or the workflow fails at once (non-retryable, type ``FrontDoorRefused``)
  before any step runs: cases start only through intake, or from the case process's
  own steps, which sign as ``CASE_PROCESS`` (the worker's client). A run continued as
  new is trusted: its first run was checked.

Replay. Validators do not run on replay, and no check reads the clock. A start's
verdict is taken live once and recorded as a patch marker (``workflow.patched``):
``fno-front-door-start`` (trusted) or ``fno-front-door-start-refused``; a replay
follows the marker, so a case replays the same even after the key that signed its
start has been rotated out. A history recorded before the front door has neither
marker: its case was started by the code of its day and carries on (the recorded
histories of ``tests/histories`` replay, and a case started before this change
finishes on the new code). A case started but never taken by any worker before the
upgrade is checked live, like any new start — unless it was recorded before
``FNO_FRONT_DOOR_SINCE`` (set it to the time of the upgrade) with no assertion.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from models.case import CASEWORK_WORKFLOW, ENCOUNTER_WORKFLOW
from models.decisions import DecisionRequest
from models.located import AMEND_EVENT_UPDATE, EventAmendment
from models.notification import NOTIFICATION_WORKFLOW
from runtime.codec_keys import CodecKeys
from runtime.front_door import HEADER, AssertionRefused, check_binding, read

GUARDED_STARTS = frozenset({ENCOUNTER_WORKFLOW, CASEWORK_WORKFLOW, NOTIFICATION_WORKFLOW})
GUARDED_UPDATES = frozenset({"decide", AMEND_EVENT_UPDATE})
START_TRUSTED = "fno-front-door-start"
START_REFUSED = "fno-front-door-start-refused"
REFUSED = "FrontDoorRefused"  # the ApplicationError type of a refusal
# A start's assertion is made moments before the server records the start.
START_WINDOW = timedelta(minutes=5)

_HOW = (
    "Decisions are taken through the HTTP API, the web app or fno by a signed-in person, "
    "whose identity the front door proves."
)


class FrontDoorWorker(Interceptor):
    """Worker interceptor checking the front door's assertions with ``keys``.

    ``trust_unsigned_before`` (``FNO_FRONT_DOOR_SINCE``, for the upgrade): a start the
    server recorded before that time with no assertion at all is trusted — a case the
    intake of the day started while no worker ran, whose ID (one per custody event,
    never reused) a refusal would take for good.

    ``start_window``: a start's assertion must have been made within this of the start
    the server recorded (``workflow.info().start_time``, the same on replay: no clock
    is read), so an assertion copied from a closed case's history cannot start it
    again later. None: not checked (the time-skipping tests, whose server clock runs
    days ahead of the wall clock that signs)."""

    def __init__(
        self,
        keys: CodecKeys,
        *,
        trust_unsigned_before: datetime | None = None,
        start_window: timedelta | None = START_WINDOW,
    ) -> None:
        self.keys = keys
        bound_keys, bound_since, bound_window = keys, trust_unsigned_before, start_window

        class _Bound(_Checking):
            keys = bound_keys
            since = bound_since
            window = bound_window

        self._cls = _Bound

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return self._cls


def _claims(keys: CodecKeys, headers: Mapping[str, Payload]) -> dict[str, Any]:
    # PyJWT's own imports, if any, are the worker's, not the sandbox's; it reads no clock.
    with workflow.unsafe.imports_passed_through():
        return read(keys, headers)


class _Checking(WorkflowInboundInterceptor):
    keys: CodecKeys
    since: datetime | None = None
    window: timedelta | None = START_WINDOW

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        if info.workflow_type in GUARDED_STARTS and info.continued_run_id is None:
            self._check_start(input)
        return await super().execute_workflow(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        # Validators run live only; the ordering workaround (workflows.activation_order)
        # also runs them on replay, where the verdict was given long ago.
        if input.update in GUARDED_UPDATES and not workflow.unsafe.is_replaying():
            self._check_decision(input)
        super().handle_update_validator(input)

    # --- starts ----------------------------------------------------------------------
    def _check_start(self, input: ExecuteWorkflowInput) -> None:
        if workflow.unsafe.is_replaying():
            if workflow.patched(START_TRUSTED):
                return
            if workflow.patched(START_REFUSED):
                raise _start_refused("it was refused when it was started")
            return  # started before the front door: by the code of its day
        info = workflow.info()
        if HEADER not in input.headers and self.since and info.start_time < self.since:
            workflow.patched(START_TRUSTED)  # started before the front door, by its intake
            return
        try:
            claims = _claims(self.keys, input.headers)
            check_binding(
                claims,
                workflow_id=info.workflow_id,
                op="start",
                target=info.workflow_type,
                args=input.args,
            )
            self._check_made_at_start(claims, info.start_time)
        except AssertionRefused as err:
            workflow.patched(START_REFUSED)
            raise _start_refused(str(err)) from None
        workflow.patched(START_TRUSTED)

    def _check_made_at_start(self, claims: dict[str, Any], started: datetime) -> None:
        if self.window is None:
            return
        made = claims.get("iat")
        if not isinstance(made, int | float):
            raise AssertionRefused("the assertion says not when it was made")
        gap = abs(started.timestamp() - made)
        if gap > self.window.total_seconds():
            raise AssertionRefused(
                f"the assertion was made {gap:.0f} s from the start the server recorded "
                f"(at most {self.window.total_seconds():.0f} s): a copy of an older start's"
            )

    # --- decisions -------------------------------------------------------------------
    def _update_claims(self, input: HandleUpdateInput) -> dict[str, Any]:
        """The assertion of an update, bound to this workflow, update ID and arguments."""
        claims = _claims(self.keys, input.headers)
        check_binding(
            claims,
            workflow_id=workflow.info().workflow_id,
            op="update",
            target=input.update,
            args=input.args,
            update_id=input.id,
        )
        return claims

    def _check_decision(self, input: HandleUpdateInput) -> None:
        if input.update == AMEND_EVENT_UPDATE:
            self._check_amendment(input)
            return
        try:
            claims = self._update_claims(input)
        except AssertionRefused as err:
            raise _decision_refused(f"{err}. {_HOW}") from None
        req = input.args[0] if len(input.args) == 1 else None
        if not isinstance(req, DecisionRequest):
            raise _decision_refused("it is not a decision request")
        if req.actor != claims["name"] or req.role != claims["role"]:
            raise _decision_refused(
                f"it names {req.actor!r} as {req.role}, but the front door vouches for "
                f"{claims['name']!r} as {claims['role']}"
            )
        if req.actor_id is not None and req.actor_id != claims["sub"]:
            raise _decision_refused("its actor_id is not the identity the front door proved")

    def _check_amendment(self, input: HandleUpdateInput) -> None:
        """A custody event's correction: the front door's assertion for it, vouching for
        the system it names (a system, never a person)."""
        try:
            claims = self._update_claims(input)
        except AssertionRefused as err:
            raise _amendment_refused(str(err)) from None
        amendment = input.args[0] if len(input.args) == 1 else None
        if not isinstance(amendment, EventAmendment):
            raise _amendment_refused("it is not a custody event correction")
        if claims["role"] != "system":
            raise _amendment_refused(f"it comes from a {claims['role']}, not a custody system")
        if amendment.by != claims["name"] or amendment.by_id != claims["sub"]:
            raise _amendment_refused(
                f"it names {amendment.by!r}, but the front door vouches for {claims['name']!r}"
            )


def _amendment_refused(why: str) -> ApplicationError:
    return ApplicationError(
        f"Refused: this correction did not come through the front door: {why}. "
        "Custody events are corrected through the HTTP API by the force's custody system.",
        type=REFUSED,
    )


def _decision_refused(why: str) -> ApplicationError:
    return ApplicationError(
        f"Refused: this decision did not come through the front door: {why}",
        type=REFUSED,
        non_retryable=True,
    )


def _start_refused(why: str) -> ApplicationError:
    return ApplicationError(
        f"Refused: a case starts only through intake, and this start did not come "
        f"through the front door: {why}.",
        type=REFUSED,
        non_retryable=True,
    )


def guards(workflows: Any) -> bool:
    """Whether any of ``workflows`` (classes) is a case the front door guards."""
    names = {
        getattr(getattr(w, "__temporal_workflow_definition", None), "name", None) for w in workflows
    }
    return bool(names & GUARDED_STARTS)
