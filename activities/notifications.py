"""Activities of notifications out.

They talk through the gateways of ``activities.notification_gateways`` (the EU states'
channel, the PNC feed) and keep their progress in the notification store.
Same rules as ``activities.steps``: every change carries an idempotency key made from
the notification and the step, a gateway does it once per key; a permanent refusal
becomes a non-retryable failure the case shows and a caseworker resumes.
The reconciliation is one activity, ``reconcile_notifications``: the case store
(files missing, out of sequence or incomplete; convictions without a notification in
flight; re-sends asked of the PNC), then Temporal (start what is missing, and check
each open notification still has a running workflow) — ``activities.reconciliation``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.core import PERMANENT, activity_methods
from activities.core import refusals_surface as _refusals_surface
from activities.gateways import PermanentGatewayError
from activities.notification_gateways import NotificationChannel, PncFeed
from activities.reconciliation import find_gaps, start_and_check
from models.notification import (
    AckPoll,
    AckResult,
    ChannelRef,
    NotificationBuild,
    NotificationChaser,
    NotificationClosed,
    NotificationEscalated,
    NotificationMessageRef,
    NotificationSend,
)
from models.reconciliation import ReconcileReport, ReconcileRequest
from store.cases import CaseStore
from store.notifications import NotificationStore

log = structlog.get_logger("fno.notifications")

# The ECRIS message of each kind of notification (EU(FR) Act 2020 s.1(5), s.1(7)).
MESSAGE_TYPES = {
    "conviction": "Notification of conviction (ECRIS NOT)",
    "amendment": "Notification of amended conviction (ECRIS NOT, amendment)",
    "deletion": "Notification of deleted conviction (ECRIS NOT, deletion)",
}


class NotificationActivities:
    """The activities of notifications out, over a channel, the PNC feed and the store."""

    def __init__(
        self,
        channel: NotificationChannel,
        feed: PncFeed,
        store: NotificationStore,
        case_store: CaseStore,
    ) -> None:
        self.channel = channel
        self.feed = feed
        self.store = store
        self.case_store = case_store

    def all(self) -> list[Callable[..., Any]]:
        return activity_methods(self)

    # --- one notification ----------------------------------------------------------------
    @activity.defn(name="build_notification")
    @_refusals_surface
    def build_notification(self, req: NotificationBuild) -> NotificationMessageRef:
        """The notification message from the conviction record (or the amended or
        deleted record), kept in the case store; the notification's record says its
        workflow has started. An amendment or deletion follows the conviction's first
        notification to the state: it waits (retried) until that one is sent or closed."""
        assert req.as_of is not None
        self.store.mark_started([req.case_id], req.as_of)
        amends = req.amends_notification_id
        first = self.store.record(amends) if amends else None
        if first is not None and first.sent_at is None and first.closed_at is None:
            raise ApplicationError(
                f"the first notification {first.notification_id} is not sent yet: the "
                f"{req.kind} follows it",
                type="FirstNotificationPending",
            )
        # The system composing the message, not a person's consultation: not logged here;
        # the disclosure is, when it is sent.
        doc = self.case_store.document(req.conviction_document_id)
        if doc is None or doc.content is None:
            raise KeyError(f"conviction record {req.conviction_document_id} is not in the store")
        record = json.loads(doc.content)
        message: dict[str, Any] = {
            "message_type": MESSAGE_TYPES[req.kind],
            "from": "UK Central Authority (ACRO)",
            "to": req.country,
            "channel": req.channel,
            "uk_reference": req.case_id,
            "person": {
                k: record.get(k)
                for k in (
                    "family_name",
                    "given_names",
                    "date_of_birth",
                    "place_of_birth",
                    "nationalities",
                )
            },
            "conviction": {
                "court": record.get("court"),
                "convicted_on": record.get("convicted_on"),
                "recorded_on_pnc": req.recorded_at.isoformat(),
                "offences": record.get("offences", []),
            },
        }
        if req.kind != "conviction":
            # The state's record of the first notification is what changes.
            message["amends_uk_reference"] = first.notification_id if first else None
            message["change"] = {"kind": req.kind, "reason": record.get("reason")}
            if req.kind == "deletion":
                message["conviction"] = {"recorded_on_pnc": req.recorded_at.isoformat()}
        document_id = f"notification-message-{req.case_id}"
        self.case_store.put_document(
            document_id,
            req.case_id,
            "notification_message",
            message,
            country=req.country,
            actor=req.case_id,
            role="system",
            justification=f"notification ({req.kind}) to {req.country} built from the PNC record",
        )
        digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()
        return NotificationMessageRef(document_id=document_id, digest=digest)

    @activity.defn(name="send_notification")
    @_refusals_surface
    def send_notification(self, req: NotificationSend) -> ChannelRef:
        assert req.as_of is not None
        doc = self.case_store.document(req.message_document_id)
        if doc is None or doc.content is None:
            raise KeyError(f"notification message {req.message_document_id} is not in the store")
        ref = self.channel.send_notification(
            req.idempotency_key,
            req.case_id,
            req.country,
            req.channel,
            json.loads(doc.content),
            req.as_of,
        )
        self.store.update(
            req.case_id, sent_at=req.as_of, sent_late=req.as_of > req.due_at, channel_ref=ref
        )
        self.case_store.log(
            actor=req.case_id,
            role="system",
            action="disclosure",
            case_id=req.case_id,
            document_id=req.message_document_id,
            justification=f"conviction notified to {req.country} via {req.channel}: {ref}",
            act_key=f"disclosure:{req.idempotency_key}",
        )
        log.info("notification sent", country=req.country, channel=req.channel, ref=ref)
        return ChannelRef(ref=ref)

    @activity.defn(name="collect_acknowledgement")
    @_refusals_surface
    def collect_acknowledgement(self, poll: AckPoll) -> AckResult:
        acked = self.channel.fetch_acknowledgement(poll.channel_ref, poll.as_of)
        if acked is not None:
            self.store.update(poll.case_id, acknowledged_at=acked)
            log.info("notification acknowledged", country=poll.country, ref=poll.channel_ref)
        return AckResult(acknowledged_at=acked)

    @activity.defn(name="send_notification_chaser")
    @_refusals_surface
    def send_notification_chaser(self, req: NotificationChaser) -> None:
        self.channel.send_notification_chaser(
            req.idempotency_key, req.case_id, req.channel_ref, req.chaser_number
        )
        self.store.update(req.case_id, chasers=req.chaser_number)
        log.info("notification chased", country=req.country, chaser=req.chaser_number)

    @activity.defn(name="escalate_notification")
    @_refusals_surface
    def escalate_notification(self, req: NotificationEscalated) -> None:
        assert req.as_of is not None
        self.store.update(req.case_id, escalations=req.escalation, escalated_at=req.as_of)
        log.warning(
            "notification escalated",
            notification_id=req.case_id,
            escalation=req.escalation,
            due_at=req.due_at.isoformat(),
        )

    @activity.defn(name="close_notification")
    @_refusals_surface
    def close_notification(self, req: NotificationClosed) -> None:
        self.store.update(req.case_id, closed_at=req.closed_at, outcome=req.outcome)

    # --- the reconciliation ------------------------------------------------------------------
    @activity.defn(name="reconcile_notifications")
    async def reconcile_notifications(self, req: ReconcileRequest) -> ReconcileReport:
        """The case store's findings, then Temporal: start what is missing, and check
        that every open notification still has a running workflow."""
        try:
            findings = await asyncio.to_thread(find_gaps, self.store, self.feed, req)
        except (PermanentGatewayError, KeyError) as err:
            raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err
        started = await start_and_check(self.store, req, findings)
        return ReconcileReport(findings=findings, started=started)
