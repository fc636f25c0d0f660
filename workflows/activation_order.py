"""A decision sent after a case's events is judged after them, live and on replay.

A workaround of an ordering fault of the Temporal Python SDK (seen on 1.35.0, its
Core as bundled), kept until the SDK settles it.

When one workflow task brings both history events (a timer fired, an activity
finished, a signal) and an update (a caseworker's ``decide``), the SDK validates and
accepts the update first, against the state *before* those events. After a worker
dies that is what usually happens: the timer fires with no worker, the decision
arrives, the next worker gets both in one task; a decision the case expects only
once the timer has fired (the deportation decision when the Stage 1 window closes)
is refused. But live, Core does not always hand both over together: a worker can get
the timer in one activation and the update in the next, judge the decision after
the timer, accept it, and write the acceptance *after* the timer's commands. On
replay Core hands both over in one activation, the SDK puts the update first, and
the history no longer matches — ``[TMPRL1100] Nondeterminism error: Update machine
does not handle this event``: a case no worker can replay
(``tests/histories/after_worker_kill/``, ``tests/test_interleaving.py``).

Core groups such a task differently from one delivery to the next (together, the
timer first, in a query's replay otherwise again), so no order of the two is safe.
The rules here:

- **Live, a decision never shares a workflow task with other events.** An update
  that arrives in an activation with other jobs, or in a later activation of a task
  that already took events, is *deferred*: refused with the type ``DecisionDeferred``
  (nothing of it reaches the history), while the events are taken. The sender sends
  it again (``access.decisions.send_decision`` does, within moments) and the case takes
  it in a task of its own, judged on the state after the events — the deportation
  decision sent once the Stage 1 window closed is taken, not refused because no
  worker was up when the window closed. Every history written so has each accepted
  update alone in its task, and replays however Core groups it.
- **On replay of a task that took a decision with other events** (written before
  this rule, by the SDK or by Core's live split): an update the case accepts on its
  state before the events goes first, as the SDK always did, so every history the SDK
  wrote still replays; one the case refuses there is run after them (the activation
  runs as two, the completions go as one) — it can only have been taken after them,
  and so the histories Core wrote events-first replay. The test is the update's
  validator, run read-only as the SDK runs it, on the state before the events.
  What this cannot mend: an events-first history whose decision the case would have
  accepted before the events as well; such a case is listed as stuck
  (``cannot_replay``) for an operator to reset.

``install()`` patches the SDK's workflow instance once per process (outside the
sandbox; the class is shared with it). ``workflows.WORKFLOWS`` installs it, so every
worker and replayer that takes our workflows from there has it;
``processes.worker.make_worker`` checks.
The SDK version is pinned in ``pyproject.toml``: a new SDK is taken deliberately,
with the replay tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import temporalio
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.exceptions import ApplicationError
from temporalio.worker import HandleUpdateInput, _workflow_instance

TESTED_SDK_VERSIONS = ("1.35.0",)
_MARK = "_fno_decisions_after_events"
_EVENTS_AT = "_fno_events_at_history_length"

_TERMINAL = (
    "complete_workflow_execution",
    "continue_as_new_workflow_execution",
    "fail_workflow_execution",
    "cancel_workflow_execution",
)


def ends_workflow(command: Any) -> bool:
    return command.WhichOneof("variant") in _TERMINAL


def mixed(act: WorkflowActivation) -> bool:
    """True when ``act`` holds updates and other history jobs (not a first activation:
    an update sent with the start must see the workflow's initialisation)."""
    kinds = [job.WhichOneof("variant") for job in act.jobs]
    return "do_update" in kinds and "initialize_workflow" not in kinds and takes_events(act)


def split(
    act: WorkflowActivation, later: set[str]
) -> tuple[WorkflowActivation, WorkflowActivation]:
    """(everything but the updates whose IDs are in ``later``, those updates alone),
    both with the activation's time, replay flag, history length and flags."""
    first, updates = WorkflowActivation(), WorkflowActivation()
    first.CopyFrom(act)
    updates.CopyFrom(act)
    del first.jobs[:]
    del updates.jobs[:]
    for job in act.jobs:
        goes_later = job.HasField("do_update") and job.do_update.id in later
        (updates if goes_later else first).jobs.append(job)
    return first, updates


def accepted_now(instance: Any, act: WorkflowActivation, job: Any) -> bool:
    """Would the workflow accept update ``job`` on its state before ``act``'s events?
    Its validator, run read-only as the SDK runs it, at the activation's time."""
    update = job.do_update
    defn = instance._updates.get(update.name) or instance._updates.get(None)
    if defn is None or defn.validator is None:
        return True
    try:
        args = instance._process_handler_args(
            update.name, update.input, defn.name, defn.arg_types, defn.dynamic_vararg
        )
    except Exception:
        return True  # the SDK refuses it as it always did
    instance._time_ns = act.timestamp.ToNanoseconds()
    instance._is_replaying = act.is_replaying
    asyncio._set_running_loop(instance)
    try:
        with instance._as_read_only(in_query_or_validator=True):
            instance._inbound.handle_update_validator(
                HandleUpdateInput(
                    id=update.id, update=update.name, args=args, headers=update.headers
                )
            )
    except Exception:
        return False
    finally:
        asyncio._set_running_loop(None)
    return True


def merge(
    first: WorkflowActivationCompletion, updates: WorkflowActivationCompletion
) -> WorkflowActivationCompletion:
    """One completion of the two halves. A failed half fails the task (retried); the
    updates' responses go before a command that ends the workflow."""
    if first.HasField("failed"):
        return first
    if updates.HasField("failed"):
        return updates
    merged = WorkflowActivationCompletion()
    merged.CopyFrom(first)
    commands = list(first.successful.commands)
    cut = next(
        (i for i, c in enumerate(commands) if ends_workflow(c)),
        len(commands),
    )
    del merged.successful.commands[:]
    merged.successful.commands.extend(commands[:cut])
    merged.successful.commands.extend(updates.successful.commands)
    merged.successful.commands.extend(commands[cut:])
    for flag in updates.successful.used_internal_flags:
        if flag not in merged.successful.used_internal_flags:
            merged.successful.used_internal_flags.append(flag)
    if updates.successful.versioning_behavior and not merged.successful.versioning_behavior:
        merged.successful.versioning_behavior = updates.successful.versioning_behavior
    return merged


DEFERRED = "DecisionDeferred"  # the ApplicationError type of a deferred decision
ENDED = "CaseEnded"


def refused(
    instance: Any, updates: WorkflowActivation, *, why: str = ENDED
) -> WorkflowActivationCompletion:
    """A completion refusing every update of ``updates``, as a validator would:
    ``DEFERRED`` (send it again: ``access.decisions.send_decision`` does) or ``ENDED``."""
    message = (
        "Deferred: the case was taking in other events as this decision arrived; send it again."
        if why == DEFERRED
        else "Refused: the case ended before it could take this decision."
    )
    completion = WorkflowActivationCompletion()
    completion.successful.SetInParent()
    for job in updates.jobs:
        command = completion.successful.commands.add()
        command.update_response.protocol_instance_id = job.do_update.protocol_instance_id
        instance._workflow_context_failure_converter.to_failure(
            ApplicationError(message, type=why, non_retryable=True),
            instance._workflow_context_payload_converter,
            command.update_response.rejected,
        )
    return completion


def takes_events(act: WorkflowActivation) -> bool:
    return any(
        job.WhichOneof("variant") not in ("do_update", "notify_has_patch", "query_workflow")
        for job in act.jobs
    )


def ordered(
    activate: Callable[[Any, WorkflowActivation], WorkflowActivationCompletion],
) -> Callable[[Any, WorkflowActivation], WorkflowActivationCompletion]:
    def activate_judging_decisions_in_order(
        self: Any, act: WorkflowActivation
    ) -> WorkflowActivationCompletion:
        if getattr(self, "_object", None) is None:  # the first activation
            return activate(self, act)
        updates_live = [
            j for j in act.jobs if j.HasField("do_update") and j.do_update.run_validator
        ]
        if updates_live and (mixed(act) or getattr(self, _EVENTS_AT, None) == act.history_length):
            # Live, a decision never shares a workflow task with other events: it is
            # deferred, and taken in a task of its own when sent again.
            later = {j.do_update.id for j in updates_live}
            first, updates = split(act, later)
            done = activate(self, first) if first.jobs else None
            if done is not None and done.HasField("failed"):
                return done
            if first.jobs and takes_events(first):
                setattr(self, _EVENTS_AT, act.history_length)
            deferred = refused(self, updates, why=DEFERRED)
            return deferred if done is None else merge(done, deferred)
        if takes_events(act):
            setattr(self, _EVENTS_AT, act.history_length)
        if not mixed(act):
            return activate(self, act)
        # Replay of a task that took a decision with other events (written before the
        # rule above): the SDK's order, unless the case refuses the decision before the
        # events — then it can only have been taken after them.
        later = {
            job.do_update.id
            for job in act.jobs
            if job.HasField("do_update") and not accepted_now(self, act, job)
        }
        if not later:
            return activate(self, act)
        first, updates = split(act, later)
        done = activate(self, first)
        if done.HasField("failed"):
            return done
        if any(ends_workflow(c) for c in done.successful.commands):
            # The events ended the workflow: the updates come too late for it.
            return merge(done, refused(self, updates))
        return merge(done, activate(self, updates))

    setattr(activate_judging_decisions_in_order, _MARK, activate)
    return activate_judging_decisions_in_order


def install() -> None:
    """Make every workflow instance of this process judge an update it refuses before
    its activation's events after them (idempotent)."""
    impl = _workflow_instance._WorkflowInstanceImpl
    if getattr(impl.activate, _MARK, None) is not None:
        return
    impl.activate = ordered(impl.activate)  # type: ignore[method-assign,assignment]


def installed() -> bool:
    return getattr(_workflow_instance._WorkflowInstanceImpl.activate, _MARK, None) is not None


def sdk_version() -> str:
    return str(getattr(temporalio, "__version__", "unknown"))
