"""Notifications out on the time-skipping server with the statutory policy: a day's
file gives one notification per conviction and EU state of nationality, a file twice
gives nothing twice, a silent state is chased and escalated before day 28, a faulty
channel still sends each notification once, a missing file is reported by the next
reconciliation and its convictions notified once it is sent again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from access.kinds import NOTIFICATION
from models.case import Outcome, Stage
from models.daily_file import DailyFileError, parse_daily_file
from models.notification import notification_countries
from models.reconciliation import FeedAnchor
from sim.notifications import ChannelFaults, NotificationWorld
from tests.support import CODEC_KEYS, decide, decision
from tests.support_front_door import replayer
from tests.support_notifications import (
    HISTORIES,
    conviction,
    daily_file,
    factory,
    notification_harness,
)


async def wait_for(predicate, *, within: float = 60.0, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def all_closed(h, *, skip=None, within: float = 90.0) -> None:
    """Until every notification of the store is closed, skipping time if given."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = h.store.notifications(now=await h.now(), limit=100_000)
        if rows and all(r.closed_at is not None for r in rows):
            return
        if asyncio.get_running_loop().time() > deadline:
            open_ = [r.notification_id for r in rows if r.closed_at is None]
            raise AssertionError(f"{len(open_)} notification(s) still open")
        if skip is not None:
            await skip.sleep(timedelta(hours=6))
        else:
            await asyncio.sleep(0.1)


async def test_a_days_file_gives_one_notification_per_conviction_and_state(ts_env, tmp_path):
    async with notification_harness(ts_env, tmp_path) as h:
        now = await h.now()
        recorded = now - timedelta(hours=20)
        records = [
            conviction(["PL"], recorded),
            conviction(["RO"], recorded),
            conviction(["LT", "PL"], recorded),  # dual EU national: both states
            conviction(["GB", "IE"], recorded),  # British and Irish: Ireland
            conviction(["GB"], recorded),  # no duty
            conviction(["AL"], recorded),  # no duty (not EU)
            {"record_type": "arrest"},
            {"record_type": "charge"},
        ]
        raw = daily_file(41, (now - timedelta(days=1)).date(), records)
        first = await h.ingest(raw)
        again = await h.ingest(raw)
        await all_closed(h, skip=h.env)
        rows = h.store.notifications(now=await h.now())
        effects = h.sim.per_subject("notification_sent")
    assert first.status == "ingested" and first.complete
    assert (first.declared_count, first.records_read, first.convictions) == (8, 8, 6)
    assert first.notifications_new == 5 and first.started == 5
    assert again.status == "already_ingested"
    assert again.notifications_new == 0 and again.started == 0
    assert sorted(r.country for r in rows) == ["IE", "LT", "PL", "PL", "RO"]
    assert all(r.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value for r in rows)
    assert all(r.sent_at and r.sent_at < r.due_at for r in rows)
    # Each sent exactly once; no name or PNC ID in any workflow ID.
    assert sorted(effects.values()) == [1] * 5 and set(effects) == {r.notification_id for r in rows}
    for r in rows:
        assert NOTIFICATION.owns(r.notification_id)
        assert "Nowak" not in r.notification_id and "/" not in r.notification_id
    assert [f.receipts for f in h.store.files()] == [2]


