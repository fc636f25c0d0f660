"""The daily reconciliation of notifications out, run by a Temporal Schedule.

It compares what should have arrived with what did: every day's PNC file since the
anchor (missing, out of sequence, or holding fewer records than its header says),
and every conviction with a notification duty (no workflow in flight, not sent by its
deadline, or a workflow that ended without an outcome). Each gap becomes an alert —
a log line the first time, a row in ``fno notifications alerts`` and in the stuck-case
listing — the PNC is asked to send a missing or incomplete file again, and a missing
notification is started. ``processes.reconciliation_schedule`` creates the Schedule.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.base import SYSTEM_RETRY

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from models.reconciliation import (
        RECONCILIATION_WORKFLOW,
        ReconcileInput,
        ReconcileReport,
        ReconcileRequest,
    )

N = NotificationActivities


@workflow.defn(name=RECONCILIATION_WORKFLOW)
class NotificationReconciliationWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileReport:
        report = await workflow.execute_activity_method(
            N.reconcile_notifications,
            ReconcileRequest(
                as_of=workflow.now(),
                run_id=workflow.info().workflow_id,
                policy=inp.policy,
                anchor=inp.anchor,
            ),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=SYSTEM_RETRY,
        )
        findings, started = report.findings, report.started
        workflow.logger.info(
            "reconciliation: %d file(s) missing, %d incomplete, %d out of sequence, "
            "%d notification(s) started, %d new alert(s)",
            len(findings.missing_sequences),
            len(findings.incomplete_sequences),
            len(findings.out_of_sequence),
            started.started,
            len(findings.new_alerts) + len(started.new_alerts),
        )
        return report  # type: ignore[no-any-return]
