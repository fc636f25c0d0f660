"""Notifications out on the real dev server (it can list workflows and run Schedules):
the reconciliation's Schedule made idempotently and run; ``fno daily-file`` and ``fno
notifications`` as a process; the HTTP routes through ASGI; supervisors' listings and
the stuck-case listing (compressed policy: a day lasts a fifth of a second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow

from access.intake import Intake
from models.notification_policy import NotificationPolicy
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from processes.reconciliation_schedule import (
    ensure_reconciliation_schedule,
    reconciliation_schedule,
)
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from tests.support import api_client, bearer, eventually, system_key
from tests.support_notifications import conviction, daily_file, factory, notification_harness
from workflows.reconciliation import NotificationReconciliationWorkflow

pytestmark = pytest.mark.devserver
POLICY = NotificationPolicy(name="compressed (0.2s days)", day_seconds=0.2)
KEY = system_key(name="PNC daily activity feed", scopes=["daily-files"], forces=[])
READER = bearer("supervisor", "Sue Park")


async def schedule_state(handle, wanted, *, what: str, within: float = 30.0):
    """The Schedule's state once ``wanted(state)``: the scheduler takes a pause, an
    unpause or an update in when it next runs, so on a busy machine a describe can
    still answer the state before it for a moment."""

    async def check():
        state = (await handle.describe()).schedule.state
        return state if wanted(state) else None

    return await eventually(check, within=within, what=what)


async def test_the_reconciliation_schedule_is_made_once_kept_up_to_date_and_runs(dev_env, tmp_path):
    async with notification_harness(dev_env, tmp_path, policy=POLICY) as h:
        client = h.client
        first = await ensure_reconciliation_schedule(client, task_queue=h.task_queue, policy=POLICY)
        again = await ensure_reconciliation_schedule(client, task_queue=h.task_queue, policy=POLICY)
        handle = client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
        try:
            await handle.pause(note="paused by an operator")
            await schedule_state(handle, lambda s: s.paused, what="the operator's pause")
            # A new release while paused: its action (the policy it runs with) differs.
            renamed = POLICY.model_copy(update={"name": "compressed (0.2s days), release 2"})
            kept = await ensure_reconciliation_schedule(
                client, task_queue=h.task_queue, policy=renamed
            )
            state = await schedule_state(
                handle,
                lambda s: s.paused and s.note == "paused by an operator",
                what="the Schedule still paused after the update",
            )
            described = await handle.describe()
            await handle.unpause()
            await schedule_state(handle, lambda s: not s.paused, what="the Schedule unpaused")
            # A file missing between two received: the scheduled run sees it.
            files = factory(datetime.now(UTC).date() - timedelta(days=3), first_sequence=70)
            for seq in (70, 72):
                await h.ingest(files.file(seq))
            await handle.trigger()

            query = (
                "WorkflowType = 'NotificationReconciliationWorkflow' "
                "AND ExecutionStatus = 'Completed'"
            )

            async def completed():
                return [w.id async for w in client.list_workflows(query)]

            runs = await eventually(completed, what="the scheduled reconciliation")
            report = await client.get_workflow_handle_for(
                NotificationReconciliationWorkflow.run, runs[0]
            ).result()
        finally:
            await handle.delete()
        h.reconciliations.extend(runs)
    assert (first, again, kept) == ("created", "unchanged", "updated")
    assert state.paused and state.note == "paused by an operator"
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "NotificationReconciliationWorkflow"
    assert action.task_queue == h.task_queue
    [argument] = await client.data_converter.decode(action.args)
    assert argument["policy"]["name"] == "compressed (0.2s days), release 2"
    assert report.findings.missing_sequences == [71]
    assert report.findings.resends_requested == [71]
    # The statutory schedule: daily at 07:00 UTC, caught up within a day.
    daily = reconciliation_schedule("q", NotificationPolicy())
    [calendar] = daily.spec.calendars
    assert [r.start for r in calendar.hour] == [7] and daily.spec.time_zone_name == "UTC"
    assert daily.policy.catchup_window == timedelta(days=1)


def web(h):
    intake = Intake(
        task_queue=h.task_queue, policy=POLICY, subject_key_secret=LOCAL_SUBJECT_KEY_SECRET
    )
    return api_client(h.client, h.case_store, intake=intake)


async def test_daily_files_over_http(dev_env, tmp_path):
    async with notification_harness(dev_env, tmp_path, policy=POLICY) as h, web(h) as http:
        now = datetime.now(UTC)
        day = (now - timedelta(days=1)).date()
        raw = daily_file(11, day, [conviction(["RO", "HU"], now)])
        new = await http.post("/daily-files", content=raw, headers=KEY)
        again = await http.post("/daily-files", content=raw, headers=KEY)
        other = daily_file(11, day, [conviction(["RO"], now)])
        conflict = await http.post("/daily-files", content=other, headers=KEY)
        bad = await http.post("/daily-files", content=b"hello\n", headers=KEY)
        nokey = await http.post("/daily-files", content=raw)
        ids = h.ids()

        async def closed():
            return all(h.store.record(i).closed_at for i in ids)

        await eventually(closed, what="notifications closed")
        summary = await http.get("/notifications/summary", headers=READER)
        listed = await http.get("/notifications", params={"country": "HU"}, headers=READER)
        files = await http.get("/daily-files", headers=READER)
        alerts = await http.get("/notification-alerts", headers=READER)
        stuck = await http.get("/stuck-cases", params={"overdue_minutes": 600}, headers=READER)
        alert_id = alerts.json()[0]["id"]
        refused = await http.post(
            f"/notification-alerts/{alert_id}/accept",
            # The role is the token's: a supervisor saying otherwise is still one.
            headers=bearer("supervisor", "Sue Park", X_Role="senior_caseworker", X_Reason="seen"),
        )
        accepted = await http.post(
            f"/notification-alerts/{alert_id}/accept",
            headers=bearer("senior_caseworker", "Ann Lee", X_Reason="PNC re-issued"),
        )
        remaining = await http.get("/notification-alerts", headers=READER)
    assert new.status_code == 201, new.text
    assert new.json()["notifications_new"] == 2 and new.json()["started"] == 2
    assert again.status_code == 200 and again.json()["status"] == "already_ingested"
    assert conflict.status_code == 409 and conflict.json()["alerts"]
    assert bad.status_code == 422 and "header" in bad.json()["detail"]
    assert nokey.status_code == 401
    by_country = {c["country"]: c for c in summary.json()["by_country"]}
    assert by_country["RO"]["acknowledged"] == by_country["HU"]["acknowledged"] == 1
    assert [r["country"] for r in listed.json()] == ["HU"]
    assert files.json()[0]["sequence"] == 11 and files.json()[0]["receipts"] == 2
    assert alerts.json()[0]["kind"] == "file_conflict"
    assert any(r["stage"] == "Notifications out: file conflict" for r in stuck.json())
    assert refused.status_code == 403 and accepted.status_code == 200
    assert remaining.json() == []
    # Nothing personal in what the listings answer.
    for answer in (summary, listed, files, alerts, stuck):
        assert "Nowak" not in answer.text and "17/" not in answer.text
