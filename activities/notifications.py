"""Activities of notifications out, and the gateways they talk through.

- ``NotificationChannel``: the EU states' channel (ECRIS through UK-CRIS): send a
  notification, collect the state's acknowledgement, chase.
- ``PncFeed``: ask the PNC to send a daily activity file again.

Same rules as ``activities.steps``: every change carries an idempotency key made from
the notification and the step, a gateway does it once per key; a permanent refusal
becomes a non-retryable failure the case shows and a caseworker resumes.
The reconciliation is one activity, ``reconcile_notifications``: the case store
(files missing, out of sequence or incomplete; convictions without a notification in
flight; re-sends asked of the PNC), then Temporal (start what is missing, and check
each open notification still has a running workflow).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.core import PERMANENT, activity_methods
from activities.core import refusals_surface as _refusals_surface
from activities.gateways import PermanentGatewayError
from models.notification import (
    AckPoll,
    AckResult,
    AlertView,
    ChannelRef,
    FeedAnchor,
    NotificationBuild,
    NotificationChaser,
    NotificationClosed,
    NotificationEscalated,
    NotificationInput,
    NotificationMessageRef,
    NotificationPolicy,
    NotificationSend,
    ReconcileFindings,
    ReconcileReport,
    ReconcileRequest,
    StartReport,
)
from store.cases import CaseStore
from store.notifications import NotificationRecord, NotificationStore

log = structlog.get_logger("fno.notifications")

NOTIFICATION_WORKFLOW = "NotificationWorkflow"
# A conviction registered this long ago with no workflow is a gap (the intake died
# between recording the file and starting its notifications).
START_GRACE = timedelta(minutes=10)
# A started notification is checked for a running workflow once this old.
CHECK_AFTER = timedelta(hours=1)
FILE_KINDS = ["missing_file", "count_mismatch", "out_of_sequence"]
NOTIFICATION_KINDS = ["not_started", "overdue"]


class NotificationChannel(Protocol):
    """ECRIS (UK-CRIS): notifications of convictions to EU states."""

    def send_notification(
        self,
        key: str,
        notification_id: str,
        country: str,
        channel: str,
        message: dict[str, Any],
        as_of: datetime,
    ) -> str: ...

    def fetch_acknowledgement(self, channel_ref: str, as_of: datetime) -> datetime | None: ...

    def send_notification_chaser(
        self, key: str, notification_id: str, channel_ref: str, chaser_number: int
    ) -> None: ...


class PncFeed(Protocol):
    """The PNC's daily activity files."""

    def request_file_resend(
        self, key: str, sequence: int, file_date: date | None, why: str
    ) -> None: ...


async def start_notification(client: Client, inp: NotificationInput, task_queue: str) -> bool:
    """Start one notification's workflow; False when it exists (or finished with an
    outcome). A workflow that ended without one (terminated) is started again."""
    try:
        await client.start_workflow(
            NOTIFICATION_WORKFLOW,
            inp,
            id=inp.notification_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Conviction notification to {inp.country} "
            f"(daily file {inp.file_sequence})",
            static_details="One notification per conviction and state of nationality, "
            "within 28 days of the conviction being recorded. No personal data here.",
        )
        return True
    except WorkflowAlreadyStartedError:
        return False


def input_for(row: NotificationRecord, policy: NotificationPolicy) -> NotificationInput:
    return NotificationInput(
        notification_id=row.notification_id,
        conviction_key=row.conviction_key,
        country=row.country,
        force=row.force,
        file_sequence=row.file_sequence,
        recorded_at=row.recorded_at,
        conviction_document_id=row.conviction_document_id,
        policy=policy,
    )


