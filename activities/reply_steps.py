"""The activities of replies pushed in (issue 22): the ACRO request recorded for the
route, the in-process world's post office, and the safety net's run.

- ``request_acro_check``: ACRO asked (once per key); a request whose reply is pushed
  (``AcroCheckRequest.pushed``) is recorded in ``acro_request`` (request -> workflow),
  and where the in-process simulator is the world (``world_posts_replies``: tests, a
  worker without a world service) its post office is told: a ``world_reply_delivery``
  workflow, ``world-reply-<request_ref>``, asleep until the world has the reply.
- ``post_world_reply``: the post office's delivery (``deliver_reply``); a world told to
  drop the reply (``drop_reply``, tests) delivers nothing: the safety net finds it.
- ``reconcile_acro_replies``: the safety net reads ACRO's log of replies sent once,
  fetches those of outstanding requests not received and delivers them
  (``deliver_reply``: idempotent); counts only.

Part of ``CaseActivities`` (``activities.steps``); the rules there hold here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from temporalio import activity
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.core import as_of, refusals_surface
from activities.gateways import Gateways
from activities.replies_in import deliver_reply
from models.replies import (
    REPLY_POST_PREFIX,
    REPLY_POST_WORKFLOW,
    PostReply,
    ReplyPost,
    ReplyReconcileReport,
    ReplyReconcileRun,
)
from models.steps import AcroCheckRequest, AcroRequestRef
from store.cases import CaseStore

log = structlog.get_logger("fno.activities")
FETCHES_AT_ONCE = 8  # the safety net's questions to ACRO in flight at once
MIN_HORIZON = timedelta(hours=6)  # the safety net looks back at least this far (wall clock)


class ReplyActivities:
    """Over the gateways (``g``) and the case store (``store``), set by ``CaseActivities``."""

    g: Gateways
    store: CaseStore
    # The in-process world posts replies (None: decided by the gateway, the simulator's
    # ``reply_due_at``); a world service pushes its own over HTTP.
    world_posts_replies: bool | None = None
    # Tests: the world drops the reply to these requests (the safety net finds them).
    drop_reply: Callable[[str], bool] | None = None

    @refusals_surface
    def _request_check(self, req: AcroCheckRequest) -> AcroRequestRef:
        ref = self.g.acro.request_check(
            req.idempotency_key,
            req.case_id,
            req.subject_key,
            req.country,
            req.purpose,
            as_of(req.as_of),
            {
                "reason": req.reason,
                "uk_matter": req.uk_matter,
                "channel": req.channel,
                # The identity data the country matches on (the disclosure logged below).
                "subject": req.subject.model_dump(mode="json"),
            },
        )
        self.store.log(
            actor=req.case_id,
            role="system",
            action="disclosure",
            case_id=req.case_id,
            justification=f"identity data sent to {req.country} via ACRO ({req.purpose}): "
            f"request {ref}",
            act_key=f"disclosure:{req.idempotency_key}",
        )
        if req.pushed:  # the route finds the case from this row
            self.store.record_acro_request(
                ref,
                workflow_id=req.case_id,
                country=req.country,
                purpose=req.purpose,
                requested_at=as_of(req.as_of),
            )
        log.info("acro check requested", country=req.country, purpose=req.purpose, ref=ref)
        return AcroRequestRef(request_ref=ref)

    @activity.defn(name="request_acro_check")
    async def request_acro_check(self, req: AcroCheckRequest) -> AcroRequestRef:
        ref = await asyncio.to_thread(self._request_check, req)
        if req.pushed and self._world_posts():
            await self._post_when_due(ref.request_ref, as_of(req.as_of))
        if req.pushed:
            await self._deliver_kept(ref.request_ref)
        return ref

    async def _deliver_kept(self, request_ref: str) -> None:
        """A reply that came before this request's row (kept as to an unknown request:
        the request's answer was lost, the retry wrote the row) is delivered now."""
        if not await asyncio.to_thread(self.store.kept_unknown_replies, request_ref):
            return
        reply = await asyncio.to_thread(self.g.acro.fetch_reply, request_ref, datetime.now(UTC))
        if reply is not None:
            status = await deliver_reply(self.store, activity.client(), reply)
            log.info("kept reply delivered", request_ref=request_ref, status=status)

    def _world_posts(self) -> bool:
        if self.world_posts_replies is not None:
            return self.world_posts_replies
        return hasattr(self.g.acro, "reply_due_at")

    async def _post_when_due(self, request_ref: str, asked_at: datetime) -> None:
        due = await asyncio.to_thread(self.g.acro.reply_due_at, request_ref, asked_at)  # type: ignore[attr-defined]
        if due is None:
            return  # the country never replies
        try:
            await activity.client().start_workflow(
                REPLY_POST_WORKFLOW,
                ReplyPost(request_ref=request_ref, due_at=due),
                id=f"{REPLY_POST_PREFIX}{request_ref}",
                task_queue=activity.info().task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary="The simulated world's reply, delivered when due",
            )
        except WorkflowAlreadyStartedError:
            pass  # posted already (a retry): it delivers once

    @activity.defn(name="post_world_reply")
    async def post_world_reply(self, post: PostReply) -> str:
        if self.drop_reply is not None and self.drop_reply(post.request_ref):
            log.info("world dropped a reply", request_ref=post.request_ref)
            return "dropped"
        reply = await asyncio.to_thread(self.g.acro.fetch_reply, post.request_ref, post.as_of)
        if reply is None:
            return "none"
        return await deliver_reply(self.store, activity.client(), reply)

    @activity.defn(name="reconcile_acro_replies")
    async def reconcile_acro_replies(self, run: ReplyReconcileRun) -> ReplyReconcileReport:
        day = timedelta(seconds=run.day_seconds)
        # A request is recorded at its first try's time, its case's wait starts when a
        # try succeeds: retries and outages run on the wall clock, not in the policy's
        # days (SYSTEM_RETRY waits up to five minutes a try), and a compressed day turns
        # minutes of them into months. The horizon is never shorter than MIN_HORIZON.
        horizon = max(day * run.horizon_days, MIN_HORIZON)
        window = {
            "requested_before": run.as_of - day * run.grace_days,
            "requested_after": run.as_of - horizon,
        }
        outstanding = await asyncio.to_thread(
            lambda: self.store.count_outstanding_acro_requests(**window)
        )
        # ACRO's log of the replies it sent over the same span: only those not received
        # are asked for (one call a run, not one per outstanding request).
        # ACRO unavailable: this run ends at once, the next one asks again (a retry here
        # would hold the schedule's next runs back: they are skipped while one runs).
        try:
            sent = await asyncio.to_thread(
                self.g.acro.replies_sent, window["requested_after"], window["requested_before"]
            )
        except Exception as err:
            log.warning("reconciliation: ACRO's log not read", error_type=type(err).__name__)
            return ReplyReconcileReport(failed=1, still_outstanding=outstanding)
        # From ACRO's list, not from the oldest outstanding requests: those a country
        # never answers must not crowd out the answered ones (``limit`` a run, oldest
        # first; the next run takes the rest).
        unreplied = await asyncio.to_thread(
            lambda: self.store.unreplied_among(sorted(set(sent)), **window)
        )
        missing = unreplied[: run.limit]
        report = ReplyReconcileReport(
            asked=len(missing), still_outstanding=max(outstanding - len(missing), 0)
        )
        gate = asyncio.Semaphore(FETCHES_AT_ONCE)  # a slow ACRO: a run still ends soon

        async def settle(request_ref: str) -> None:
            async with gate:
                activity.heartbeat(report.asked)
                try:
                    reply = await asyncio.to_thread(self.g.acro.fetch_reply, request_ref, run.as_of)
                    if reply is None:
                        report.still_outstanding += 1
                        return
                    report.found += 1
                    status = await deliver_reply(self.store, activity.client(), reply)
                except Exception as err:  # the next run asks again
                    report.failed += 1
                    log.warning("reconciliation: not settled", error_type=type(err).__name__)
                    return
            if status == "delivered":
                report.delivered += 1
            elif status == "duplicate":
                report.duplicate += 1
            else:
                report.kept += 1

        await asyncio.gather(*(settle(ref) for ref in missing))
        log.info("acro replies reconciled", **report.model_dump())
        return report
