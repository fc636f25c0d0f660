"""The stuck listing's rows and what a running case shows of its trouble: the row
itself (``StuckCase``), a running case's steps failing and its own next step (its
workflow task) waiting for a worker or failing (``failing_steps``, ``failing_time``), and
its history growing towards Temporal's limit (``HistoryAlert``, ``HISTORY_LARGE``).
``access.stuck`` puts the listing together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import Client
from temporalio.client import WorkflowExecution as ListedWorkflow

from access.diagnosis import failure_message, replay_error_of
from access.errors import CANNOT_REPLAY
from models.metrics import HISTORY_LARGE_CODE
from runtime.logs import get_logger
from workflows.base import SYSTEM_RETRY

log = get_logger("fno.access")


class StuckCase(BaseModel):
    case_id: str
    stage: str | None
    why: str  # in words, or a reason code: "cannot_replay", "query_failed"
    last_error: str | None = None
    since: datetime | None = None
    closed_at: datetime | None = None  # a closed case that cannot be read, or ended
    code: str | None = None  # the reason code: HISTORY_LARGE, ENDED_CODES, …


DEFAULT_FAILING_FOR = timedelta(minutes=30)

# The reason code of a history growing towards Temporal's limit.
HISTORY_LARGE = HISTORY_LARGE_CODE


@dataclass(frozen=True)
class HistoryAlert:
    """When a running case's history is large enough to say so: ``events`` or ``bytes``
    (``FNO_HISTORY_ALERT_EVENTS``, ``FNO_HISTORY_ALERT_BYTES``). The defaults sit well
    above where a case renews its history (``CasePolicy.continue_as_new_after_events``,
    2,000) and well below where Temporal ends it (51,200 events, 50 MB): a case past
    them is not renewing — a flood of signals or updates, or a case that cannot."""

    events: int = 5_000
    bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HistoryAlert:
        """The thresholds the environment sets (a setting that is not a whole number
        above zero is ignored, with a warning naming it)."""
        return cls(
            events=_positive(env, "FNO_HISTORY_ALERT_EVENTS", cls.events),
            bytes=_positive(env, "FNO_HISTORY_ALERT_BYTES", cls.bytes),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip().replace("_", "")
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        log.warning("setting ignored: not a whole number above zero", setting=name)
        return default
    return int(text)


async def failing_steps(
    client: Client,
    w: ListedWorkflow,
    now: datetime,
    failing_for: timedelta,
    stage: str | None,
    history: HistoryAlert | None = None,
) -> list[StuckCase]:
    """A stuck entry for each step of the running workflow ``w`` that has been failing
    for at least ``failing_for`` (from its attempt count), with its last error; and one
    when the case's own next step (its workflow task) has waited that long for a worker
    to take it, or keeps failing — a worker outage, or a fault in the workflow code,
    which Temporal retries for ever without a word. With ``history``, last, one
    (``code="history_large"``) when its history is past the alert's thresholds."""
    described = await client.get_workflow_handle(w.id, run_id=w.run_id).describe()
    rows: list[StuckCase] = []
    for act in described.raw_description.pending_activities:
        failing = failing_time(act.attempt)
        if act.attempt < 2 or failing < failing_for:
            continue
        error = (
            await failure_message(client, act.last_failure)
            if act.HasField("last_failure")
            else None
        )
        rows.append(
            StuckCase(
                case_id=w.id,
                stage=stage,
                why=f"{act.activity_type.name} failing for about {failing} (attempt {act.attempt})",
                last_error=error,
                since=now - failing,
            )
        )
    # After the steps (more precise when both): the case's own next step — first of all
    # when its history cannot be replayed, the case's real trouble.
    raw = described.raw_description
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        first = task.original_scheduled_time.ToDatetime(tzinfo=UTC)
        waiting = task.scheduled_time.ToDatetime(tzinfo=UTC)
        replay_error = await replay_error_of(client, w.id, w.run_id) if task.attempt >= 2 else None
        if replay_error is not None:
            rows.insert(
                0,
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=CANNOT_REPLAY,
                    last_error=replay_error,
                    since=first,
                ),
            )
        elif task.attempt >= 2 and now - first >= failing_for:
            rows.append(
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=f"the case's own next step (workflow task) failing since "
                    f"{first:%Y-%m-%d %H:%M} UTC (attempt {task.attempt}): see its history",
                    since=first,
                )
            )
        elif (
            task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
            and now - waiting >= failing_for
        ):
            rows.append(
                StuckCase(
                    case_id=w.id,
                    stage=stage,
                    why=f"no worker has taken up the case's next step since "
                    f"{waiting:%Y-%m-%d %H:%M} UTC (is a worker running on its task queue?)",
                    since=waiting,
                )
            )
    info = raw.workflow_execution_info
    if history is not None and (
        info.history_length >= history.events or info.history_size_bytes >= history.bytes
    ):
        rows.append(
            StuckCase(
                case_id=w.id,
                stage=stage,
                why=f"its history has {info.history_length:,} events "
                f"({info.history_size_bytes / 1024 / 1024:.1f} MB), past the alert at "
                f"{history.events:,} events or {history.bytes / 1024 / 1024:.0f} MB: it "
                f"is not renewing, and Temporal ends a case at its limit (51,200 events, "
                f"50 MB) — look for a flood of signals or updates ({HISTORY_LARGE})",
                code=HISTORY_LARGE,
            )
        )
    return rows


def failing_time(attempt: int) -> timedelta:
    """How long a step has been failing by its attempt number, from the retry schedule
    every step uses (``workflows.base.SYSTEM_RETRY``: the server tells the attempt, not
    when the first one started)."""
    initial = SYSTEM_RETRY.initial_interval.total_seconds()
    cap = SYSTEM_RETRY.maximum_interval.total_seconds() if SYSTEM_RETRY.maximum_interval else 0
    waited = 0.0
    for n in range(attempt - 1):
        step = initial * SYSTEM_RETRY.backoff_coefficient**n
        waited += min(step, cap) if cap else step
    return timedelta(seconds=waited)
