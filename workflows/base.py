"""The core every case workflow shares, whatever its process: the timeline,
stages and search attributes, validated human decisions (recorded by the core's one
activity, ``activities.core.CoreActivities.record_decision``), refusals and faults of
the systems called, and continuing as new. It knows no process: the case process
(``workflows.acro`` and up) and notifications out build on it.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.activation_order import DEFERRED
from workflows.changes import DECISION_SETTLED
from workflows.published import Published
from workflows.tasks import apply_task, refusal_role, refusal_words, task_refusal

with workflow.unsafe.imports_passed_through():
    from activities.core import PERMANENT, CoreActivities
    from models.case import CaseView, Deadline, EntryKind, Stage, TimelineEntry
    from models.casework_progress import Task
    from models.decisions import ROLES_FOR, DecisionRefusal, DecisionRequest, DecisionResult
    from models.decisions_casework import TASK_KINDS, AllocateCase
    from models.metrics import CASES_CLOSED, CASES_OPENED, Metric
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
SETTLE_LIMIT = timedelta(seconds=10)


class CaseWorkflow(Published):
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
        # issue 21: tasks on (``TASKS``, read by the validator); moves (a stage set, a wait
        # begun) and where a decision was handed over (``DECISION_SETTLED``).
        self._tasks_on = False
        self._moves = 0
        self._handed: dict[str, int] = {}
        self._deciding = 0  # decide handlers not yet answered (issue 22)
        # issue 22: Criminal Casework's search attributes, upserted once per pass
        self._publish_due = False
        self._publisher: asyncio.Task[None] | None = None

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
        self._moves += 1
        closing = stage is Stage.CLOSED and self.s.stage is not Stage.CLOSED
        self.s.stage = stage
        self.s.deadlines = list(deadlines or [])
        self.publish()
        if closing:
            outcome = self.s.outcome.name if self.s.outcome is not None else "NONE"
            self.count(CASES_CLOSED, kind=self.kind, outcome=outcome)

    def count(self, metric: Metric, **labels: str) -> None:
        """Add one to a counter of ``models.metrics`` (issue 23), through the SDK's metric
        meter: not counted again when the task is replayed, and no command (no history
        event, nothing to version)."""
        workflow.metric_meter().create_counter(metric.name, metric.help).add(1, labels)

    def count_opened(self) -> None:
        """The case has just opened (not a continuation of it)."""
        self.count(CASES_OPENED, kind=self.kind)

    def _sync_awaiting(self) -> None:
        self.s.awaiting = sorted(k for k, n in self._waiting.items() if n > 0)
        self.s.awaiting_role = sorted({r for k in self.s.awaiting for r in ROLES_FOR[k]})
        self.publish()

    @workflow.query
    def tasks(self) -> list[Task] | None:
        """Open tasks (kinds, staff identities; no subject's data); None before tasks."""
        return self.s.tasks if self._tasks_on else None

    def task_at_once(self, kind: str) -> bool:
        """A task decision not awaited: acted on at once in the handler."""
        return self._tasks_on and kind in TASK_KINDS and self._waiting.get(kind, 0) == 0

    async def act_on_task(self, req: DecisionRequest, update_id: str) -> None:
        """Claim, unclaim, reassign, bring forward, allocate: logged, applied, recorded."""
        progress = self.progress
        assert progress is not None
        self._pending, self._pending_id = req, update_id
        try:
            await self.log_decision(req, update_id)
            text, data = apply_task(req, progress, self.s.tasks, workflow.now())
            if isinstance(req.decision, AllocateCase):  # the owner's name on the case
                self.s.case_owner = req.decision.owner_name  # type: ignore[attr-defined]
            self.record("step", text, actor=req.actor, role=req.role, reason=req.reason, **data)
            self.publish()
        finally:
            self._pending = None

    # --- waiting ------------------------------------------------------------------
    async def wait_until(self, condition: Callable[[], bool], deadline: datetime | None) -> bool:
        """Wait for ``condition`` until ``deadline``; False when the deadline passed first."""
        self._moves += 1
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
        self._deciding += 1
        try:
            return await self._decide(req)
        finally:
            self._deciding -= 1

    async def _decide(self, req: DecisionRequest) -> DecisionResult:
        kind = req.decision.kind
        settled = workflow.patched(DECISION_SETTLED)
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
        update_id = info.id if info else str(workflow.uuid4())
        if self.task_at_once(kind):
            await self.act_on_task(req, update_id)
            return DecisionResult(
                accepted=True, stage=self.s.stage.value, message=f"{kind} recorded"
            )
        self._pending_id = update_id
        self._pending = req
        # Answer once the case has taken the decision and acted on it up to its next wait.
        await workflow.wait_condition(lambda: self._pending is not req)
        if settled:
            # ... and moved on: a stage set, a wait begun, closed or renewing (at most
            # SETTLE_LIMIT: a wait that is neither, e.g. for a country's reply).
            mark = self._handed.pop(update_id, self._moves)
            try:
                await workflow.wait_condition(
                    lambda: self._moves > mark or self.s.stage is Stage.CLOSED or self._renewing,
                    timeout=SETTLE_LIMIT,
                )
            except TimeoutError:
                pass
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
        if self._deciding and not workflow.unsafe.is_replaying():
            # One decision at a time, answered before the next is taken (issue 22): an
            # answer waits for the case to move (``DECISION_SETTLED``), at most a timer's
            # SETTLE_LIMIT; a decision taken meanwhile could share a workflow task with
            # that timer or that move in an order a replay need not repeat. The sender
            # sends it again (``access.decisions``). Live only: on replay
            # (``activation_order.accepted_now``) the validator judges as it did.
            raise ApplicationError(
                "Deferred: the case is still acting on the previous decision; send it again.",
                type=DEFERRED,
                non_retryable=True,
            )
        if self.task_at_once(kind):
            why = task_refusal(
                req, self.s.tasks, self.progress, located=bool(getattr(self.s, "located", False))
            )
            if why is not None:
                raise ApplicationError(why)
            return
        if kind not in self.s.awaiting:
            expected = "; ".join(f"“{refusal_words(k)}”" for k in self.s.awaiting) or "none"
            raise ApplicationError(
                f"Refused: “{refusal_words(kind)}” is not expected at this stage "
                f"(“{self.s.stage.value}”). Decisions accepted now: {expected}."
            )
        allowed = ROLES_FOR[kind]
        if req.role not in allowed:
            who = " or ".join(refusal_role(r) for r in allowed)
            mine = refusal_role(req.role)
            raise ApplicationError(
                f"Refused: “{refusal_words(kind)}” must come from {who}, not {mine}."
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
        await self.log_decision(req, update_id)
        progress = self.progress
        if progress is not None and self._tasks_on:
            # The task is done: its claim and follow-up end with it.
            progress.assignments.pop(req.decision.kind, None)
            progress.follow_ups.pop(req.decision.kind, None)
        self._handed[update_id] = self._moves
        self._pending = None
        return req

    async def log_decision(self, req: DecisionRequest, update_id: str) -> None:
        """The decision in the access log (``CoreActivities.record_decision``)."""
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
        self.flush_published()
        workflow.continue_as_new(inp.model_copy(update={"state": self.s}))

    def history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.s.policy.continue_as_new_after_events
        )
