"""The baselines: bare workflows running as many no-op activities as the product's
most common path (a check that comes back "no trace"). Nothing runs at import: the
workflow module is re-imported in the worker's sandbox.

Two shapes are measured:

* **bare** — the activities one after the other, nothing else (the issue's baseline);
* **same shape** — the same activities plus what the product's no-trace history
  holds besides them. Since issue 22 the product's reply is *pushed*: the case asks
  ACRO, keeps one deadline timer for the check and waits for a signal carrying the
  reply (no poll loop). So the same-shape workflow, after its request activity, waits
  for a ``reply`` signal with a deadline timer (``workflow.wait_condition`` with a
  timeout: the timer is started, then cancelled when the signal comes), and the
  bench's own in-worker "world" (``BaselineWorld``) sends that signal a moment after
  the request, as the world service pushes an at-once reply. Its search attributes
  are set at the start (as intake sets them) and upserted once, when they change (the
  close); its patch markers are the product's (``workflow.patched``: a marker and the
  server's ``TemporalChangeVersion`` upsert each). It costs what Temporal itself costs
  for the product's process, so the product against it shows what the product's own
  code adds.

  The polled shape before issue 22 (a timer as long as the product's first poll,
  then a collection; an upsert when awaiting and one at the close) is kept as
  ``Shape.like_polled_no_trace`` (``--same-shape polled``).

**At merge** the shape is adjusted in one place, ``Shape.like_pushed_no_trace``: the
activities around the wait (``NO_TRACE_ACTIVITIES``, ``NO_TRACE_WAIT_AFTER``), the
patch markers the product records (``MARKERS``) and which upserts it makes
(``upserts``), so that the same-shape history has the event types of the product's
no-trace history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from models import search

# register_encounter, request_acro_check, collect_country_reply (since issue 22: the
# pushed reply read from the case store), close_encounter_record: the product's
# no-trace path (the bench checks this against the product's histories).
NO_TRACE_ACTIVITIES = 4
# Since issue 22: register_encounter and request_acro_check, then the close as a local
# activity (the reply comes as a signal; nothing is collected).
PUSHED_ACTIVITIES = 3
# The product waits for the reply after its second activity (the ACRO request).
NO_TRACE_WAIT_AFTER = 1
# The product's patch IDs, written again: the baseline's workflow module imports
# nothing of the product's worker. The front door's verdict on the start
# (processes.front_door.START_TRUSTED) and issue 21's tasks (workflows.changes.TASKS).
FRONT_DOOR_VERDICT = "fno-front-door-start"
TASKS_MARKER = "issue-21-tasks"
MARKERS = (FRONT_DOOR_VERDICT, TASKS_MARKER)
# Issue 22's (workflows.changes.REPLIES_PUSHED), recorded as the check is requested.
PUSHED_MARKERS = (*MARKERS, "issue-22-replies-pushed")
# The reply's signal (the product's own is workflows' business; the name is the bench's).
REPLY_SIGNAL = "bench_reply"

Wait = Literal["none", "timer", "reply_signal"]
Upsert = Literal["awaiting", "closed"]


@dataclass
class Shape:
    """What one baseline workflow does."""

    activities: int = NO_TRACE_ACTIVITIES
    # After this activity (0-based), wait: on a timer of ``wait_seconds`` ("timer"), or
    # for the reply's signal with a deadline timer of ``wait_seconds`` ("reply_signal").
    wait: Wait = "none"
    wait_after: int | None = None
    wait_seconds: float = 0.0
    # "reply_signal": the bench's world signals this long after the request activity.
    reply_after_seconds: float = 0.0
    # Search attributes at the start (the bench sets them), the product's patch markers,
    # and the upserts where the product's no-trace path makes them.
    search_attributes: bool = False
    markers: tuple[str, ...] = ()
    upserts: tuple[Upsert, ...] = field(default_factory=tuple)
    # The last activity as a local activity (the product's close since issue 22).
    local_last: bool = False

    @classmethod
    def bare(cls) -> Shape:
        """The product's no-trace activities (since issue 22, the close a local one)."""
        return cls(activities=PUSHED_ACTIVITIES, local_last=True)

    @classmethod
    def like_pushed_no_trace(cls, deadline_seconds: float, reply_after_seconds: float) -> Shape:
        """The product's no-trace path since issue 22: the reply pushed in."""
        return cls(
            wait="reply_signal",
            wait_after=NO_TRACE_WAIT_AFTER,
            wait_seconds=deadline_seconds,
            reply_after_seconds=reply_after_seconds,
            search_attributes=True,
            activities=PUSHED_ACTIVITIES,
            local_last=True,
            markers=PUSHED_MARKERS,
            upserts=("awaiting", "closed"),
        )

    @classmethod
    def like_polled_no_trace(cls, first_poll_seconds: float) -> Shape:
        """The product's no-trace path before issue 22: a poll of ACRO."""
        return cls(
            wait="timer",
            wait_after=NO_TRACE_WAIT_AFTER,
            wait_seconds=first_poll_seconds,
            search_attributes=True,
            markers=MARKERS,
            upserts=("awaiting", "closed"),
        )


