"""Decisions are taken after the events that reached the case before them.

A workaround of an ordering fault of the Temporal Python SDK (seen on 1.35.0, its
Core as bundled), kept until the SDK settles it:

When one workflow task brings both history events (a timer fired, an activity
finished) and an update (a caseworker's ``decide``), the SDK runs the update first:
it validates the update against the state *before* those events and writes the
update's acceptance as the task's first command. But Core does not always deliver
them together when the task runs live: after a worker dies, its sticky workflow task
times out and the next one carries the timer and the update; a worker that had
already applied the timer (while answering a query, say) gets the timer in one
activation and the update in the next. The case then moves on with the timer first,
validates the decision against the new state, and writes the acceptance *after* the
timer's commands. On replay Core hands both over in one activation, the SDK puts the
update first, and the history no longer matches: ``[TMPRL1100] Nondeterminism error:
Update machine does not handle this event`` — a case no worker can replay
(``../shared/repro/nondeterminism-after-worker-kill/``; ``tests/test_interleaving.py``).

Every update request is sequenced after the history events of the task that brings
it (its ``acceptedRequestSequencingEventId`` is that task's scheduled event), so the
order that matches what happened is: the events first, then the updates. This module
makes the SDK keep that order in every activation, live and on replay: an activation
holding updates and other jobs is run as two — everything but the updates, then the
updates — and the two completions are sent as one. Live and replay then issue the
same commands whichever way Core splits the task.

``install()`` patches the SDK's workflow instance once per process (outside the
sandbox; the class is shared with it). ``workflows.WORKFLOWS`` installs it, so every
worker and replayer that runs our workflows has it. The SDK version is pinned in
``pyproject.toml``: a new SDK is taken deliberately, with the replay tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import temporalio
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import _workflow_instance

TESTED_SDK_VERSIONS = ("1.35.0",)
_MARK = "_fno_decisions_after_events"

_TERMINAL = (
    "complete_workflow_execution",
    "continue_as_new_workflow_execution",
    "fail_workflow_execution",
    "cancel_workflow_execution",
)


def needs_split(act: WorkflowActivation) -> bool:
    """True when ``act`` holds updates and other history jobs (not a first activation:
    an update sent with the start must see the workflow's initialisation)."""
    kinds = [job.WhichOneof("variant") for job in act.jobs]
    return (
        "do_update" in kinds
        and "initialize_workflow" not in kinds
        and any(k not in ("do_update", "notify_has_patch") for k in kinds)
    )


def split(act: WorkflowActivation) -> tuple[WorkflowActivation, WorkflowActivation]:
    """(everything but the updates, the updates alone), sharing the activation's
    time, replay flag, history length and flags. Patch notices go with the first."""
    first, updates = WorkflowActivation(), WorkflowActivation()
    first.CopyFrom(act)
    updates.CopyFrom(act)
    del first.jobs[:]
    del updates.jobs[:]
    for job in act.jobs:
        (updates if job.HasField("do_update") else first).jobs.append(job)
    return first, updates


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
        (i for i, c in enumerate(commands) if c.WhichOneof("variant") in _TERMINAL),
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


def ordered(
    activate: Callable[[Any, WorkflowActivation], WorkflowActivationCompletion],
) -> Callable[[Any, WorkflowActivation], WorkflowActivationCompletion]:
    def activate_events_then_updates(
        self: Any, act: WorkflowActivation
    ) -> WorkflowActivationCompletion:
        if not needs_split(act):
            return activate(self, act)
        first, updates = split(act)
        done = activate(self, first)
        if done.HasField("failed"):
            return done
        return merge(done, activate(self, updates))

    setattr(activate_events_then_updates, _MARK, activate)
    return activate_events_then_updates


def install() -> None:
    """Make every workflow instance of this process take updates after the other
    jobs of their activation (idempotent)."""
    impl = _workflow_instance._WorkflowInstanceImpl
    if getattr(impl.activate, _MARK, None) is not None:
        return
    impl.activate = ordered(impl.activate)  # type: ignore[method-assign,assignment]


def installed() -> bool:
    return getattr(_workflow_instance._WorkflowInstanceImpl.activate, _MARK, None) is not None


def sdk_version() -> str:
    return str(getattr(temporalio, "__version__", "unknown"))