def _alerted(view: AlertView | None) -> list[AlertView]:
    if view is None:
        return []
    log.warning(
        "notification alert",
        alert=view.kind,
        key=view.key,
        detail=view.detail,
        file_sequence=view.file_sequence,
        notification_id=view.notification_id,
    )
    return [view]


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
    @activity.defn
    @_refusals_surface
    def build_notification(self, req: NotificationBuild) -> NotificationMessageRef:
        """The notification message from the conviction record, kept in the case store;
        the notification's record says its workflow has started."""
        assert req.as_of is not None
        self.store.mark_started([req.case_id], req.as_of)
        # The system composing the message, not a person's consultation: not logged here;
        # the disclosure is, when it is sent.
        doc = self.case_store.document(req.conviction_document_id)
        if doc is None or doc.content is None:
            raise KeyError(f"conviction record {req.conviction_document_id} is not in the store")
        record = json.loads(doc.content)
        message = {
            "message_type": "Notification of conviction (ECRIS NOT)",
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
        document_id = f"notification-message-{req.case_id}"
        self.case_store.put_document(
            document_id,
            req.case_id,
            "notification_message",
            message,
            country=req.country,
            actor=req.case_id,
            role="system",
            justification=f"notification of conviction to {req.country} built from the PNC record",
        )
        digest = hashlib.sha256(json.dumps(message, sort_keys=True).encode()).hexdigest()
        return NotificationMessageRef(document_id=document_id, digest=digest)

    @activity.defn
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

    @activity.defn
    @_refusals_surface
    def collect_acknowledgement(self, poll: AckPoll) -> AckResult:
        acked = self.channel.fetch_acknowledgement(poll.channel_ref, poll.as_of)
        if acked is not None:
            self.store.update(poll.case_id, acknowledged_at=acked)
            log.info("notification acknowledged", country=poll.country, ref=poll.channel_ref)
        return AckResult(acknowledged_at=acked)

    @activity.defn
    @_refusals_surface
    def send_notification_chaser(self, req: NotificationChaser) -> None:
        self.channel.send_notification_chaser(
            req.idempotency_key, req.case_id, req.channel_ref, req.chaser_number
        )
        self.store.update(req.case_id, chasers=req.chaser_number)
        log.info("notification chased", country=req.country, chaser=req.chaser_number)

    @activity.defn
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

    @activity.defn
    @_refusals_surface
    def close_notification(self, req: NotificationClosed) -> None:
        self.store.update(req.case_id, closed_at=req.closed_at, outcome=req.outcome)

    # --- the reconciliation ------------------------------------------------------------------
    @activity.defn
    async def reconcile_notifications(self, req: ReconcileRequest) -> ReconcileReport:
        """The case store's findings, then Temporal: start what is missing, and check
        that every open notification still has a running workflow."""
        try:
            findings = await asyncio.to_thread(self.findings, req)
        except (PermanentGatewayError, KeyError) as err:
            raise ApplicationError(str(err), type=PERMANENT, non_retryable=True) from err
        started = await self.start_and_check(req, findings)
        return ReconcileReport(findings=findings, started=started)

    def findings(self, req: ReconcileRequest) -> ReconcileFindings:
        """Files missing, out of sequence or incomplete; convictions not notified. Raises
        the alerts (a log line each, the first time), asks the PNC for re-sends (once a
        day per file), and says which notifications to start and which to check."""
        as_of, p = req.as_of, req.policy
        found = ReconcileFindings(as_of=as_of)
        present: set[str] = set()
        accepted = self.store.accepted_keys()
        files = self.store.all_files()
        anchor = req.anchor or (
            FeedAnchor(sequence=files[0].sequence, file_date=files[0].file_date) if files else None
        )
        found.files_ingested = len(files)

        def raise_(key: str, kind: str, detail: str, **kw: Any) -> None:
            present.add(key)
            found.new_alerts.extend(
                _alerted(self.store.raise_alert(key, kind, detail, at=as_of, **kw))
            )

        def resend(sequence: int, day: date | None, why: str, alert_key: str) -> None:
            if alert_key in accepted:
                return  # a person accepted it (the PNC has no such file): stop asking
            self.feed.request_file_resend(
                f"resend:{sequence}:{as_of.date().isoformat()}", sequence, day, why
            )
            found.resends_requested.append(sequence)

        if anchor is not None:
            # The file for day D is due by ``daily_file_due_hour`` on D+1 (UTC).
            last_due = (as_of - timedelta(hours=p.daily_file_due_hour)).date() - timedelta(days=1)
            by_seq = {f.sequence: f for f in files}
            day = anchor.file_date
            while day <= last_due:
                seq = anchor.sequence + (day - anchor.file_date).days
                found.files_expected += 1
                if seq not in by_seq:
                    key = f"missing_file:{seq}"
                    due = datetime.combine(day + timedelta(days=1), datetime.min.time())
                    raise_(
                        key,
                        "missing_file",
                        f"daily file {seq} ({day.isoformat()}) not received by "
                        f"{due:%Y-%m-%d} {p.daily_file_due_hour:02d}:00 UTC; re-send asked "
                        "of the PNC",
                        file_sequence=seq,
                    )
                    found.missing_sequences.append(seq)
                    resend(seq, day, "not received", key)
                day += timedelta(days=1)
            for f in files:
                expected_seq = anchor.sequence + (f.file_date - anchor.file_date).days
                if f.sequence >= anchor.sequence and f.sequence != expected_seq:
                    raise_(
                        f"out_of_sequence:{f.sequence}",
                        "out_of_sequence",
                        f"daily file {f.sequence} is dated {f.file_date.isoformat()}, the date "
                        f"of file {expected_seq}: a sequence number skipped or reused",
                        file_sequence=f.sequence,
                    )
                    found.out_of_sequence.append(f.sequence)
        for f in files:
            if not f.complete:
                key = f"count_mismatch:{f.sequence}"
                raise_(
                    key,
                    "count_mismatch",
                    f"daily file {f.sequence} declares {f.declared_count} records, "
                    f"{f.records_ingested} were read and {f.rejected} rejected; re-send asked "
                    "of the PNC",
                    file_sequence=f.sequence,
                )
                found.incomplete_sequences.append(f.sequence)
                resend(f.sequence, f.file_date, "incomplete", key)

        for row in self.store.unstarted(limit=1000):
            found.to_start.append(input_for(row, p))
            if row.registered_at < as_of - START_GRACE:
                raise_(
                    f"not_started:{row.notification_id}",
                    "not_started",
                    f"conviction from daily file {row.file_sequence} registered "
                    f"{row.registered_at:%Y-%m-%d %H:%M} with no notification in flight: "
                    "started now",
                    file_sequence=row.file_sequence,
                    notification_id=row.notification_id,
                )
        for row in self.store.overdue(as_of):
            found.overdue_notifications += 1
            raise_(
                f"overdue:{row.notification_id}",
                "overdue",
                f"notification to {row.country} not sent by its deadline "
                f"{row.due_at:%Y-%m-%d %H:%M} UTC (28 days from the conviction being recorded)",
                file_sequence=row.file_sequence,
                notification_id=row.notification_id,
            )
        found.to_check = self.store.open_notifications(as_of - CHECK_AFTER)
        self.store.resolve_cleared(FILE_KINDS + NOTIFICATION_KINDS, present, as_of)
        found.open_alerts = len(self.store.alerts())
        log.info(
            "notifications reconciled",
            files_expected=found.files_expected,
            files_ingested=found.files_ingested,
            missing=len(found.missing_sequences),
            incomplete=len(found.incomplete_sequences),
            out_of_sequence=len(found.out_of_sequence),
            to_start=len(found.to_start),
            overdue=found.overdue_notifications,
            new_alerts=len(found.new_alerts),
            open_alerts=found.open_alerts,
        )
        return found

    async def start_and_check(self, req: ReconcileRequest, found: ReconcileFindings) -> StartReport:
        """Start the notifications found without a workflow; check that each open one
        still has a running workflow, and start again one that ended without an
        outcome (terminated): its steps' keys make sure nothing is sent twice."""
        client = activity.client()
        task_queue = activity.info().task_queue
        report = StartReport()
        started: list[str] = []
        for inp in found.to_start:
            if await start_notification(client, inp, task_queue):
                report.started += 1
            else:
                report.already_running += 1
            started.append(inp.notification_id)
        await asyncio.to_thread(self.store.mark_started, started, req.as_of)
        present: set[str] = set()
        for notification_id in found.to_check:
            status = await _status(client, notification_id)
            if status == WorkflowExecutionStatus.RUNNING:
                continue
            row = await asyncio.to_thread(self.store.record, notification_id)
            if row is None or row.closed_at is not None:
                continue
            key = f"workflow_ended:{notification_id}"
            present.add(key)
            how = status.name.lower() if status else "missing"
            view = await asyncio.to_thread(
                self.store.raise_alert,
                key,
                "workflow_ended",
                f"notification workflow {how} without an outcome: started again",
                at=req.as_of,
                file_sequence=row.file_sequence,
                notification_id=notification_id,
            )
            report.new_alerts.extend(_alerted(view))
            report.ended_without_outcome.append(notification_id)
            await start_notification(client, input_for(row, req.policy), task_queue)
        await asyncio.to_thread(self.store.resolve_cleared, ["workflow_ended"], present, req.as_of)
        return report


async def _status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status
