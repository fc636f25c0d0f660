"""Starting a notification's workflow: from the daily-file intake
(``access.notifications``) and from the reconciliation (``activities.reconciliation``).

The workflow is started by its name (``NOTIFICATION_WORKFLOW``): activities cannot
import workflows.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.notification import (
    NOTIFICATION_WORKFLOW,
    NotificationInput,
    first_notification_id,
    notification_kind,
)
from models.notification_policy import NotificationPolicy
from store.notification_tables import NotificationRecord


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
            static_summary=f"Conviction notification ({inp.kind}) to {inp.country} "
            f"(daily file {inp.file_sequence})",
            static_details="One notification per conviction (or amendment or deletion of "
            "one) and state of nationality, before the end of the 28 days beginning with the "
            "UK date it was recorded. No personal data here.",
        )
        return True
    except WorkflowAlreadyStartedError:
        return False


def input_for(row: NotificationRecord, policy: NotificationPolicy) -> NotificationInput:
    """The start of the notification a store record stands for: its deadline is the
    store's (computed when the file was taken in), its kind and the notification it
    follows read from the record."""
    kind = notification_kind(row.conviction_document_id)
    return NotificationInput(
        notification_id=row.notification_id,
        conviction_key=row.conviction_key,
        country=row.country,
        force=row.force,
        file_sequence=row.file_sequence,
        recorded_at=row.recorded_at,
        conviction_document_id=row.conviction_document_id,
        policy=policy,
        due_at=row.due_at,
        kind=kind,
        amends_notification_id=first_notification_id(row.conviction_key, row.country, kind),
    )