async def test_a_state_that_never_acknowledges_is_chased_and_escalated_before_day_28(
    ts_env, tmp_path
):
    world = NotificationWorld(never_ack=["RO"])
    async with notification_harness(ts_env, tmp_path, world=world) as h:
        now = await h.now()
        recorded = now - timedelta(hours=10)
        await h.ingest(daily_file(7, recorded.date(), [conviction(["RO"], recorded)]))
        [notification_id] = h.ids()
        handle = h.handle(notification_id)
        state = await h.skip_until_escalated(notification_id)
        assert state.stage is Stage.NOTIFICATION_ESCALATED
        assert state.awaiting_role == ["senior_caseworker"]
        [escalated] = [e for e in state.timeline if "escalation" in e.data]
        # A caseworker may not decide it; a senior caseworker may.
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                handle,
                decision(
                    "Sam Jones",
                    "caseworker",
                    "chased",
                    kind="notification_escalation",
                    action="keep_trying",
                ),
            )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(
                handle,
                decision(
                    "Ann Lee",
                    "senior_caseworker",
                    "sent",
                    kind="notification_escalation",
                    action="sent_by_other_channel",
                ),
            )
        # Sent by another channel, without saying which: refused, the case unchanged.
        assert isinstance(refused.value.cause, ApplicationError)
        unchanged = await h.state(notification_id)
        assert unchanged.awaiting == ["notification_escalation"] and unchanged.escalation_open
        await decide(
            handle,
            decision(
                "Ann Lee",
                "senior_caseworker",
                "RO central authority confirmed by secure email",
                kind="notification_escalation",
                action="sent_by_other_channel",
                channel="secure email to the Romanian central authority",
            ),
        )
        result = await handle.result()
        state = await h.state(notification_id)
        row = h.store.record(notification_id)
        chasers = h.sim.count("notification_chaser_sent", notification_id)
        log = h.case_store.access_log(notification_id)
    assert result.outcome == "NOTIFICATION_SENT_OTHER_CHANNEL"
    days_to_escalation = (escalated.at - state.recorded_at) / timedelta(days=1)
    assert 20 <= days_to_escalation < 28, days_to_escalation
    assert chasers == h.policy.ack_max_chasers == 3
    chaser_days = [
        round((e.at - state.sent_at) / timedelta(days=1))
        for e in state.timeline
        if e.kind == "chaser"
    ]
    assert chaser_days == [3, 6, 9]
    assert row.escalations == 1 and row.closed_at is not None and row.acknowledged_at is None
    assert row.outcome == Outcome.NOTIFICATION_SENT_OTHER_CHANNEL.value
    assert state.stage is Stage.CLOSED
    [decided] = [e for e in state.timeline if e.kind == "decision"]
    assert (decided.actor, decided.role) == ("Ann Lee", "senior_caseworker")
    assert decided.data["decision"]["action"] == "sent_by_other_channel"
    assert decided.data["decision"]["channel"] == "secure email to the Romanian central authority"
    actions = [(e.action, e.actor) for e in log]
    assert ("decision", "Ann Lee") in actions and ("disclosure", notification_id) in actions


async def test_a_long_wait_continues_as_new_and_keeps_its_deadlines(ts_env, tmp_path):
    """Daily asking for weeks: the history is renewed; chasers, the escalation on day 21
    and the decision still happen once."""
    from models.notification_policy import NotificationPolicy

    policy = NotificationPolicy(continue_as_new_after_events=50)
    world = NotificationWorld(never_ack=["PT"])
    async with notification_harness(ts_env, tmp_path, policy=policy, world=world) as h:
        now = await h.now()
        recorded = now - timedelta(hours=8)
        await h.ingest(daily_file(12, recorded.date(), [conviction(["PT"], recorded)]))
        [notification_id] = h.ids()
        handle = h.handle(notification_id)
        state = await h.skip_until_escalated(notification_id)
        await decide(
            handle,
            decision(
                "Ann Lee",
                "senior_caseworker",
                "PT central authority confirmed receipt by phone",
                kind="notification_escalation",
                action="confirmed_by_other_means",
            ),
        )
        result = await handle.result()
        state = await h.state(notification_id)
    assert result.outcome == "NOTIFICATION_CONFIRMED_OTHERWISE"
    assert state.continued_as_new >= 1
    assert h.sim.count("notification_sent", notification_id) == 1
    assert h.sim.count("notification_chaser_sent", notification_id) == 3
    assert state.escalations == 1
    [escalated] = [e for e in state.timeline if "escalation" in e.data]
    assert escalated.data["escalation"] == 1
    assert 20 <= (escalated.at - state.recorded_at) / timedelta(days=1) < 28


