"""Workflows and an activity that fail with personal data in their errors, for
tests/test_log_privacy.py (workflows live in an importable module: the sandbox
re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

# What a careless error message might carry: a name, a PNC ID, an offence.
PERSONAL = "Tomasz Nowak 17/120401P convicted of MURDER"


@activity.defn
async def fail_once_with_personal_data() -> str:
    if activity.info().attempt == 1:
        raise RuntimeError(f"gateway refused {PERSONAL}")
    return "done"


@workflow.defn
class FailingOnceWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            fail_once_with_personal_data,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


@workflow.defn
class FailingTaskWorkflow:
    @workflow.run
    async def run(self) -> str:
        # Not a Temporal failure: the workflow task fails (and is retried) instead.
        raise RuntimeError(f"bad state for {PERSONAL}")


@activity.defn
async def fail_in_the_case_store() -> str:
    """A case-store error no step translated: SQLAlchemy's message carries the statement
    and its parameters (here, personal data, and more than Temporal keeps)."""
    from sqlalchemy.exc import OperationalError

    params = {"name": PERSONAL, "padding": "x" * 20_000}
    raise OperationalError("INSERT INTO subject (name, padding) VALUES (?, ?)", params, None)


@workflow.defn
class StoreFailureWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            fail_in_the_case_store,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