@activity.defn(name="bench_noop")
def noop(step: str) -> str:
    """A synchronous activity (like the product's), on the same thread pool."""
    return step


class BaselineWorld:
    """The same-shape baseline's outside world, in its worker: the request activity
    (``bench_request``, synchronous like the product's) has the reply signalled to its
    workflow ``reply_after`` seconds later, as the world service pushes an at-once
    reply to the product."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.pending: set[asyncio.Task[None]] = set()

    async def _reply(self, workflow_id: str, after: float) -> None:
        await asyncio.sleep(after)
        await self.client.get_workflow_handle(workflow_id).signal(REPLY_SIGNAL, "no_trace")

    def _schedule(self, workflow_id: str, after: float) -> None:
        task = self.loop.create_task(self._reply(workflow_id, after))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def activity(self):  # type: ignore[no-untyped-def]
        @activity.defn(name="bench_request")
        def request(step: str, reply_after: float) -> str:
            workflow_id = activity.info().workflow_id or ""
            self.loop.call_soon_threadsafe(self._schedule, workflow_id, reply_after)
            return step

        return request


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    def __init__(self) -> None:
        self.reply: str | None = None

    @workflow.signal(name=REPLY_SIGNAL)
    def on_reply(self, reply: str) -> None:
        self.reply = reply

    @workflow.run
    async def run(self, shape: Shape) -> int:
        for marker in shape.markers:
            # The product records its front door's verdict on the start so (a marker,
            # and the server's TemporalChangeVersion upsert), and issue 21's tasks:
            # Temporal's cost, not ours.
            workflow.patched(marker)
        for i in range(shape.activities):
            if shape.wait == "reply_signal" and i == shape.wait_after:
                await workflow.execute_activity(
                    "bench_request",
                    args=[f"step-{i}", shape.reply_after_seconds],
                    start_to_close_timeout=timedelta(seconds=30),
                )
            elif shape.local_last and i == shape.activities - 1:
                await workflow.execute_local_activity(
                    noop, f"step-{i}", start_to_close_timeout=timedelta(seconds=30)
                )
            else:
                await workflow.execute_activity(
                    noop, f"step-{i}", start_to_close_timeout=timedelta(seconds=30)
                )
            if i == shape.wait_after:
                if "awaiting" in shape.upserts:
                    self.publish(None)
                if shape.wait == "timer":
                    await workflow.sleep(shape.wait_seconds)
                elif shape.wait == "reply_signal":
                    try:
                        await workflow.wait_condition(
                            lambda: self.reply is not None, timeout=shape.wait_seconds
                        )
                    except TimeoutError:  # the deadline passed: not in the bench's world
                        pass
        if "closed" in shape.upserts:
            self.publish("NO_TRACE")
        return shape.activities

    def publish(self, outcome: str | None) -> None:
        """What the product's upserts carry: the reply's deadline while waiting; the
        stage, the outcome and no deadline at the close."""
        if outcome is None:
            workflow.upsert_search_attributes(
                [search.NEXT_DEADLINE.value_set(workflow.now() + timedelta(days=28))]
            )
        else:
            workflow.upsert_search_attributes(
                [
                    search.STAGE.value_set("CLOSED"),
                    search.OUTCOME.value_set(outcome),
                    search.NEXT_DEADLINE.value_unset(),
                ]
            )


def start_attributes(kind: str = "baseline", force: str = "Benchshire") -> TypedSearchAttributes:
    """What intake sets at a case's start (``models.search.opening_search_attributes``),
    of a baseline ``kind`` (the same mix's: its branch as the force)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.CASE_KIND, kind),
            SearchAttributePair(search.STAGE, "AWAITING_COUNTRY_REPLY"),
            SearchAttributePair(search.NATIONALITY, "PL"),
            SearchAttributePair(search.FORCE, force),
        ]
    )