async def test_a_faulty_channel_still_sends_every_notification_exactly_once(ts_env, tmp_path):
    # A third of ECRIS calls fail before the work, a third after it (the answer lost).
    world = NotificationWorld(faults=ChannelFaults(rate=0.3, timeout_rate=0.3))
    async with notification_harness(ts_env, tmp_path, world=world) as h:
        now = await h.now()
        day = (now - timedelta(days=1)).date()
        files = factory(day, first_sequence=100, eu_convictions_per_day=8, dual_share=0.3)
        expected = files.notifications_in(100)
        report = await h.ingest(files.file(100))
        await all_closed(h, skip=h.env)
        sent = h.sim.per_subject("notification_sent")
        rows = h.store.notifications(now=await h.now(), limit=1000)
    assert report.notifications_new == expected == len(rows) > 8
    assert sorted(sent.values()) == [1] * expected
    assert all(r.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value for r in rows)
    assert h.sim.faults_injected >= 5


async def test_a_missing_day_is_reported_by_the_next_reconciliation(ts_env, tmp_path):
    async with notification_harness(ts_env, tmp_path) as h:
        now = await h.now()
        files = factory((now - timedelta(days=4)).date(), first_sequence=500)
        anchor = FeedAnchor(sequence=500, file_date=files.first_date)
        for seq in (500, 501, 503):  # 502 lost in transit
            await h.ingest(files.file(seq))
        # Before 502 was due nothing is missing; then the next reconciliation sees it.
        report = await h.reconcile(anchor)
        found = report.findings
        alerts = [a.alert_key for a in h.store.alerts()]
        resends = h.sim.resends_requested()
        # The PNC sends it again: taken, its convictions notified, the alert resolved.
        again = await h.ingest(files.file(502))
        after = await h.reconcile(anchor)
        await all_closed(h, skip=h.env)
        rows = h.store.notifications(now=await h.now(), limit=1000)
    assert found.missing_sequences == [502]
    assert found.files_expected == 4 and found.files_ingested == 3
    assert "missing_file:502" in alerts
    assert [seq for _, seq in resends] == [502]
    assert again.status == "ingested" and again.notifications_new == files.notifications_in(502)
    assert after.findings.missing_sequences == [] and after.findings.open_alerts == 0
    expected = sum(files.notifications_in(s) for s in (500, 501, 502, 503))
    assert len(rows) == expected and all(r.closed_at for r in rows)


