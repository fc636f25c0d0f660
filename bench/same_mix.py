"""The same-shape baseline of the product's whole mix (issue 22): for every branch of the
bench's mix (``bench.cases.BRANCHES``), a workflow doing what the product's history of
that branch holds, with no code of the product's — its activities as no-ops, its waits,
timers, signals, caseworker's updates, search-attribute upserts and patch markers, in
the product's order. Nothing runs at import: the module is passed through the sandbox
like the baseline's.

The no-trace path's same shape (``bench.baseline``) measures what Temporal costs for
83% of the cases; the other 17% do more (a not-serious case one activity more, a
serious one an encounter of 67 events and a Criminal Casework case of about 308, with
ten decisions sent as updates), so the product's Temporal work per case is more than
the no-trace shape's. Run over the same mix, this baseline costs what Temporal costs
for the product's process, and the product against it is what the product's own code
adds. ``tests/test_bench.py`` holds each branch's script to the product's history of
that branch, count by count of seven event types (activities, markers, upserts, signals
in and out, updates, timers).

A script is a list of ``Step``; its ``kind`` is one of:

* ``patch`` — ``workflow.patched`` (a marker and the server's TemporalChangeVersion);
* ``act`` — a no-op activity; ``act_timer`` — the same with a timer of ``seconds``
  started beside it and cancelled when it is done (the product's chasers' deadline);
* ``request`` — the check's request: its reply is signalled ``seconds`` later (none
  when ``seconds`` < 0), as the world service pushes it;
* ``wait_reply`` — the reply's deadline timer of ``seconds``, cancelled by the reply;
* ``timer`` — a timer that fires; ``upsert`` — a search-attribute upsert;
* ``local`` — a local activity (the product's close);
* ``decision`` — waiting for a caseworker's update (``decide``), with a follow-up timer
  of ``seconds`` and the awaiting role published; then the decision's activity;
* ``refer`` — an activity that starts the Criminal Casework script (signal-with-start,
  as the product's referral), then the wait for its ``concluded`` signal;
* ``conclude`` — the casework's outcome signalled to its encounter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client

with workflow.unsafe.imports_passed_through():
    from bench.baseline import MARKERS, REPLY_SIGNAL, BaselineWorld, noop, start_attributes
    from models import search

MIX_WORKFLOW = "BenchMix"
CONCLUDED_SIGNAL = "bench_concluded"
REFERRAL_SIGNAL = "bench_referral"
DECIDE_UPDATE = "bench_decide"
# The product's patch IDs beyond the encounter's (casework's own changes): their names
# do not matter to Temporal's cost, only their number; the product's are written out.
CASEWORK_MARKERS = (*MARKERS, "issue-21-casework", "issue-21-owners", "issue-21-io")
TIMEOUT = timedelta(seconds=30)
ENCOUNTER_KIND = "baseline-mix"
CASEWORK_KIND = "baseline-mix-casework"


@dataclass
class Step:
    kind: str
    seconds: float = 0.0
    name: str = ""


@dataclass
class Script:
    branch: str
    steps: list[Step]
    casework: list[Step] = field(default_factory=list)  # what ``refer`` starts
    parent: str = ""  # the encounter a casework script concludes to


def _s(kind: str, seconds: float = 0.0, name: str = "") -> Step:
    return Step(kind, seconds, name)


def scripts(day_seconds: float, reply_after: float) -> dict[str, Script]:
    """Each branch's script on the compressed policy of ``day_seconds`` (the product's
    timers, read off its histories, in days)."""
    d = day_seconds
    opening = [_s("patch", name=MARKERS[0]), _s("patch", name=MARKERS[1]), _s("act")]
    check = [_s("patch", name="issue-22-replies-pushed"), _s("request", reply_after)]
    waited = [*opening, *check, _s("upsert"), _s("wait_reply", 33 * d)]
    # A non-EU reply comes on day 66, within its longer deadline: the same events.
    non_eu_check = [_s("patch", name="issue-22-replies-pushed"), _s("request", 66 * d)]
    non_eu = [*opening, *non_eu_check, _s("upsert"), _s("wait_reply", 120 * d)]
    close = [_s("local"), _s("upsert")]
    no_trace = [*waited, *close]
    not_serious = [*waited, _s("act"), *close]
    # No reply: the deadline, two chasers 14 days apart, the late-reply window.
    eu_none = [
        *opening,
        _s("patch", name="issue-22-replies-pushed"),
        _s("request", -1.0),
        _s("upsert"),
        _s("timer", 33 * d),
        _s("local"),
        _s("upsert"),
        _s("timer", 14 * d),
        _s("local"),
        _s("upsert"),
        _s("timer", 14 * d),
        _s("upsert"),
        _s("timer", 365 * d),
        *close,
    ]
    # The serious encounter: convictions recorded, further details asked and collected,
    # referred to Criminal Casework; closed when the casework concludes.
    serious = [
        *waited,
        _s("act"),
        _s("act"),
        _s("upsert"),
        _s("timer", d),
        _s("act"),
        _s("refer"),
        *close,
    ]
    return {
        "no_trace": Script("no_trace", no_trace),
        "not_serious": Script("not_serious", not_serious),
        "serious": Script("serious", serious, casework=casework(d)),
        "eu_no_response": Script("eu_no_response", eu_none),
        "non_eu": Script("non_eu", [*non_eu, *close]),
    }


def casework(d: float) -> list[Step]:
    """The Criminal Casework case of the bench's serious branch (deported): seven
    opening activities, ten decisions (allocation, subject located, the located
    checklist, detention, stage 1, deportation, the order, removal), the steps between
    them, the outcome."""
    steps = [_s("patch", name=m) for m in CASEWORK_MARKERS[:3]]
    steps += [_s("act"), _s("upsert"), _s("act"), _s("act"), _s("act"), _s("act")]
    steps += [_s("upsert"), _s("act"), _s("act")]
    follow_up = 7 * d
    steps += [_s("decision", follow_up), _s("patch", name=CASEWORK_MARKERS[3])]
    steps += [_s("patch", name=CASEWORK_MARKERS[4]), _s("decision", 4 * d)]
    steps += [_s("patch", name="issue-21-ice"), _s("act"), _s("upsert"), _s("act")]
    steps += [_s("patch", name="issue-21-checklist"), _s("decision", follow_up)]
    steps += [_s("act_timer", 200 * d), _s("decision", follow_up)]
    steps += [_s("decision", follow_up), _s("decision", follow_up)]
    steps += [_s("patch", name="issue-21-stage1"), _s("decision", follow_up)]
    steps += [_s("act_timer", 200 * d), _s("upsert"), _s("timer", 14 * d)]
    steps += [_s("patch", name="issue-21-removal"), _s("decision", follow_up)]
    steps += [_s("decision", 14 * d)]
    steps += [_s("act_timer", 200 * d), _s("act"), _s("decision", 28 * d)]
    steps += [_s("act_timer", 200 * d), _s("act"), _s("upsert"), _s("conclude")]
    return steps


class MixWorld(BaselineWorld):
    """The same mix's outside world, in its worker: the request activity has the reply
    signalled later (``BaselineWorld``'s), the referral activity starts the casework
    script with its referral signal."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop, task_queue: str):
        super().__init__(client, loop)
        self.task_queue = task_queue

    def activities(self):  # type: ignore[no-untyped-def]
        @activity.defn(name="bench_mix_request")
        def request(after: float) -> str:
            if after >= 0:
                workflow_id = activity.info().workflow_id or ""
                self.loop.call_soon_threadsafe(self._schedule, workflow_id, after)
            return "asked"

        @activity.defn(name="bench_mix_refer")
        async def refer(script: Script) -> str:
            casework_id = f"{script.parent}-casework"
            await self.client.start_workflow(
                MIX_WORKFLOW,
                script,
                id=casework_id,
                task_queue=self.task_queue,
                start_signal=REFERRAL_SIGNAL,
                search_attributes=start_attributes(CASEWORK_KIND, "casework"),
            )
            return casework_id

        return [request, refer]


@workflow.defn(name=MIX_WORKFLOW)
class MixWorkflow:
    def __init__(self) -> None:
        self.reply: str | None = None
        self.concluded = False
        self.decisions = 0
        self.awaiting = False  # a decision step waits: an update is taken, else refused

    @workflow.signal(name=REPLY_SIGNAL)
    def on_reply(self, reply: str) -> None:
        self.reply = reply

    @workflow.signal(name=CONCLUDED_SIGNAL)
    def on_concluded(self) -> None:
        self.concluded = True

    @workflow.signal(name=REFERRAL_SIGNAL)
    def on_referral(self) -> None:
        pass

    @workflow.update(name=DECIDE_UPDATE)
    def decide(self) -> int:
        self.decisions += 1
        self.awaiting = False
        return self.decisions

    @decide.validator
    def _awaited(self) -> None:
        """Refused (nothing in history) unless a decision is awaited, as the product's
        decisions are: a caseworker looking at a lagging list sends nothing twice."""
        if not self.awaiting:
            raise ValueError("no decision is awaited")

    @workflow.run
    async def run(self, script: Script) -> int:
        taken = 0
        for step in script.steps:
            k = step.kind
            if k == "patch":
                workflow.patched(step.name)
            elif k == "act":
                await workflow.execute_activity(noop, k, start_to_close_timeout=TIMEOUT)
            elif k == "act_timer":
                deadline = asyncio.ensure_future(workflow.sleep(step.seconds))
                await workflow.execute_activity(noop, k, start_to_close_timeout=TIMEOUT)
                deadline.cancel()
            elif k == "request":
                await workflow.execute_activity(
                    "bench_mix_request", step.seconds, start_to_close_timeout=TIMEOUT
                )
            elif k == "wait_reply":
                await self._until(lambda: self.reply is not None, step.seconds)
            elif k == "timer":
                await workflow.sleep(step.seconds)
            elif k == "upsert":
                self._publish(taken)
            elif k == "local":
                await workflow.execute_local_activity(noop, k, start_to_close_timeout=TIMEOUT)
            elif k == "decision":
                taken += 1
                workflow.upsert_search_attributes([search.AWAITING_ROLE.value_set(["caseworker"])])
                await self._decided(taken, step.seconds)
                workflow.upsert_search_attributes([search.AWAITING_ROLE.value_unset()])
                await workflow.execute_activity(noop, k, start_to_close_timeout=TIMEOUT)
            elif k == "refer":
                child = Script(f"{script.branch}-casework", script.casework, parent=_own_id())
                await workflow.execute_activity(
                    "bench_mix_refer", child, start_to_close_timeout=TIMEOUT
                )
                self._publish(taken)
                await workflow.wait_condition(lambda: self.concluded)
            elif k == "conclude":
                await workflow.get_external_workflow_handle(script.parent).signal(CONCLUDED_SIGNAL)
            else:
                raise ValueError(f"unknown step {k!r}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return len(script.steps)

    async def _decided(self, taken: int, follow_up: float) -> None:
        """The ``taken``-th decision, its follow-up timer of ``follow_up`` started (it
        fires, and the wait goes on, or the update cancels it)."""
        self.awaiting = self.decisions < taken
        await self._until(lambda: self.decisions >= taken, follow_up)
        await workflow.wait_condition(lambda: self.decisions >= taken)

    async def _until(self, done: Callable[[], bool], seconds: float) -> None:
        """Wait for ``done`` with a timer of ``seconds`` (cancelled if ``done`` first)."""
        try:
            await workflow.wait_condition(done, timeout=seconds)
        except TimeoutError:
            pass

    def _publish(self, step: int) -> None:
        workflow.upsert_search_attributes(
            [search.NEXT_DEADLINE.value_set(workflow.now() + timedelta(days=28 + step))]
        )


def _own_id() -> str:
    return workflow.info().workflow_id


__all__ = ["MixWorkflow", "MixWorld", "Script", "Step", "noop", "scripts"]
