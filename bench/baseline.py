"""The baseline: a bare workflow running as many no-op activities as the product's
most common path (a check that comes back "no trace"). Nothing runs at import: the
workflow module is re-imported in the worker's sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

# register_encounter, request_acro_check, collect_country_reply, close_encounter_record:
# the product's no-trace path (the bench checks this against the product's histories).
NO_TRACE_ACTIVITIES = 4


@activity.defn(name="bench_noop")
def noop(step: str) -> str:
    """A synchronous activity (like the product's), on the same thread pool."""
    return step


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for i in range(steps):
            await workflow.execute_activity(
                noop, f"step-{i}", start_to_close_timeout=timedelta(seconds=30)
            )
        return steps