async def test_an_incomplete_file_is_flagged_and_completed_by_the_resend(ts_env, tmp_path):
    async with notification_harness(ts_env, tmp_path) as h:
        now = await h.now()
        files = factory(
            (now - timedelta(days=1)).date(), first_sequence=9, eu_convictions_per_day=6
        )
        whole = files.file(9)
        lines = whole.splitlines(keepends=True)
        cut = b"".join(lines[: len(lines) // 2])
        partial = await h.ingest(cut + b'{"record_type": "conviction", "record_id": "x"}\n')
        report = await h.reconcile()
        completed = await h.ingest(whole)
        after = await h.reconcile()
        await all_closed(h, skip=h.env)
        rows = h.store.notifications(now=await h.now(), limit=1000)
    assert partial.status == "ingested" and not partial.complete
    assert "count_mismatch:9" in partial.alerts
    [bad] = partial.rejected_lines
    assert bad.line == len(lines) // 2 + 1 and "pnc_id" in bad.reason  # the field it lacks
    assert report.findings.incomplete_sequences == [9]
    assert report.findings.resends_requested == [9]
    assert completed.status == "completed" and completed.complete
    assert after.findings.incomplete_sequences == [] and after.findings.open_alerts == 0
    assert len(rows) == files.notifications_in(9)
    assert all(r.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value for r in rows)


async def test_a_conviction_left_without_a_workflow_is_started_by_the_reconciliation(
    ts_env, tmp_path
):
    async with notification_harness(ts_env, tmp_path) as h:
        now = await h.now()
        files = factory(
            (now - timedelta(days=1)).date(), first_sequence=3, eu_convictions_per_day=4
        )
        # The intake recorded the file, then died before starting its notifications.
        parsed = parse_daily_file(files.file(3))
        from runtime.config import LOCAL_SUBJECT_KEY_SECRET

        h.store.ingest(
            parsed,
            secret=LOCAL_SUBJECT_KEY_SECRET,
            due_days=28,
            day_seconds=86_400,
            source="test",
            now=now - timedelta(hours=2),
        )
        report = await h.reconcile()
        await all_closed(h, skip=h.env)
        rows = h.store.notifications(now=await h.now(), limit=1000)
    assert report.started.started == len(rows) == files.notifications_in(3) > 0
    assert {a.kind for a in report.findings.new_alerts} == {"not_started"}
    assert all(r.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value for r in rows)


def test_the_file_format_refuses_a_bad_header_and_counts_bad_lines():
    from datetime import date

    with pytest.raises(DailyFileError):  # no header
        parse_daily_file(b'{"record_type": "conviction"}\n')
    with pytest.raises(DailyFileError):  # empty
        parse_daily_file(b"\n\n")
    from datetime import UTC, datetime

    recorded = datetime(2026, 11, 20, 10, tzinfo=UTC)
    good = conviction(["PL"], recorded)
    raw = daily_file(
        5,
        date(2026, 11, 20),
        [good, {"record_type": "conviction", "pnc_id": "x"}, {"record_type": "arrest"}],
    )
    raw += b"not json\n"
    parsed = parse_daily_file(raw)
    assert parsed.header.record_count == 3
    assert len(parsed.convictions) == 1 and parsed.other_records == 1
    assert [r.line for r in parsed.rejected] == [3, 5]
    assert "Nowak" not in parsed.model_dump_json(exclude={"convictions"})


def test_dual_nationals_are_notified_to_each_eu_state_of_nationality():
    assert notification_countries(["PL", "DE"]) == ["PL", "DE"]
    assert notification_countries(["GB", "IE", "IE"]) == ["IE"]
    assert notification_countries(["AL", "US", "SY"]) == []


RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_of_notifications_out_are_recorded():
    kinds = {p.stem.rsplit("-", 1)[-1] for p in RECORDED}
    assert kinds == {"notification", "reconciliation"}, kinds
    assert len({p.name.split("-")[0] for p in RECORDED}) >= 4


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_notification_history_replays(path):
    """A change to the notification or reconciliation workflow that would break those
    already running fails here (see the README on ``workflow.patched``)."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    # Recorded decrypted: the switch for plain payloads, and the worker's front door.
    result = await replayer(CODEC_KEYS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_simulated_daily_files_are_valid_reproducible_and_can_leave_days_out(tmp_path):
    from datetime import UTC, datetime

    from sim.daily_files import write_files

    today = datetime(2026, 11, 22, 9, tzinfo=UTC)
    written = write_files(tmp_path / "a", days=4, skip=[2], recent=True, today=today)
    again = write_files(tmp_path / "b", days=4, skip=[2], recent=True, today=today)
    assert [p.name for p in written] == [
        "pnc-daily-000001.jsonl",
        "pnc-daily-000003.jsonl",
        "pnc-daily-000004.jsonl",
    ]
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]
    parsed = [parse_daily_file(p.read_bytes()) for p in written]
    assert [f.header.file_date.isoformat() for f in parsed] == [
        "2026-11-18",
        "2026-11-20",
        "2026-11-21",
    ]
    for f in parsed:
        assert f.records_read == f.header.record_count and not f.rejected
        assert all(
            c.recorded_at == datetime(2026, 11, 22, 8, 59, tzinfo=UTC) for c in f.convictions
        )
