"""A tiny workflow and activity that log, for tests/test_runtime.py.

Workflows must live in an importable module (the sandbox re-imports it), not in a
test module run as ``__main__``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from runtime.logs import get_logger


@activity.defn
async def log_in_activity(marker: str) -> str:
    get_logger("tests.support").info("structlog line in activity", marker=marker)
    activity.logger.info("sdk line in activity")
    return marker


@activity.defn
def log_in_sync_activity(marker: str) -> str:
    get_logger("tests.support").info("structlog line in sync activity", marker=marker)
    return marker


@workflow.defn
class LoggingWorkflow:
    @workflow.run
    async def run(self, marker: str) -> str:
        workflow.logger.info("sdk line in workflow")
        await workflow.execute_activity(
            log_in_activity, marker, start_to_close_timeout=timedelta(seconds=30)
        )
        return await workflow.execute_activity(
            log_in_sync_activity, marker, start_to_close_timeout=timedelta(seconds=30)
        )
