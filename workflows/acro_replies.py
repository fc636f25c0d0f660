"""Replies pushed in (issue 22), the workflows beside the cases:

- ``AcroReplyReconciliationWorkflow``: the safety net, run by a Temporal Schedule
  (``processes.acro_reconciliation_schedule``; daily, every simulated day on a
  compressed policy), not per case: ACRO is asked about every outstanding request (no
  reply delivered, older than a grace period) and what it has is delivered as a
  pushed reply would be (``activities.replies_in.deliver_reply``: idempotent). It
  reports counts (found, still outstanding), nothing of any case.
- ``ReplyDeliveryWorkflow``: the in-process world's post office (tests; a worker with
  the simulator in it), one per request (``world-reply-<request_ref>``): asleep until
  the world has the reply (a time-skipping server moves the clock to exactly then),
  then the reply delivered. A world service pushes its own replies over HTTP instead;
  then nothing starts this workflow.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.base import SYSTEM_RETRY

with workflow.unsafe.imports_passed_through():
    from activities.steps import CaseActivities
    from models.replies import (
        ACRO_RECONCILIATION_WORKFLOW,
        REPLY_POST_WORKFLOW,
        PostReply,
        ReplyPost,
        ReplyReconcileInput,
        ReplyReconcileReport,
        ReplyReconcileRun,
    )

A = CaseActivities


@workflow.defn(name=ACRO_RECONCILIATION_WORKFLOW)
class AcroReplyReconciliationWorkflow:
    @workflow.run
    async def run(self, inp: ReplyReconcileInput) -> ReplyReconcileReport:
        p = inp.policy
        report = await workflow.execute_activity_method(
            A.reconcile_acro_replies,
            ReplyReconcileRun(
                as_of=workflow.now(),
                grace_days=p.reply_reconcile_grace_days,
                horizon_days=p.reply_reconcile_horizon_days,
                day_seconds=p.day_seconds,
            ),
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=SYSTEM_RETRY,
        )
        workflow.logger.info(
            "acro replies reconciled: %d asked, %d found, %d still outstanding",
            report.asked,
            report.found,
            report.still_outstanding,
        )
        return report  # type: ignore[no-any-return]


@workflow.defn(name=REPLY_POST_WORKFLOW)
class ReplyDeliveryWorkflow:
    @workflow.run
    async def run(self, post: ReplyPost) -> str:
        wait = post.due_at - workflow.now()
        if wait > timedelta(0):
            await workflow.sleep(wait)
        return await workflow.execute_activity_method(  # type: ignore[no-any-return]
            A.post_world_reply,
            PostReply(request_ref=post.request_ref, as_of=max(workflow.now(), post.due_at)),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=SYSTEM_RETRY,
        )
