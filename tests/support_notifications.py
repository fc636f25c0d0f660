"""Test helpers for notifications out: a store, the channel simulator and a worker on a
fresh task queue; daily files; the reconciliation run by hand (the time-skipping
server cannot run Schedules)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from access.notifications import IngestReport, ingest_daily_file
from activities.core import CoreActivities
from activities.notifications import NotificationActivities
from models.notification_policy import NotificationPolicy
from models.reconciliation import FeedAnchor, ReconcileInput, ReconcileReport
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from sim.notifications import (
    DailyFileFactory,
    NotificationSimulator,
    NotificationWorld,
)
from store.cases import CaseStore
from store.notifications import NotificationStore
from workflows import WORKFLOWS
from workflows.notification import NotificationWorkflow
from workflows.reconciliation import NotificationReconciliationWorkflow

# Recorded histories of notifications out, replayed by tests/test_notifications.py (a
# folder of their own: tests/test_replay.py checks the case workflows' set).
HISTORIES = Path(__file__).parent / "histories" / "notifications"


@dataclass
class NotificationHarness:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    sim: NotificationSimulator
    store: NotificationStore
    case_store: CaseStore
    policy: NotificationPolicy
    reconciliations: list[str] = field(default_factory=list)

    async def ingest(self, raw: bytes, now: datetime | None = None) -> IngestReport:
        return await ingest_daily_file(
            self.client,
            self.store,
            raw,
            task_queue=self.task_queue,
            policy=self.policy,
            secret=LOCAL_SUBJECT_KEY_SECRET,
            source="test",
            now=now or await self.now(),
        )

    async def now(self) -> datetime:
        """The server's clock (time-skipping: ahead of the wall clock)."""
        if self.env.supports_time_skipping:
            return await self.env.get_current_time()
        from datetime import UTC

        return datetime.now(UTC)

    async def reconcile(self, anchor: FeedAnchor | None = None) -> ReconcileReport:
        """One run of the reconciliation, as the Schedule starts it."""
        workflow_id = f"reconciliation-notifications-test-{uuid.uuid4().hex[:8]}"
        self.reconciliations.append(workflow_id)
        handle = await self.client.start_workflow(
            NotificationReconciliationWorkflow.run,
            ReconcileInput(policy=self.policy, anchor=anchor),
            id=workflow_id,
            task_queue=self.task_queue,
        )
        # Waiting for a result would let the time-skipping server jump to its next timer.
        with self.env.auto_time_skipping_disabled():
            return await handle.result()

    def handle(self, notification_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle_for(NotificationWorkflow.run, notification_id)

    async def state(self, notification_id: str) -> Any:
        return await self.handle(notification_id).query(NotificationWorkflow.state)

    async def skip_until_escalated(self, notification_id: str, *, within: float = 60) -> Any:
        """Move the time-skipping clock on a day at a time until the notification waits
        for a senior caseworker's escalation decision; its state then."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            state = await self.state(notification_id)
            if "notification_escalation" in state.awaiting:
                return state
            assert asyncio.get_running_loop().time() < deadline, state.stage
            await self.env.sleep(timedelta(days=1))

    def ids(self) -> list[str]:
        return [r.notification_id for r in self.store.notifications(now=_far(), limit=100_000)]

    async def record_histories(self, test: str) -> None:
        """Save the closed notifications' and reconciliations' histories for the replay
        test (``FNO_RECORD_HISTORIES=1``; see the README), decrypted like the others."""
        # Here, not at the top: only recording needs tests.support (the case process's).
        from tests.support import decrypted_history

        HISTORIES.mkdir(exist_ok=True)
        closed = [r.notification_id for r in self.store.notifications(now=_far(), status="closed")]
        for n, workflow_id in enumerate([*closed[:3], *self.reconciliations[:1]]):
            kind = "reconciliation" if workflow_id in self.reconciliations else "notification"
            history = await self.client.get_workflow_handle(workflow_id).fetch_history()
            path = HISTORIES / f"{test.removeprefix('test_')}-{n}-{kind}.json"
            path.write_text(decrypted_history(history).to_json())

    async def end_leftovers(self) -> None:
        for workflow_id in [*self.ids(), *self.reconciliations]:
            try:
                await self.handle(workflow_id).terminate(reason="test over")
            except Exception:  # closed, or never started
                pass

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Worker]:
        # Notifications out needs only the core's activity (recording a decision): no
        # case activities, no simulated ACRO world.
        activities = [
            *CoreActivities(self.case_store).all(),
            *NotificationActivities(self.sim, self.sim, self.store, self.case_store).all(),
        ]
        with ThreadPoolExecutor(16) as pool:
            async with Worker(
                self.client,
                task_queue=self.task_queue,
                workflows=WORKFLOWS,
                activities=activities,
                activity_executor=pool,
            ) as worker:
                yield worker


def _far() -> datetime:
    from datetime import UTC

    return datetime(2100, 1, 1, tzinfo=UTC)


@asynccontextmanager
async def notification_harness(
    env: WorkflowEnvironment,
    tmp_path: Path,
    *,
    policy: NotificationPolicy | None = None,
    world: NotificationWorld | None = None,
    run_worker: bool = True,
) -> AsyncIterator[NotificationHarness]:
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    case_store = CaseStore.migrated(url)
    policy = policy or NotificationPolicy()
    sim = NotificationSimulator(case_store.engine, world, day_seconds=policy.day_seconds)
    h = NotificationHarness(
        env,
        env.client,
        f"tq-{uuid.uuid4()}",
        sim,
        NotificationStore(case_store.engine),
        case_store,
        policy,
    )
    if env.supports_time_skipping:
        await to_noon_utc(env)
    try:
        if run_worker:
            async with h.running():
                yield h
                if os.environ.get("FNO_RECORD_HISTORIES") and env.supports_time_skipping:
                    test = os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].split(" ")[0]
                    await h.record_histories(test)
                # With the worker still running: an activity cut off by the worker's
                # shutdown would hold the time-skipping server's clock until it times out.
                await h.end_leftovers()
        else:
            yield h
            await h.end_leftovers()
    finally:
        case_store.engine.dispose()


async def to_noon_utc(env: WorkflowEnvironment) -> None:
    """Move the time-skipping server's clock on to the next 12:00 UTC.

    Daily files fall due at a time of day (06:00 UTC the next day), and the tests
    reason in days before "now": where in the day the shared clock happens to be
    (earlier tests skip it on by days and hours) must not decide whether yesterday's
    file is due yet."""
    now = await env.get_current_time()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= now:
        noon += timedelta(days=1)
    await env.sleep(noon - now)


def factory(first_date: date, **kw: Any) -> DailyFileFactory:
    return DailyFileFactory(first_date=first_date, **kw)


def daily_file(
    sequence: int, file_date: date, records: list[dict[str, Any]], *, declared: int | None = None
) -> bytes:
    """A hand-made daily file (records get IDs unless they have one)."""
    import json

    header = {
        "record_type": "header",
        "format": "pnc-daily-activity",
        "format_version": 1,
        "sequence": sequence,
        "file_date": file_date.isoformat(),
        "record_count": len(records) if declared is None else declared,
    }
    lines = [json.dumps(header)]
    for i, rec in enumerate(records, start=1):
        lines.append(json.dumps({"record_id": f"{sequence}-{i}", **rec}))
    return ("\n".join(lines) + "\n").encode()


def conviction(
    nationalities: list[str],
    recorded_at: datetime,
    *,
    pnc_id: str | None = None,
    conviction_ref: str | None = None,
    family_name: str = "Nowak",
) -> dict[str, Any]:
    n = uuid.uuid4().int
    return {
        "record_type": "conviction",
        "pnc_id": pnc_id or f"17/{n % 10_000_000}P",
        "conviction_ref": conviction_ref or f"1701HC01{n % 10**11:011d}K",
        "force": "hampshire",
        "family_name": family_name,
        "given_names": "Tomasz",
        "date_of_birth": "1979-02-11",
        "nationalities": nationalities,
        "court": "Winchester Crown Court",
        "convicted_on": recorded_at.date().isoformat(),
        "recorded_at": recorded_at.isoformat(),
        "offences": [{"description": "Theft from a shop", "sentence": "Fine £400"}],
    }


def amendment(
    original: dict[str, Any],
    recorded_at: datetime,
    *,
    change: str = "amended",
    record_id: str | None = None,
) -> dict[str, Any]:
    """A ``conviction_amendment`` record of ``original`` (a ``conviction`` record as
    written into a file, with its ``record_id``): amended (the sentence varied) or
    deleted."""
    rec: dict[str, Any] = {
        "record_type": "conviction_amendment",
        "change": change,
        "pnc_id": original["pnc_id"],
        "conviction_ref": original["conviction_ref"],
        "amends_record_id": original.get("record_id", "unknown"),
        "force": original["force"],
        "nationalities": original["nationalities"],
        "recorded_at": recorded_at.isoformat(),
        "reason": "sentence varied on appeal" if change == "amended" else "quashed on appeal",
    }
    if record_id is not None:
        rec["record_id"] = record_id
    if change == "amended":
        for k in ("family_name", "given_names", "date_of_birth", "court", "convicted_on"):
            rec[k] = original[k]
        rec["offences"] = [{**o, "sentence": "Conditional discharge"} for o in original["offences"]]
    return rec
