"""Issue 20, notifications out: the statutory deadline by the UK date (EU(FR) Act 2020
s.1(5): before the end of the 28 days *beginning with* the day the conviction is
recorded, that day counting, GMT or BST), and amended or deleted convictions notified
again (s.1(7)) — each through a real worker on the time-skipping server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from access.notifications import notifications as listed_notifications
from models.case import Outcome
from models.daily_file import parse_daily_file
from models.notification import (
    NotificationInput,
    conviction_document_id,
    notification_id_for,
    notification_kind,
)
from models.notification_policy import NotificationPolicy, notification_due
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from tests.support import principal
from tests.support_notifications import amendment, conviction, daily_file, factory
from tests.support_notifications import notification_harness as harness
from tests.test_notifications import all_closed
from workflows.notification import NotificationWorkflow

LONDON = ZoneInfo("Europe/London")
SUPERVISOR = principal("supervisor", "Sue Park")


# --- the deadline ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recorded", "due"),
    [
        # BST: 23:30 on 10 June is 22:30 UTC; due by the end of 7 July UK time.
        (datetime(2026, 6, 10, 23, 30, tzinfo=LONDON), datetime(2026, 7, 7, 23, tzinfo=UTC)),
        # GMT: 23:30 on 10 January; due by the end of 6 February.
        (datetime(2026, 1, 10, 23, 30, tzinfo=LONDON), datetime(2026, 2, 7, tzinfo=UTC)),
        # 00:30 BST on 11 June is still 10 June in UTC: the UK date counts.
        (datetime(2026, 6, 11, 0, 30, tzinfo=LONDON), datetime(2026, 7, 8, 23, tzinfo=UTC)),
        # Recorded in GMT, due in BST (clocks go forward on 29 March 2026).
        (datetime(2026, 3, 28, 23, 30, tzinfo=LONDON), datetime(2026, 4, 24, 23, tzinfo=UTC)),
        # Recorded in BST, due in GMT (clocks go back on 25 October 2026).
        (datetime(2026, 10, 20, 9, tzinfo=LONDON), datetime(2026, 11, 17, tzinfo=UTC)),
    ],
)
def test_the_deadline_is_the_end_of_the_28th_uk_day_counting_the_day_recorded(recorded, due):
    assert notification_due(recorded, 28, 86_400) == due
    assert NotificationPolicy().notification_due(recorded.astimezone(UTC)) == due
    # The last moment of UK day D+27.
    last_day = (due - timedelta(microseconds=1)).astimezone(LONDON).date()
    assert last_day == recorded.date() + timedelta(days=27)


def test_a_compressed_clock_keeps_its_scaled_deadline():
    policy = NotificationPolicy(day_seconds=0.2)
    recorded = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)
    assert policy.notification_due(recorded) == recorded + timedelta(seconds=28 * 0.2)


async def test_a_conviction_recorded_at_2330_uk_time_is_due_by_the_end_of_day_d_plus_27(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        # Yesterday (UK date) at 23:30 UK time: not late, so the escalation is planned.
        yesterday = now.astimezone(LONDON).date() - timedelta(days=1)
        recent = datetime.combine(yesterday, datetime.min.time(), LONDON).replace(
            hour=23, minute=30
        )
        bst = datetime(2026, 6, 10, 23, 30, tzinfo=LONDON)
        gmt = datetime(2026, 1, 10, 23, 30, tzinfo=LONDON)
        records = [conviction(["PL"], bst), conviction(["RO"], gmt), conviction(["FR"], recent)]
        await h.ingest(daily_file(61, yesterday, records))
        expected = {
            "PL": datetime(2026, 7, 7, 23, tzinfo=UTC),
            "RO": datetime(2026, 2, 7, tzinfo=UTC),
            "FR": datetime.combine(yesterday + timedelta(days=28), datetime.min.time(), LONDON),
        }
        ids = {r.country: r.notification_id for r in h.store.notifications(now=now)}
        opened = {c: await h.state(i) for c, i in ids.items()}
        await all_closed(h, skip=h.env)
        closed = {c: await h.state(i) for c, i in ids.items()}
        rows = {r.country: r for r in listed_notifications(h.store, SUPERVISOR, now=now)}
    for country, due in expected.items():
        assert opened[country].due_at == due, country
        assert rows[country].due_at == due, country
        assert closed[country].outcome is Outcome.NOTIFICATION_ACKNOWLEDGED
    # The old rule (recorded + 28 x 24 h) was up to a day later.
    assert closed["RO"].due_at == gmt + timedelta(days=28) - timedelta(hours=23, minutes=30)
    # The escalation is a week before the new deadline; the old ones were late.
    assert opened["FR"].escalate_at == expected["FR"] - timedelta(days=7)
    assert not rows["FR"].sent_late and rows["PL"].sent_late and rows["RO"].sent_late


async def test_an_input_without_a_deadline_keeps_the_old_rule(ts_env, tmp_path):
    """A case started before this release has no ``due_at`` in its input: it keeps
    ``recorded_at + 28 days`` (and its escalation day 21), as its history says."""
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        recorded = now - timedelta(hours=3)
        key = "0" * 24
        inp = NotificationInput(
            notification_id=notification_id_for(key, "PL"),
            conviction_key=key,
            country="PL",
            file_sequence=1,
            recorded_at=recorded,
            conviction_document_id=conviction_document_id(key),
        )
        handle = await h.client.start_workflow(
            NotificationWorkflow.run, inp, id=inp.notification_id, task_queue=h.task_queue
        )
        state = await handle.query(NotificationWorkflow.state)
        await handle.terminate(reason="test over")
    assert state.due_at == recorded + timedelta(days=28)
    assert state.escalate_at == recorded + timedelta(days=21)
    assert state.kind == "conviction" and state.amends_notification_id is None


# --- amended and deleted convictions ---------------------------------------------------------
async def test_an_amended_conviction_is_notified_again_once_to_each_state(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        recorded = now - timedelta(hours=20)
        original = {**conviction(["LT", "PL"], recorded), "record_id": "30-000001"}
        await h.ingest(daily_file(30, recorded.date(), [original]))
        await all_closed(h, skip=h.env)
        firsts = {r.country: r.notification_id for r in h.store.notifications(now=now)}
        # Days later the PNC amends it (the sentence varied on appeal).
        now = await h.now()
        amended_at = now - timedelta(hours=2)
        change = amendment(original, amended_at, record_id="34-000002")
        raw = daily_file(34, amended_at.date(), [change, {"record_type": "arrest"}])
        report = await h.ingest(raw)
        again = await h.ingest(raw)
        # The same change repeated in a later file: the same change.
        repeated = await h.ingest(daily_file(35, amended_at.date() + timedelta(days=1), [change]))
        await all_closed(h, skip=h.env)
        rows = h.store.notifications(now=await h.now())
        follow_ups = {r.country: r for r in rows if r.notification_id not in firsts.values()}
        states = {c: await h.state(r.notification_id) for c, r in follow_ups.items()}
        sent = h.sim.per_subject("notification_sent")
        listed = listed_notifications(h.store, SUPERVISOR, now=await h.now(), country="PL")
        message = json.loads(
            h.case_store.document(
                f"notification-message-{follow_ups['PL'].notification_id}"
            ).content
        )
    assert (report.changes, report.notifications_new, report.started) == (1, 2, 2)
    assert report.complete and report.records_read == 2
    assert again.status == "already_ingested" and again.notifications_new == 0
    assert repeated.changes == 1 and repeated.notifications_new == repeated.started == 0
    assert sorted(follow_ups) == ["LT", "PL"] and len(rows) == 4
    for country, row in follow_ups.items():
        s = states[country]
        assert (s.kind, s.amends_notification_id) == ("amendment", firsts[country])
        assert notification_kind(row.conviction_document_id) == "amendment"
        assert row.conviction_key == h.store.record(firsts[country]).conviction_key
        assert row.recorded_at == amended_at
        assert row.due_at == notification_due(amended_at, 28, 86_400)
        assert row.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value
    # Every notification, first and follow-up, sent exactly once.
    assert sorted(sent.values()) == [1] * 4 and set(sent) == {r.notification_id for r in rows}
    # The listing (GET /notifications) shows the kind and the link.
    assert sorted((r.kind, r.amends_notification_id or "") for r in listed) == [
        ("amendment", firsts["PL"]),
        ("conviction", ""),
    ]
    assert message["amends_uk_reference"] == firsts["PL"]
    assert message["change"]["kind"] == "amendment"
    assert message["conviction"]["offences"][0]["sentence"] == "Conditional discharge"


async def test_a_deletion_of_a_conviction_not_yet_notified_follows_its_notification(
    ts_env, tmp_path
):
    """Decision: the pending notification is still sent, and the deletion after it."""
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        recorded = now - timedelta(hours=6)
        original = {**conviction(["RO"], recorded), "record_id": "40-000001"}
        deletion = amendment(original, now - timedelta(hours=1), change="deleted")
        report = await h.ingest(daily_file(40, recorded.date(), [original, deletion]))
        await all_closed(h, skip=h.env)
        first = h.store.record(notification_id_for(original_key(original), "RO"))
        [follow_up] = [
            r for r in h.store.notifications(now=now) if r.notification_id != first.notification_id
        ]
        state = await h.state(follow_up.notification_id)
        message = json.loads(
            h.case_store.document(f"notification-message-{follow_up.notification_id}").content
        )
        sent = h.sim.per_subject("notification_sent")
    assert (report.convictions, report.changes, report.notifications_new) == (1, 1, 2)
    assert (state.kind, state.amends_notification_id) == ("deletion", first.notification_id)
    assert first.sent_at is not None and follow_up.sent_at >= first.sent_at
    assert sent == {first.notification_id: 1, follow_up.notification_id: 1}
    assert {first.outcome, follow_up.outcome} == {Outcome.NOTIFICATION_ACKNOWLEDGED.value}
    assert message["change"] == {"kind": "deletion", "reason": "quashed on appeal"}
    assert "offences" not in message["conviction"] and message["person"]["family_name"] is None


def original_key(record: dict) -> str:
    [parsed] = parse_daily_file(daily_file(1, datetime(2026, 1, 1).date(), [record])).convictions
    return parsed.conviction_key(LOCAL_SUBJECT_KEY_SECRET)


async def test_simulated_amendments_and_deletions_are_each_notified_once(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        files = factory(
            (now - timedelta(days=6)).date(),
            first_sequence=200,
            eu_convictions_per_day=6,
            change_rate=0.5,
            change_within_days=3,
        )
        sequences = range(200, 206)
        changes = [c for s in sequences for c in files.changes(s)]
        for seq in sequences:
            await h.ingest(files.file(seq))
        await all_closed(h, skip=h.env, within=120)
        rows = h.store.notifications(now=await h.now(), limit=1000)
        sent = h.sim.per_subject("notification_sent")
    kinds = [notification_kind(r.conviction_document_id) for r in rows]
    assert {c["change"] for c in changes} == {"amended", "deleted"}
    assert len(rows) == sum(files.notifications_in(s) for s in sequences)
    assert kinds.count("amendment") + kinds.count("deletion") > 0
    assert sorted(sent.values()) == [1] * len(rows)
    assert all(r.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value for r in rows)


def test_the_file_format_takes_amendments_and_deletions_and_refuses_a_bare_amendment():
    recorded = datetime(2026, 11, 20, 10, tzinfo=UTC)
    original = {**conviction(["PL"], recorded), "record_id": "5-1"}
    bare = {**amendment(original, recorded, change="amended")}
    del bare["offences"]
    raw = daily_file(
        9,
        recorded.date(),
        [
            amendment(original, recorded),
            amendment(original, recorded, change="deleted"),
            bare,
            {**amendment(original, recorded, change="deleted"), "recorded_at": "2026-11-20T10:00"},
        ],
    )
    parsed = parse_daily_file(raw)
    assert [c.change for c in parsed.changes] == ["amended", "deleted"]
    assert [r.line for r in parsed.rejected] == [4, 5]
    assert "offences" in parsed.rejected[0].reason
    assert parsed.changes[0].conviction_key("s") == parsed.changes[1].conviction_key("s")
    assert parsed.changes[0].change_key("s") != parsed.changes[1].change_key("s")


def test_the_simulator_changes_only_what_it_is_asked_to():
    from datetime import date

    day = date(2026, 1, 1)
    plain, changing = factory(day), factory(day, change_rate=0.3)
    assert plain.file(1) == changing.file(1)  # nothing before the first file to change
    assert sum(len(changing.changes(s)) for s in range(1, 15)) > 0
    assert all(plain.changes(s) == [] for s in range(1, 15))
    for seq in range(1, 15):
        parsed = parse_daily_file(changing.file(seq))
        assert parsed.records_read == parsed.header.record_count and not parsed.rejected
        earlier = {
            rec["record_id"]: rec
            for s in range(1, seq)
            for rec in changing.records(s)
            if rec["record_type"] == "conviction"
        }
        for c in parsed.changes:
            assert earlier[c.amends_record_id]["pnc_id"] == c.pnc_id


async def test_a_change_left_without_a_workflow_is_started_by_the_reconciliation(ts_env, tmp_path):
    """The intake recorded a file with an amendment, then died before starting its
    notifications: the reconciliation starts it with its kind, link and deadline."""
    async with harness(ts_env, tmp_path) as h:
        now = await h.now()
        recorded = now - timedelta(hours=5)
        original = {**conviction(["HU"], recorded), "record_id": "50-000001"}
        change = amendment(original, now - timedelta(hours=4), change="deleted")
        h.store.ingest(
            parse_daily_file(daily_file(50, recorded.date(), [original, change])),
            secret=LOCAL_SUBJECT_KEY_SECRET,
            due_days=28,
            day_seconds=86_400,
            source="test",
            now=now - timedelta(hours=2),
        )
        first_id = notification_id_for(original_key(original), "HU")
        report = await h.reconcile()
        await all_closed(h, skip=h.env)
        [follow_up] = [r for r in h.store.notifications(now=now) if r.notification_id != first_id]
        state = await h.state(follow_up.notification_id)
    assert report.started.started == 2
    assert (state.kind, state.amends_notification_id) == ("deletion", first_id)
    assert state.due_at == follow_up.due_at == notification_due(change_at(change), 28, 86_400)
    assert follow_up.outcome == Outcome.NOTIFICATION_ACKNOWLEDGED.value


def change_at(record: dict) -> datetime:
    return datetime.fromisoformat(record["recorded_at"])
