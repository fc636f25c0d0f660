"""The core every case workflow shares, whatever its process: the timeline,
stages and search attributes, validated human decisions (recorded by the core's one
activity, ``activities.core.CoreActivities.record_decision``), refusals and faults of
the systems called, and continuing as new. It knows no process: the case process
(``workflows.acro`` and up) and notifications out build on it.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.core import PERMANENT, CoreActivities
    from models import search
    from models.case import CaseView, Deadline, EntryKind, Stage, TimelineEntry
    from models.decisions import ROLES_FOR, DecisionRefusal, DecisionRequest, DecisionResult
    from models.steps import DecisionLogged

T = TypeVar("T")

# Transient faults of the systems we call are retried with backoff, without limit:
# a case must never be lost to an outage. Permanent refusals are not retried; the
# case records them and waits for a caseworker (see ``call``).
SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[PERMANENT],
)
STEP_TIMEOUT = timedelta(seconds=30)


class CaseWorkflow:
    """Base of every case workflow (the encounter, Criminal Casework, a notification)."""

    s: CaseView
    kind: str = "case"

    def _init_common(self) -> None:
        self._pending: DecisionRequest | None = None
        self._pending_id = ""
        # Decision kinds someone in the workflow is waiting for right now (a count per
        # kind: concurrent branches may wait for the same kind). Only these are
        # accepted; ``s.awaiting`` shows them.
        self._waiting: dict[str, int] = {}
        self._renewing = False

    # --- timeline and visible state ---------------------------------------------
    def record(
        self,
        kind: EntryKind,
        text: str,
        *,
        actor: str | None = None,
        role: str | None = None,
        reason: str | None = None,
        **data: Any,
    ) -> None:
        self.s.timeline.append(
            TimelineEntry(
                at=workflow.now(),
                kind=kind,
                text=text,
                actor=actor,
                role=role,
                reason=reason,
                data=data,
            )
        )
        # The kind and the entry's position only: the text may name the subject, an
        # offence or a refusal's reason (the timeline is read from the case, with
        # access control; a log line is not). Logging issues no workflow command.
        workflow.logger.info(
            "case timeline entry", extra={"kind": kind, "entry": len(self.s.timeline)}
        )

    def set_stage(self, stage: Stage, *, deadlines: list[Deadline] | None = None) -> None:
        self.s.stage = stage
        self.s.deadlines = list(deadlines or [])
        self.publish()

    def _sync_awaiting(self) -> None:
        self.s.awaiting = sorted(k for k, n in self._waiting.items() if n > 0)
        self.s.awaiting_role = sorted({r for k in self.s.awaiting for r in ROLES_FOR[k]})
        self.publish()

    def publish(self) -> None:
        """Upsert the search attributes (no personal data in any of them)."""
        next_deadline = min((d.due_at for d in self.s.deadlines), default=None)
        updates: list[SearchAttributeUpdate[Any]] = [
            search.CASE_KIND.value_set(self.kind),
            search.STAGE.value_set(self.s.stage.name),
            search.AWAITING_ROLE.value_set(self.s.awaiting_role),
        ]
        if self.s.outcome is not None:
            updates.append(search.OUTCOME.value_set(self.s.outcome.name))
        else:
            updates.append(search.OUTCOME.value_unset())
        updates.extend(self.extra_search_attributes())
        if next_deadline is not None:
            updates.append(search.NEXT_DEADLINE.value_set(next_deadline))
        else:
            updates.append(search.NEXT_DEADLINE.value_unset())
        if self.s.search_attributes_at_start:
            # Only what changes (the SDK keeps info's attributes current after each
            # upsert): an upsert is a history event and a visibility write.
            updates = search.changed_only(updates, workflow.info().typed_search_attributes)
            if not updates:
                return
        workflow.upsert_search_attributes(updates)

    def extra_search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        return []

    # --- waiting ------------------------------------------------------------------
    async def wait_until(self, condition: Callable[[], bool], deadline: datetime | None) -> bool:
        """Wait for ``condition`` until ``deadline``; False when the deadline passed first."""
        if deadline is None:
            await workflow.wait_condition(condition)
            return True
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            return condition()
        try:
            await workflow.wait_condition(condition, timeout=remaining)
            return True
        except TimeoutError:
            return condition()

    # --- decisions -----------------------------------------------------------------
    @workflow.update
    async def decide(self, req: DecisionRequest) -> DecisionResult:
        """A person's decision: recorded with who, role, when and why, then acted on."""
        kind = req.decision.kind
        # The decider's stable identity, when the front door gave one (new decisions).
        proven = {"actor_id": req.actor_id} if req.actor_id is not None else {}
        self.record(
            "decision",
            self.describe_decision(req),
            actor=req.actor,
            role=req.role,
            reason=req.reason,
            decision=req.decision.model_dump(mode="json"),
            **proven,
        )
        info = workflow.current_update_info()
        self._pending_id = info.id if info else str(workflow.uuid4())
        self._pending = req
        # Answer once the case has taken the decision and acted on it up to its next wait.
        await workflow.wait_condition(lambda: self._pending is not req)
        return DecisionResult(accepted=True, stage=self.s.stage.value, message=f"{kind} recorded")

    @workflow.signal
    def decision_refused(self, refusal: DecisionRefusal) -> None:
        """A refused decision goes on the timeline; nothing else changes."""
        self.record(
            "refusal",
            f"{refusal.kind.replace('_', ' ')} refused: {refusal.reason}",
            actor=refusal.actor,
            role=refusal.role,
        )

    @decide.validator
    def _validate_decision(self, req: DecisionRequest) -> None:
        kind = req.decision.kind
        if req.role == "supervisor":
            raise ApplicationError("Refused: a supervisor may inspect cases but decides nothing.")
        if self.s.stage is Stage.CLOSED:
            raise ApplicationError(
                f"Refused: the case is closed ({self.s.outcome}); no decision is expected."
            )
        self.check_lawful(req)
        if self._renewing:
            raise ApplicationError(
                "Refused for now: the case is renewing its history; send the decision again."
            )
        if self._pending is not None:
            raise ApplicationError("Refused: another decision is being acted on; try again.")
        if kind not in self.s.awaiting:
            expected = ", ".join(self.s.awaiting) or "none"
            raise ApplicationError(
                f"Refused: a {kind} decision is not expected at stage "
                f"'{self.s.stage.value}'. Decisions accepted now: {expected}."
            )
        allowed = ROLES_FOR[kind]
        if req.role not in allowed:
            raise ApplicationError(
                f"Refused: a {kind} decision must come from a {' or '.join(allowed)}, "
                f"not a {req.role}."
            )
        self.check_decision(req)

    def check_lawful(self, req: DecisionRequest) -> None:
        """Refuse what the law forbids, whatever the stage (overridden per workflow)."""

    def check_decision(self, req: DecisionRequest) -> None:
        """Further checks of an expected decision (overridden per workflow)."""

    def describe_decision(self, req: DecisionRequest) -> str:
        return f"Decision: {req.decision.kind}"

    async def next_decision(
        self,
        *kinds: str,
        deadline: datetime | None = None,
        wake: Callable[[], bool] | None = None,
    ) -> Any:
        """Offer ``kinds`` and wait for one; None when the deadline passes or ``wake``
        becomes true first. The decision is logged, then handed over."""
        for k in kinds:
            self._waiting[k] = self._waiting.get(k, 0) + 1
        self._sync_awaiting()
        try:
            await self.wait_until(
                lambda: (
                    (self._pending is not None and self._pending.decision.kind in kinds)
                    or (wake is not None and wake())
                ),
                deadline,
            )
        finally:
            for k in kinds:
                self._waiting[k] -= 1
        # Not in ``finally``: a workflow evicted from the worker's cache closes this
        # coroutine, and must not issue commands while it goes.
        self._sync_awaiting()
        req = self._pending
        if req is None or req.decision.kind not in kinds:
            return None
        update_id = self._pending_id
        await self.call(
            CoreActivities.record_decision,
            DecisionLogged(
                case_id=self.s.case_id,
                idempotency_key=f"{self.s.case_id}/{update_id}",
                actor=req.actor,
                role=req.role,
                kind=req.decision.kind,
                reason=req.reason,
                actor_id=req.actor_id,
            ),
            what="Recording the decision in the access log",
        )
        self._pending = None
        return req

    # --- other systems -------------------------------------------------------------
    async def call(
        self,
        activity: Callable[..., Any],
        arg: Any,
        *,
        what: str,
        step_timeout: timedelta = STEP_TIMEOUT,
    ) -> Any:
        """Run one step in another system. A permanent refusal is put on the case's
        timeline and the case waits for a caseworker to resume once it is put right;
        the step is then tried again with the same idempotency key."""
        while True:
            try:
                return await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=step_timeout,
                    retry_policy=SYSTEM_RETRY,
                )
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == PERMANENT):
                    raise
                self.record("fault", f"{what} refused: {cause.message}")
                await self.next_decision("resume_after_fault")

    # --- long life -------------------------------------------------------------------
    async def renew(self, inp: Any) -> NoReturn:
        """Continue as new, carrying the state: stop taking decisions, let running
        handlers finish, then start a fresh history from ``inp`` with the state in it.

        Call it only where nothing waits for a decision: then no decision can be
        pending (one is accepted only while somebody waits for it)."""
        self._renewing = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        self.s.continued_as_new += 1
        workflow.continue_as_new(inp.model_copy(update={"state": self.s}))

    def history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.s.policy.continue_as_new_after_events
        )
