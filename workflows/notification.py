"""A notification: one UK conviction (or its amendment or deletion, s.1(7)) to one EU
state of nationality, to an outcome.

Started by the daily-file intake (or the reconciliation) once per conviction × state,
or change × state; the workflow ID is an HMAC, never a name or a PNC ID. The deadline
comes in the input (the UK-calendar rule, ``models.notification_policy``). Two branches:

- the channel: build the notification from the record (kept in the case store), send
  it through the state's channel (ECRIS) with retries, ask for the acknowledgement
  (soon, then daily) and chase when none comes, ``ack_max_chasers`` times;
- the escalation desk: unacknowledged a week before the deadline, a senior caseworker
  is asked (the ``decide`` update, kind ``notification_escalation``): keep trying
  (a chaser now, asked again a week later), receipt confirmed by other means, sent
  through another channel, or not required.

The acknowledgement, or the senior caseworker's decision, closes it; the outcome goes
to the case store, which supervisors count.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.base import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from models import search
    from models.case import Deadline, Outcome, Stage
    from models.decisions import DecisionRequest, NotificationEscalation
    from models.notification import (
        ESCALATION_OUTCOMES,
        NOTIFICATION_WORKFLOW,
        AckPoll,
        NotificationBuild,
        NotificationChaser,
        NotificationClosed,
        NotificationEscalated,
        NotificationInput,
        NotificationResult,
        NotificationSend,
        NotificationState,
    )
    from models.reference import country

N = NotificationActivities


@workflow.defn(name=NOTIFICATION_WORKFLOW)
class NotificationWorkflow(CaseWorkflow):
    kind = "notification"
    s: NotificationState

    @workflow.init
    def __init__(self, inp: NotificationInput) -> None:
        self._init_common()
        p = inp.policy
        self.s = inp.state or NotificationState(
            case_id=workflow.info().workflow_id,
            policy=p,
            stage=Stage.NOTIFICATION_TO_SEND,
            conviction_key=inp.conviction_key,
            country=inp.country,
            channel=country(inp.country).channel,
            force=inp.force,
            file_sequence=inp.file_sequence,
            conviction_document_id=inp.conviction_document_id,
            recorded_at=inp.recorded_at,
            # Computed by the starter (UK calendar: models.notification_policy); an
            # input recorded before has none and keeps the old rule.
            due_at=inp.due_at or inp.recorded_at + p.days(p.notify_within_days),
            kind=inp.kind,
            amends_notification_id=inp.amends_notification_id,
        )
        self._suspend = False

    @workflow.query
    def state(self) -> NotificationState:
        return self.s

    def extra_search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        pairs: list[SearchAttributeUpdate[Any]] = [search.NATIONALITY.value_set(self.s.country)]
        if self.s.force:
            pairs.append(search.FORCE.value_set(self.s.force))
        return pairs

    @property
    def name(self) -> str:
        return country(self.s.country).name

    def over(self) -> bool:
        return self.s.outcome is not None

    @workflow.run
    async def run(self, inp: NotificationInput) -> NotificationResult:
        if inp.state is None:
            self.open(inp.due_at is not None)
            self.count_opened()
        else:
            self.record("note", "Case continued with a fresh history; state carried over")
            self.refresh_stage()
        channel = asyncio.create_task(self.channel_desk())
        desk = asyncio.create_task(self.escalation_desk())
        await workflow.wait_condition(lambda: desk.done() and (channel.done() or self.over()))
        desk.result()
        if channel.done():
            channel.result()
        else:
            # Closed by a person while a step still runs (e.g. the channel is down): stop it.
            channel.cancel()
            try:
                await channel
            except (asyncio.CancelledError, ActivityError):
                pass
            self._sync_awaiting()
        if not self.over():
            # Both branches stopped at a wait of their own: the history is renewed.
            await self.renew(inp)
        return await self.close()

    # --- opening -------------------------------------------------------------------------
    def open(self, due_given: bool) -> None:
        s = self.s
        s.opened_at = workflow.now()
        s.escalate_at = s.first_escalation_at(s.opened_at, due_given)
        late = s.opened_at > s.due_at
        what = "Conviction" if s.kind == "conviction" else f"{s.kind.title()} of a conviction"
        self.record(
            "step",
            f"{what} recorded on the PNC on {s.recorded_at:%Y-%m-%d} (daily file "
            f"{s.file_sequence}): to be notified to {self.name} via {s.channel} by "
            f"{s.due_at:%Y-%m-%d %H:%M} UTC" + (" — already past the deadline" if late else ""),
            country=s.country,
            amends=s.amends_notification_id,
        )
        self.refresh_stage()

    def refresh_stage(self) -> None:
        s = self.s
        if self.over():
            return
        if s.escalation_open:
            self.set_stage(
                Stage.NOTIFICATION_ESCALATED,
                deadlines=[Deadline(name="notification deadline (28 days)", due_at=s.due_at)],
            )
        elif s.sent_at is None:
            self.set_stage(
                Stage.NOTIFICATION_TO_SEND,
                deadlines=[Deadline(name=f"notification to {s.country}", due_at=s.due_at)],
            )
        else:
            deadlines = [
                Deadline(name=name, due_at=due)
                for name, due in (
                    (f"acknowledgement from {s.country}", s.ack_due_at),
                    ("escalation if unacknowledged", s.escalate_at),
                )
                if due is not None
            ]
            self.set_stage(Stage.NOTIFICATION_AWAITING_ACK, deadlines=deadlines)

    # --- the channel ----------------------------------------------------------------------
    async def channel_desk(self) -> None:
        s, p = self.s, self.s.policy
        if s.message_document_id is None:
            built = await self.call(
                N.build_notification,
                NotificationBuild(
                    case_id=s.case_id,
                    idempotency_key=f"{s.case_id}/build",
                    as_of=workflow.now(),
                    conviction_document_id=s.conviction_document_id,
                    country=s.country,
                    channel=s.channel,
                    recorded_at=s.recorded_at,
                    kind=s.kind,
                    amends_notification_id=s.amends_notification_id,
                ),
                what="Building the notification",
            )
            s.message_document_id = built.document_id
            self.record(
                "step", f"Notification built for {self.name}", document_id=built.document_id
            )
        if s.sent_at is None and not self.over():
            await self.send()
        while not self.over():
            if self.history_is_long():
                self._suspend = True
            if self._suspend:
                return
            wake = s.next_poll_at()
            until = min(wake, s.ack_due_at) if s.ack_due_at is not None else wake
            await self.wait_until(lambda: self.over() or self._suspend, until)
            if self.over() or self._suspend:
                return
            now = workflow.now()
            if now >= wake and await self.poll_ack():
                return
            if s.ack_due_at is not None and workflow.now() >= s.ack_due_at:
                if s.chasers_sent < p.ack_max_chasers:
                    await self.chase()
                    s.ack_due_at = workflow.now() + p.days(p.ack_chaser_interval_days)
                else:
                    s.ack_due_at = None
                    assert s.escalate_at is not None
                    then = "" if s.escalation_open else f", escalation on {s.escalate_at:%Y-%m-%d}"
                    self.record(
                        "note",
                        f"No acknowledgement from {self.name} after {s.chasers_sent} "
                        f"chaser(s); still asked daily{then}",
                    )
                self.refresh_stage()

    async def send(self) -> None:
        s, p = self.s, self.s.policy
        assert s.message_document_id is not None
        sent = await self.call(
            N.send_notification,
            NotificationSend(
                case_id=s.case_id,
                idempotency_key=f"{s.case_id}/send",
                as_of=workflow.now(),
                country=s.country,
                channel=s.channel,
                message_document_id=s.message_document_id,
                due_at=s.due_at,
            ),
            what=f"Sending the notification to {s.country} via {s.channel}",
        )
        now = workflow.now()
        s.channel_ref, s.sent_at, s.sent_late = sent.ref, now, now > s.due_at
        s.last_polled_at = now
        s.ack_due_at = now + p.days(p.ack_due_days)
        days_left = (s.due_at - now) / p.days(1)
        self.record(
            "request",
            f"Notification sent to {self.name} via {s.channel}; "
            + (
                f"late: the deadline passed {-days_left:.0f} day(s) ago"
                if s.sent_late
                else f"{days_left:.0f} day(s) before the deadline"
            ),
            channel_ref=sent.ref,
        )
        self.refresh_stage()

    async def poll_ack(self) -> bool:
        s = self.s
        assert s.channel_ref is not None
        result = await self.call(
            N.collect_acknowledgement,
            AckPoll(
                case_id=s.case_id,
                channel_ref=s.channel_ref,
                country=s.country,
                as_of=workflow.now(),
            ),
            what=f"Collecting the acknowledgement from {s.country}",
        )
        s.polls += 1
        s.last_polled_at = workflow.now()
        if result.acknowledged_at is None:
            return False
        s.acknowledged_at = result.acknowledged_at
        if self.over():
            self.record("reply", f"Acknowledged by {self.name} (after the case was decided)")
            return True
        s.outcome = Outcome.NOTIFICATION_ACKNOWLEDGED
        self.record(
            "reply",
            f"Acknowledged by {self.name} on {result.acknowledged_at:%Y-%m-%d %H:%M}",
            country=s.country,
        )
        return True

    async def chase(self) -> None:
        s = self.s
        assert s.channel_ref is not None
        s.chasers_sent += 1
        await self.call(
            N.send_notification_chaser,
            NotificationChaser(
                case_id=s.case_id,
                idempotency_key=f"{s.case_id}/chaser/{s.chasers_sent}",
                as_of=workflow.now(),
                channel_ref=s.channel_ref,
                country=s.country,
                chaser_number=s.chasers_sent,
            ),
            what=f"Chaser to {s.country}",
        )
        self.record(
            "chaser",
            f"No acknowledgement from {s.country}: chaser {s.chasers_sent} sent",
            country=s.country,
        )

    # --- the escalation desk ---------------------------------------------------------------
    async def escalation_desk(self) -> None:
        s = self.s
        while not self.over():
            if not s.escalation_open:
                await self.wait_until(lambda: self.over() or self._suspend, s.escalate_at)
                if self.over() or self._suspend:
                    return
                await self.escalate()
            req = await self.next_decision(
                "notification_escalation", wake=lambda: self.over() or self._suspend
            )
            if req is None:
                return
            await self.act_on(req)

    async def escalate(self) -> None:
        s = self.s
        s.escalations += 1
        await self.call(
            N.escalate_notification,
            NotificationEscalated(
                case_id=s.case_id,
                idempotency_key=f"{s.case_id}/escalation/{s.escalations}",
                as_of=workflow.now(),
                escalation=s.escalations,
                due_at=s.due_at,
            ),
            what="Escalating to a senior caseworker",
        )
        s.escalation_open = True
        days = (workflow.now() - s.recorded_at) / s.policy.days(1)
        state = "sent, not acknowledged" if s.sent_at else "not yet sent"
        self.record(
            "step",
            f"Notification to {self.name} {state} {days:.0f} days after the conviction was "
            f"recorded: escalated to a senior caseworker (deadline {s.due_at:%Y-%m-%d})",
            escalation=s.escalations,
        )
        self.refresh_stage()

    async def act_on(self, req: DecisionRequest) -> None:
        s, p = self.s, self.s.policy
        d = req.decision
        assert isinstance(d, NotificationEscalation)
        s.escalation_open = False
        if d.action == "keep_trying":
            s.escalate_at = workflow.now() + p.days(p.re_escalate_days)
            self.refresh_stage()
            if s.channel_ref is not None:
                await self.chase()
            self.record(
                "note",
                f"Kept open: asked again on {s.escalate_at:%Y-%m-%d} if still unacknowledged",
            )
            self.refresh_stage()
            return
        s.outcome = ESCALATION_OUTCOMES[d.action]

    def check_decision(self, req: DecisionRequest) -> None:
        d = req.decision
        if isinstance(d, NotificationEscalation) and d.action == "sent_by_other_channel":
            if not d.channel:
                raise ApplicationError(
                    "Refused: say which channel the notification was sent through (channel=…)."
                )

    def describe_decision(self, req: DecisionRequest) -> str:
        d = req.decision
        if isinstance(d, NotificationEscalation):
            text = d.action.replace("_", " ")
            return f"Decision on the unacknowledged notification: {text}" + (
                f" ({d.channel})" if d.channel else ""
            )
        return super().describe_decision(req)

    # --- the outcome --------------------------------------------------------------------------
    async def close(self) -> NotificationResult:
        s = self.s
        assert s.outcome is not None
        s.closed_at = workflow.now()
        s.escalation_open = False
        await self.call(
            N.close_notification,
            NotificationClosed(
                case_id=s.case_id,
                idempotency_key=f"{s.case_id}/close",
                as_of=s.closed_at,
                outcome=s.outcome.value,
                closed_at=s.closed_at,
            ),
            what="Recording the outcome in the case store",
        )
        self.record("outcome", f"Notification closed: {s.outcome.value}")
        self.set_stage(Stage.CLOSED)
        return NotificationResult(notification_id=s.case_id, outcome=s.outcome.name)
