"""The baselines: bare workflows running as many no-op activities as the product's
most common path (a check that comes back "no trace"). Nothing runs at import: the
workflow module is re-imported in the worker's sandbox.

Two shapes are measured:

* **bare** — the activities one after the other, nothing else (the issue's baseline);
* **same shape** — the same activities plus what the product's no-trace history
  holds besides them: the wait for the country's reply (a timer between the ACRO
  request and the first collection, as long as the product's first poll), search
  attributes set at the start as intake sets them, a search-attribute upsert
  where the product makes one (awaiting the reply, closing), and the patch marker of
  the front door's verdict on the start (``workflow.patched``: a marker and the
  server's ``TemporalChangeVersion`` upsert). It costs what Temporal
  itself costs for the product's process, so the product against it shows what the
  product's own code adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from models import search

# register_encounter, request_acro_check, collect_country_reply, close_encounter_record:
# the product's no-trace path (the bench checks this against the product's histories).
NO_TRACE_ACTIVITIES = 4
# The product waits for the reply after its second activity (the ACRO request).
NO_TRACE_WAIT_AFTER = 1
# The product's patch ID (processes.front_door.START_TRUSTED), written again: the
# baseline's workflow module imports nothing of the product's worker.
FRONT_DOOR_VERDICT = "fno-front-door-start"


@dataclass
class Shape:
    """What one baseline workflow does."""

    activities: int = NO_TRACE_ACTIVITIES
    # Wait on a timer after this activity (0-based), for ``wait_seconds``; None: no wait.
    wait_after: int | None = None
    wait_seconds: float = 0.0
    # Search attributes at the start (the bench sets them) and upserted where the
    # product's no-trace path upserts them.
    search_attributes: bool = False

    @classmethod
    def bare(cls) -> Shape:
        return cls()

    @classmethod
    def like_no_trace(cls, first_poll_seconds: float) -> Shape:
        return cls(
            wait_after=NO_TRACE_WAIT_AFTER,
            wait_seconds=first_poll_seconds,
            search_attributes=True,
        )


@activity.defn(name="bench_noop")
def noop(step: str) -> str:
    """A synchronous activity (like the product's), on the same thread pool."""
    return step


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.run
    async def run(self, shape: Shape) -> int:
        if shape.search_attributes:
            # The product records its front door's verdict on the start so (a marker,
            # and the server's TemporalChangeVersion upsert): Temporal's cost, not ours.
            workflow.patched(FRONT_DOOR_VERDICT)
        for i in range(shape.activities):
            await workflow.execute_activity(
                noop, f"step-{i}", start_to_close_timeout=timedelta(seconds=30)
            )
            if i == shape.wait_after:
                if shape.search_attributes:
                    self.publish("AWAITING_COUNTRY_REPLY", None)
                await workflow.sleep(shape.wait_seconds)
        if shape.search_attributes:
            self.publish("CLOSED", "NO_TRACE")
        return shape.activities

    def publish(self, stage: str, outcome: str | None) -> None:
        """What the product's upserts carry: the reply's deadline while waiting; the
        stage, the outcome and no deadline at the close."""
        if outcome is None:
            workflow.upsert_search_attributes(
                [search.NEXT_DEADLINE.value_set(workflow.now() + timedelta(days=28))]
            )
        else:
            workflow.upsert_search_attributes(
                [
                    search.STAGE.value_set(stage),
                    search.OUTCOME.value_set(outcome),
                    search.NEXT_DEADLINE.value_unset(),
                ]
            )


def start_attributes() -> TypedSearchAttributes:
    """What intake sets at a case's start (``models.search.opening_search_attributes``)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.CASE_KIND, "baseline"),
            SearchAttributePair(search.STAGE, "AWAITING_COUNTRY_REPLY"),
            SearchAttributePair(search.NATIONALITY, "PL"),
            SearchAttributePair(search.FORCE, "Benchshire"),
        ]
    )
