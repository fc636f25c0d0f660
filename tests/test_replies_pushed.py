"""Issue 22: replies arrive as messages. The in-process world's post office pushes
each reply when it is due (time-skipping server: at exactly that simulated moment);
the case waits with one deadline timer at a time and triages a reply in the workflow
task that receives it; a repeat counts once; a reply the world drops is found by the
safety net (the scheduled reconciliation)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from access.stuck_replies import kept_reply_rows
from activities.gateways import CountryReply
from activities.replies_in import deliver_reply
from models.case import ACRO_REPLY_SIGNAL, Outcome, ReplyDelivered
from models.replies import ReplyReconcileInput, ReplyReconcileRun
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    api_client,
    custody_event,
    harness,
    key_of,
    state_of,
    system_key,
    until,
    worker_start_refused,
)
from workflows.acro_replies import AcroReplyReconciliationWorkflow

pytestmark = pytest.mark.asyncio


def events_of(history):
    return list(history.events)


def commands_of_signal_task(history, signal_name: str) -> list[str]:
    """The events of the commands of the workflow task that took the signal: those
    after its completion, up to the next task's start (activities by type)."""
    events = events_of(history)
    signalled = next(
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == signal_name
    )
    started = next(
        i
        for i in range(signalled, len(events))
        if events[i].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    assert events[started + 1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    found = []
    for e in events[started + 2 :]:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            break
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        else:
            found.append(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_"))
    return found


async def started(h, event):
    """Started as intake starts it (opening search attributes, then only changes)."""
    return await h.start(event, via_intake=True)


async def closed(handle, env):
    """The case's state once closed (the server's clock moved on a month at a time)."""
    return await until(
        handle, lambda s: s.stage.name == "CLOSED", skip=env, step=timedelta(days=30)
    )


def dump(history) -> None:
    for e in events_of(history):
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        extra = ""
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            extra = f"{a.activity_type.name} by {a.workflow_task_completed_event_id}"
        if e.HasField("marker_recorded_event_attributes"):
            extra = str(e.marker_recorded_event_attributes.details.get("patch_data"))[:80]
        print(e.event_id, e.event_time.ToDatetime(), name, extra)


def kinds(history) -> dict[str, int]:
    counted: dict[str, int] = {}
    for e in events_of(history):
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        counted[name] = counted.get(name, 0) + 1
    return counted


async def test_a_non_eu_no_response_year_is_at_most_60_events(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="US")
        h.world(event, SubjectSpec(replies={"US": ReplySpec(after_days=None)}))
        handle = await started(h, event)
        # Past the whole year (90 days, two chasers 30 days apart, 365 days' late-reply
        # window) in one move of the clock: nothing polls the case meanwhile.
        await ts_env.sleep(timedelta(days=520))
        state = await closed(handle, ts_env)
        history = await handle.fetch_history()
    assert state.outcome is Outcome.NO_RESPONSE
    check = state.checks["US"]
    assert check.status == "no_response"
    assert check.pushed and check.chasers_sent == 2 and check.polls == 0
    assert sum(1 for e in state.timeline if e.kind == "chaser") == 2
    n = len(history.events)
    dump(history)
    print(f"non-EU no response: {n} events {kinds(history)}")
    assert n <= 60


async def test_a_reply_pushed_on_day_40_is_triaged_in_the_task_that_receives_it(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="US")
        reply = ReplySpec(after_days=40, convictions=[ConvictionSpec(offence="FORGERY")])
        h.world(event, SubjectSpec(replies={"US": reply}))
        handle = await started(h, event)
        state = await closed(handle, ts_env)
        history = await handle.fetch_history()
    assert state.outcome is Outcome.NOT_SERIOUS
    check = state.checks["US"]
    assert check.status == "replied" and check.chasers_sent == 0 and check.polls == 0
    waited = check.certificate.received_at - check.requested_at
    assert abs(waited - timedelta(days=40)) < timedelta(minutes=1)
    commands = commands_of_signal_task(history, ACRO_REPLY_SIGNAL)
    assert "record_convictions_on_pnc" in commands, commands  # the first triage step
    print(f"non-EU reply on day 40: {len(history.events)} events {kinds(history)}")


async def test_a_reply_pushed_twice_counts_once(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        # Two countries: the case stays open (waiting for Norway) after the US reply.
        event = custody_event(nationality="US", other_countries=["NO"])
        h.world(
            event,
            SubjectSpec(replies={"US": ReplySpec(after_days=40), "NO": ReplySpec(after_days=None)}),
        )
        handle = await h.start(event)
        state = await until(
            handle, lambda s: s.checks["US"].status == "replied", skip=ts_env, what="US reply"
        )
        ref = state.checks["US"].request_ref
        reply = h.sim.fetch_reply(ref, state.checks["US"].certificate.received_at)
        assert reply is not None and reply.reply_id
        assert await deliver_reply(h.store, h.client, reply) == "duplicate"
        # The same reply under another ID (ACRO sent it again): the case ignores it.
        again = reply.model_copy(update={"reply_id": f"{ref}/again"})
        assert await deliver_reply(h.store, h.client, again) == "delivered"
        await handle.signal(
            ACRO_REPLY_SIGNAL,
            ReplyDelivered(
                request_ref=ref, reply_id="x", certificate=state.checks["US"].certificate
            ),
        )
        state = await state_of(handle)
        replies = [e for e in state.timeline if e.kind == "reply"]
        assert len(replies) == 1
        assert h.store.document(f"certificate-{ref}") is not None
        assert h.store.acro_reply(reply.reply_id).status == "delivered"
        assert state.checks["NO"].status == "requested"


async def a_reply_dropped(h, ts_env):
    """A case whose US reply (day 40) the world drops, once its request is made: its
    event and its handle."""
    event = custody_event(nationality="US")
    h.world(event, SubjectSpec(replies={"US": ReplySpec(after_days=40)}))
    handle = await h.start(event)
    await until(handle, lambda s: s.checks["US"].request_ref is not None, skip=ts_env)
    return event, handle


async def test_a_reply_the_world_drops_is_found_by_the_safety_net(ts_env, tmp_path):
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        h.reply_drop = lambda request_ref: True
        async with h.running():
            event, handle = await a_reply_dropped(h, ts_env)
            await ts_env.sleep(timedelta(days=45))
            state = await state_of(handle)
            assert state.checks["US"].status == "requested"  # the reply was dropped
            report = await h.client.execute_workflow(
                AcroReplyReconciliationWorkflow.run,
                ReplyReconcileInput(policy=h.policy),
                id=f"acro-reconcile-{uuid.uuid4()}",
                task_queue=h.task_queue,
            )
            assert (report.asked, report.found, report.delivered) == (1, 1, 1)
            result = await handle.result()
            state = await state_of(handle)
            again = await h.client.execute_workflow(
                AcroReplyReconciliationWorkflow.run,
                ReplyReconcileInput(policy=h.policy),
                id=f"acro-reconcile-{uuid.uuid4()}",
                task_queue=h.task_queue,
            )
    assert result.outcome is Outcome.NO_TRACE
    assert state.checks["US"].status == "replied" and state.checks["US"].chasers_sent == 0
    assert again.asked == 0  # nothing outstanding any more
    assert key_of(event)


PER_RUN = ReplyReconcileRun.model_fields["limit"].default  # requests a run takes at most


async def test_requests_never_answered_do_not_crowd_out_a_dropped_reply(ts_env, tmp_path):
    """A national year leaves thousands of requests a country never answers: more of
    them than a run takes (``ReplyReconcileRun.limit``), all older than the one whose
    reply was dropped. The safety net starts from ACRO's list of replies sent, so the
    dropped one is still found at the next run."""
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        h.reply_drop = lambda request_ref: True
        async with h.running():
            _, handle = await a_reply_dropped(h, ts_env)
            ref = (await state_of(handle)).checks["US"].request_ref
            asked_at = h.store.acro_request(ref).requested_at
            for i in range(PER_RUN + 1):
                h.store.record_acro_request(
                    f"ACRO-NEVER-{i:05d}",
                    workflow_id=f"encounter-never-{i}",
                    country="US",
                    purpose="criminal_proceedings",
                    requested_at=asked_at - timedelta(hours=1, seconds=i),
                )
            await ts_env.sleep(timedelta(days=45))
            report = await h.client.execute_workflow(
                AcroReplyReconciliationWorkflow.run,
                ReplyReconcileInput(policy=h.policy),
                id=f"acro-reconcile-{uuid.uuid4()}",
                task_queue=h.task_queue,
            )
            result = await handle.result()
    assert (report.asked, report.found, report.delivered) == (1, 1, 1)
    assert report.still_outstanding == PER_RUN + 1  # the never-answered ones, counted
    assert result.outcome is Outcome.NO_TRACE


async def test_a_reply_nobody_asked_for_is_kept(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        reply = CountryReply(
            reply_id="ACRO-NOBODY/reply",
            request_ref="ACRO-NOBODY",
            country="US",
            purpose="criminal_proceedings",
            replied_at=h.sim._days(0)
            + __import__("datetime").datetime.now(__import__("datetime").UTC),
        )
        assert await deliver_reply(h.store, h.client, reply) == "kept_unknown"
        assert await deliver_reply(h.store, h.client, reply) == "duplicate"
        assert [r.reply_id for r in h.store.kept_acro_replies()] == ["ACRO-NOBODY/reply"]
        # The request's row written after all (the reply came before its request's
        # answer reached the store): still owed, so the safety net's delivery takes it.
        when = datetime.now(UTC) - timedelta(days=1)
        h.store.record_acro_request(
            "ACRO-NOBODY",
            workflow_id="encounter-gone",
            country="US",
            purpose="criminal_proceedings",
            requested_at=when,
        )
        owed = h.store.unreplied_among(
            ["ACRO-NOBODY"],
            requested_before=datetime.now(UTC),
            requested_after=when - timedelta(days=1),
        )
        assert owed == ["ACRO-NOBODY"]
        # The case has gone (no such workflow): kept for the closed case, not lost.
        assert await deliver_reply(h.store, h.client, reply) == "kept_closed"
        assert h.store.acro_reply("ACRO-NOBODY/reply").workflow_id == "encounter-gone"


# --- the inbound route ------------------------------------------------------------
ACRO = system_key(name="ACRO replies", scopes=["acro-replies"])
CUSTODY = system_key(name="Kent custody system", scopes=["custody-events"], forces=["*"])


def body_of(reply: CountryReply) -> dict:
    return reply.model_dump(mode="json")


async def test_a_reply_posted_by_acro_is_delivered_once_then_kept_for_a_closed_case(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        h.reply_drop = lambda request_ref: True  # the world's post does not come: ACRO posts
        async with h.running(), api_client(h.client, h.store) as http:
            event = custody_event(nationality="US")
            h.world(event, SubjectSpec(replies={"US": ReplySpec(after_days=40)}))
            handle = await h.start(event)
            state = await until(
                handle, lambda s: s.checks["US"].request_ref is not None, skip=ts_env
            )
            await ts_env.sleep(timedelta(days=41))
            ref = state.checks["US"].request_ref
            reply = h.sim.fetch_reply(ref, state.checks["US"].requested_at + timedelta(days=41))
            assert reply is not None
            url = "/integrations/acro/replies"
            first = await http.post(url, json=body_of(reply), headers=ACRO)
            assert (first.status_code, first.json()) == (
                202,
                {"reply_id": reply.reply_id, "status": "delivered"},
            )
            again = await http.post(url, json=body_of(reply), headers=ACRO)
            assert (again.status_code, again.json()["status"]) == (202, "duplicate")
            result = await handle.result()
            late = reply.model_copy(update={"reply_id": f"{ref}/resent"})
            closed_case = await http.post(url, json=body_of(late), headers=ACRO)
            assert (closed_case.status_code, closed_case.json()["status"]) == (202, "kept_closed")
            state = await state_of(handle)
    assert result.outcome is Outcome.NO_TRACE
    assert sum(1 for e in state.timeline if e.kind == "reply") == 1
    assert {r.status for r in h.store.kept_acro_replies()} == {"kept_closed"}
    rows = await kept_reply_rows(h.store.engine)  # in the stuck-case listing
    assert [(r.case_id, r.code) for r in rows] == [(handle.id, "reply_kept_closed")]


async def test_the_route_refuses_what_is_not_acros_or_not_a_reply(ts_env, tmp_path, monkeypatch):
    import api.acro_replies as route

    async with harness(ts_env, tmp_path, run_worker=False) as h:
        async with api_client(h.client, h.store) as http:
            url = "/integrations/acro/replies"
            good = {
                "reply_id": "ACRO-X/reply",
                "request_ref": "ACRO-X",
                "country": "US",
                "purpose": "criminal_proceedings",
                "replied_at": "2027-01-11T06:00:00Z",
            }
            assert (await http.post(url, json=good)).status_code == 401
            assert (await http.post(url, json=good, headers=CUSTODY)).status_code == 403
            for bad in (
                {**good, "reply_id": ""},
                {**good, "country": "XX"},
                {**good, "purpose": "gossip"},
                {**good, "text": "x" * 20_000},
                {k: v for k, v in good.items() if k != "request_ref"},
            ):
                answer = await http.post(url, json=bad, headers=ACRO)
                assert answer.status_code == 422, bad
            big = {**good, "text": "x" * (300 * 1024)}
            assert (await http.post(url, json=big, headers=ACRO)).status_code == 413
            nobody = await http.post(url, json=good, headers=ACRO)
            assert (nobody.status_code, nobody.json()["status"]) == (202, "kept_unknown")

            async def outage(*args, **kwargs):
                raise RPCError("down", RPCStatusCode.UNAVAILABLE, b"")

            monkeypatch.setattr(route, "deliver_reply", outage)
            down = await http.post(url, json={**good, "reply_id": "ACRO-X/2"}, headers=ACRO)
            assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0


# --- a case started polling -------------------------------------------------------
async def test_a_case_started_polling_keeps_polling_to_its_end_on_the_new_code(ts_env, tmp_path):
    """Started on the code before issue 22 (no marker: its check polls), the worker
    replaced by today's mid-wait: the case polls on to its reply and outcome, with no
    marker of the change, and its history replays on today's code."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.gateways import Gateways
    from tests.support import CODEC_KEYS
    from tests.support_front_door import checking, replayer
    from tests.support_old_replies import EncounterBeforePushedReplies
    from workflows.changes import REPLIES_PUSHED

    async with harness(ts_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="US")
        reply = ReplySpec(after_days=40, convictions=[ConvictionSpec(offence="FORGERY")])
        h.world(event, SubjectSpec(replies={"US": reply}))
        with ThreadPoolExecutor(8) as pool:
            async with Worker(
                h.client,
                task_queue=h.task_queue,
                workflows=[EncounterBeforePushedReplies],
                activities=h.activities(Gateways.all_from(h.sim)).all(),
                activity_executor=pool,
                interceptors=[checking()],
                # No sticky queue left behind: the next worker takes the case at once.
                max_cached_workflows=0,
            ):
                handle = await h.start(event)
                old = await until(
                    handle, lambda s: s.checks["US"].polls >= 3, skip=ts_env, what="polls"
                )
        assert not old.checks["US"].pushed and old.checks["US"].status == "requested"
        async with h.running():
            state = await until(
                handle, lambda s: s.stage.name == "CLOSED", skip=ts_env, what="closed", within=30
            )
        history = await handle.fetch_history()
    assert state.outcome is Outcome.NOT_SERIOUS
    check = state.checks["US"]
    assert check.status == "replied" and not check.pushed and check.polls > old.checks["US"].polls
    assert h.store.acro_request(check.request_ref) is None  # nothing recorded for a push
    patches = [
        e.marker_recorded_event_attributes.details["patch_data"].payloads[0].data
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and "patch_data" in e.marker_recorded_event_attributes.details
    ]
    assert not any(REPLIES_PUSHED.encode() in p for p in patches)
    await replayer(CODEC_KEYS).replay_workflow(history)


# --- the safety net's schedule ------------------------------------------------------
def test_the_safety_net_runs_daily_and_every_simulated_day_when_compressed():
    from models.policy import Policy, compressed_policy
    from processes.acro_reconciliation_schedule import acro_reconciliation_schedule

    daily = acro_reconciliation_schedule("q", Policy())
    assert [c.hour[0].start for c in daily.spec.calendars] == [5]
    fast = acro_reconciliation_schedule("q", compressed_policy(120))
    assert [i.every for i in fast.spec.intervals] == [timedelta(seconds=120)]
    assert daily.action.workflow == "acro_reply_reconciliation"


async def test_the_safety_net_schedule_is_created_once(dev_env):
    from models.policy import compressed_policy
    from processes.acro_reconciliation_schedule import ensure_acro_reconciliation_schedule

    client = dev_env.client
    queue = f"tq-{uuid.uuid4()}"
    policy = compressed_policy(120)
    try:
        assert await ensure_acro_reconciliation_schedule(
            client, task_queue=queue, policy=policy
        ) in ("created", "updated")
        assert (
            await ensure_acro_reconciliation_schedule(client, task_queue=queue, policy=policy)
            == "unchanged"
        )
    finally:
        from models.replies import ACRO_RECONCILIATION_SCHEDULE_ID

        await client.get_schedule_handle(ACRO_RECONCILIATION_SCHEDULE_ID).delete()


def test_an_operator_sets_how_often_the_safety_net_runs():
    from models.policy import Policy, compressed_policy
    from processes.acro_reconciliation_schedule import (
        ScheduleSettingError,
        acro_reconciliation_schedule,
        run_interval,
    )

    every = run_interval({"FNO_ACRO_RECONCILE_EVERY_SECONDS": "21600"})
    assert every == timedelta(hours=6)
    # On either policy the interval replaces the policy's cadence.
    for policy in (Policy(), compressed_policy(0.05)):
        schedule = acro_reconciliation_schedule("q", policy, every)
        assert [i.every for i in schedule.spec.intervals] == [timedelta(hours=6)]
        assert not schedule.spec.calendars
    assert run_interval({}) is None
    assert run_interval({"FNO_ACRO_RECONCILE_EVERY_SECONDS": " "}) is None
    assert run_interval({"FNO_ACRO_RECONCILE_EVERY_SECONDS": "604800"}) == timedelta(days=7)
    for bad in ("0.5", "-3", "six hours", "nan", "inf", "1e13", "1e300", "604801"):
        with pytest.raises(ScheduleSettingError) as refused:
            run_interval({"FNO_ACRO_RECONCILE_EVERY_SECONDS": bad})
        assert "FNO_ACRO_RECONCILE_EVERY_SECONDS" in str(refused.value)


def test_the_worker_refuses_to_start_with_a_bad_safety_net_interval(tmp_path):
    done = worker_start_refused(tmp_path, FNO_ACRO_RECONCILE_EVERY_SECONDS="daily")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "FNO_ACRO_RECONCILE_EVERY_SECONDS" in done.stdout + done.stderr
