"""A timer fires and a decision arrives in the same workflow task, after a task timeout.

The interleaving that made cases no worker could replay (issue 16): the worker dies
while a case's timer runs; the timer fires with no worker; the dead worker's sticky
workflow task times out (SCHEDULE_TO_START); a caseworker's decision arrives; the next
worker gets one workflow task holding both. The SDK (temporalio 1.35.0) ran the
decision first on replay but not always live, so the history could not be replayed.
``workflows.activation_order`` makes the case take the events first, then the
decision, live and on replay (see its docstring).

- The two real histories saved from the black-box runs replay.
- On a real dev server, with a real worker process SIGKILLed: every kind of decision a
  Criminal Casework case takes while a timer runs (the deportation decision as the
  Stage 1 window closes, ``subject_located`` as an ICE status review falls due) is
  sent while the worker is dead, after the timer fired; the new worker's first
  workflow task holds the timer and the decision. The decision is judged on the state
  after the timer (the window closed: the deportation decision is expected and
  taken), the case goes on, and every history replays.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from access.decisions import request_for, send_decision
from access.errors import DecisionRefused
from access.intake import start_all
from identity.principal import Principal
from models.case import Stage
from models.decisions import DecisionRequest
from models.policy import compressed_policy
from runtime.config import LOCAL_SUBJECT_KEY_SECRET as SECRET
from runtime.embedded import stop_process
from store.cases import CaseStore
from tests.support import (
    CODEC_KEYS,
    NOT_DETAINED,
    checklist_decisions,
    custody_event,
    state_of,
    worker_env,
)
from tests.support_front_door import replayer
from workflows import activation_order

ROOT = Path(__file__).resolve().parent.parent
SAVED = sorted((Path(__file__).parent / "histories" / "after_worker_kill").glob("*.json"))
DAY = 0.5  # seconds: Stage 1 window 5 s, ICE status review every 3.5 s
STICKY_TIMEOUT = 10.0  # the SDK's default sticky schedule-to-start timeout, seconds


def test_the_workaround_is_installed_for_the_pinned_sdk():
    assert activation_order.installed()
    assert activation_order.sdk_version() in activation_order.TESTED_SDK_VERSIONS


def test_every_saved_history_is_here():
    # Two saved after a worker kill (the update-ordering fault); two from the chaos
    # decisions run of issue 22 (a deadline's task that wrote no upsert live).
    assert [p.stem for p in SAVED] == [
        "casework-3286faf6adda1e9a70b428ed",
        "casework-abfa8d55b185db286f6ac4bf",
        "casework-c368b1a561767e07e3e3ad68",
        "casework-e0e9e5afffaccd680f7a7f64",
    ]


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(p.stem, json.loads(p.read_text())) for p in SAVED],
    ids=[p.stem for p in SAVED],
)
async def test_the_histories_saved_after_a_worker_kill_replay(history: WorkflowHistory):
    # Saved decrypted, before the front door: replayed with the switch for plain payloads
    # and the worker's checks.
    result = await replayer(CODEC_KEYS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


SAM = Principal(subject="local:sam", name="Sam Jones", role="caseworker")
CORA = Principal(subject="local:cora", name="Cora Lind", role="cc_manager")
ALLOCATION = {"kind": "allocate_case", "owner_id": SAM.subject, "owner_name": SAM.name}


# issue 21: a decision to deport with its needed fields.
DEPORT_NEEDED: dict[str, Any] = {
    "decision": "deport",
    "address_known": True,
    "in_country_right_of_appeal": False,
    "foreign_convictions": "as certified",
    "uk_convictions": "as on the PNC",
    "outstanding_uk_activity": "none",
}


def decision(kind: str, **fields: Any) -> DecisionRequest:
    """Sam's decision (``access.decisions.send_decision`` sends it as Sam)."""
    return request_for(SAM, "interleaving test", {"kind": kind, **fields})


NEW_EVENTS = {
    EventType.EVENT_TYPE_TIMER_FIRED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
}


def since_last_completed_task(events: list[Any], before: int) -> set[Any]:
    """The kinds of the events after the last completed workflow task before ``before``."""
    kinds = set()
    for x in reversed([e for e in events if e.event_id < before]):
        if x.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            break
        kinds.add(x.event_type)
    return kinds


def timer_fired_then_task_timed_out(history: WorkflowHistory) -> bool:
    """The worker died as a timer fired: a timed-out workflow task after it."""
    events = list(history.events)
    return any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        and EventType.EVENT_TYPE_TIMER_FIRED in since_last_completed_task(events, e.event_id)
        for e in events
    )


def decisions_taken_with_other_events(history: WorkflowHistory) -> int:
    """Workflow tasks that accepted an update and took other new events too: with the
    workaround live, none (the decision is deferred, and taken in a task of its own)."""
    events = list(history.events)
    return sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and since_last_completed_task(
            events,
            e.workflow_execution_update_accepted_event_attributes.accepted_request_sequencing_event_id,
        )
        & NEW_EVENTS
    )


async def wait_for(check: Any, *, within: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            got = await check()
            if got:
                return got
        except Exception:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def worker_launcher(
    client: Client, tmp_path: Path, events: list[Any], *, seed: int
) -> tuple[str, Callable[[], subprocess.Popen[bytes]]]:
    """A task queue and a way to start (and start again) a real worker process on it,
    with its own case store and a world in which each event's subject has a
    certificate of a conviction for robbery from their nationality's state."""
    task_queue = f"interleave-{uuid.uuid4()}"
    home = tmp_path / "home"
    home.mkdir()
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    CaseStore.migrated(db_url).engine.dispose()
    certificate = {
        "after_days": 0.5,
        "convictions": [{"offence": "ROBBERY"}],
        "certificate_purpose": "immigration_deportation",
    }
    world = {
        "seed": seed,
        "subjects": {
            e.subject.pnc_id: {
                "replies": {e.subject.nationality: certificate},
                "located_after_days": None,
            }
            for e in events
        },
    }
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(world))
    env = worker_env(
        client.service_client.config.target_host, home, db_url, world_file, DAY, task_queue
    )
    logs: list[Path] = []

    def start_worker() -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(logs)}.log"
        logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=out
            )

    return task_queue, start_worker


@pytest.mark.devserver
async def test_a_decision_in_the_task_of_a_timer_after_a_task_timeout(dev_env, tmp_path):
    client: Client = dev_env.client
    window = custody_event(nationality="NL", force="interleave")  # to the Stage 1 window
    review = custody_event(nationality="NL", force="interleave")  # ICE tasking reviews
    task_queue, start_worker = worker_launcher(client, tmp_path, [window, review], seed=3)
    worker = start_worker()
    try:
        text = "\n".join(e.model_dump_json() for e in (window, review))
        started = await start_all(
            client, text, task_queue=task_queue, policy=compressed_policy(DAY)
        )
        assert [r.status for r in started] == ["started", "started"]

        async def casework_of(event: Any) -> Any:
            async def referred() -> Any:
                s = await state_of(client.get_workflow_handle(event.case_id()))
                return s.casework_id

            case_id = await wait_for(referred, within=90, what="the referral")
            return client.get_workflow_handle(case_id)

        window_case, review_case = await casework_of(window), await casework_of(review)

        async def awaiting(handle: Any, kind: str) -> Any:
            async def check() -> Any:
                s = await state_of(handle)
                return s if kind in s.awaiting else None

            return await wait_for(check, within=90, what=f"{handle.id} awaiting {kind}")

        async def allocate(handle: Any) -> None:  # issue 21: a CC manager allocates
            await awaiting(handle, "allocate_case")
            req = request_for(CORA, "interleaving test", {**ALLOCATION, "team": "CC Team 1"})
            await send_decision(client, handle.id, CORA, req)

        # The review case waits in ICE tasking; the window case is located, detained and
        # served its Stage 1 notice.
        await awaiting(review_case, "subject_located")
        await awaiting(window_case, "subject_located")
        await send_decision(
            client, window_case.id, SAM, decision("subject_located", case_owner="Sam Jones")
        )
        await allocate(window_case)
        for kind, req in checklist_decisions():  # issue 21: the located checklist
            await awaiting(window_case, kind)
            fields = req.decision.model_dump(mode="json", exclude={"kind"})
            await send_decision(client, window_case.id, SAM, decision(kind, **fields))
        await awaiting(window_case, "detention")
        not_detained = {k: v for k, v in NOT_DETAINED.items() if k != "kind"}
        await send_decision(client, window_case.id, SAM, decision("detention", **not_detained))
        await awaiting(window_case, "serve_stage1")  # issue 21: served on instruction
        await send_decision(
            client, window_case.id, SAM, decision("serve_stage1", means="in_person")
        )

        async def in_window() -> Any:
            s = await state_of(window_case)
            return s if s.stage is Stage.STAGE1_RESPONSE_WINDOW else None

        s = await wait_for(in_window, within=60, what="the Stage 1 window")
        window_closes = s.deadlines[0].due_at
        review_due = (await state_of(review_case)).next_review_at

        # The worker dies while both timers run.
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = asyncio.get_running_loop().time()

        # Both timers fire with no worker; the dead worker's sticky tasks time out.
        now = datetime.now(UTC)  # the dev server runs on this machine's clock
        fires_in = max((window_closes - now).total_seconds(), (review_due - now).total_seconds())
        await asyncio.sleep(max(fires_in, 0) + 0.5)
        # The decisions arrive after the timers fired, while no worker runs.
        deport = asyncio.create_task(
            send_decision(client, window_case.id, SAM, decision("deportation", **DEPORT_NEEDED))
        )
        located = asyncio.create_task(
            send_decision(
                client, review_case.id, SAM, decision("subject_located", case_owner="Sam Jones")
            )
        )
        await asyncio.sleep(
            max(0.0, killed_at + fires_in + STICKY_TIMEOUT + 1 - asyncio.get_running_loop().time())
        )
        worker = start_worker()

        # Judged after the window closed: the deportation decision is expected, taken.
        result = await asyncio.wait_for(deport, 60)
        assert result.accepted
        s = await awaiting(window_case, "serve_deportation_order")
        assert s.stage is Stage.DEPORTATION_ORDER_TO_SERVE
        # Judged while the case reviews ICE's tasking: taken, or refused with the case
        # unchanged and taken when sent again.
        try:
            await asyncio.wait_for(located, 60)
        except DecisionRefused:
            await awaiting(review_case, "subject_located")
            await send_decision(
                client, review_case.id, SAM, decision("subject_located", case_owner="Sam Jones")
            )
        await allocate(review_case)
        s = await awaiting(review_case, "offending_history_review")  # issue 21: the checklist
        assert s.located

        histories = {
            h.id: await h.fetch_history()
            for h in (
                window_case,
                review_case,
                client.get_workflow_handle(window.case_id()),
                client.get_workflow_handle(review.case_id()),
            )
        }
        # The worker died as the window closed; every decision was taken in a workflow
        # task of its own, so no replay can order it otherwise.
        assert timer_fired_then_task_timed_out(histories[window_case.id])
        assert {w: decisions_taken_with_other_events(h) for w, h in histories.items()} == {
            w: 0 for w in histories
        }
        failures = {}
        for workflow_id, history in histories.items():
            replayed = await replayer(CODEC_KEYS).replay_workflow(
                history, raise_on_replay_failure=False
            )
            if replayed.replay_failure is not None:
                failures[workflow_id] = repr(replayed.replay_failure)[:300]
        assert failures == {}
    finally:
        stop_process(worker, "worker", sig=signal.SIGINT, timeout=15)
        for event in (window, review):
            for wid in (event.case_id(), f"casework-{event.subject.subject_key(SECRET)}"):
                try:
                    await client.get_workflow_handle(wid).terminate(reason="test over")
                except Exception:  # already closed
                    pass


@pytest.mark.devserver
async def test_a_decision_after_its_deadline_fired_with_no_worker(dev_env, tmp_path):
    """The shape of the chaos histories of issue 22: the worker dies while a located
    action's deadline runs; the deadline passes with no worker (the task is overdue);
    the caseworker answers; the next worker's first workflow task holds the timer and
    the decision. The decision is taken and the history replays."""
    client: Client = dev_env.client
    event = custody_event(nationality="RO", force="interleave")
    task_queue, start_worker = worker_launcher(client, tmp_path, [event], seed=5)
    worker = start_worker()
    case_id = None
    try:
        started = await start_all(
            client, event.model_dump_json(), task_queue=task_queue, policy=compressed_policy(DAY)
        )
        assert [r.status for r in started] == ["started"]

        async def referred() -> Any:
            return (await state_of(client.get_workflow_handle(event.case_id()))).casework_id

        case_id = await wait_for(referred, within=90, what="the referral")
        case = client.get_workflow_handle(case_id)

        async def awaiting(kind: str) -> Any:
            async def check() -> Any:
                s = await state_of(case)
                return s if kind in s.awaiting else None

            return await wait_for(check, within=90, what=f"awaiting {kind}")

        await awaiting("subject_located")
        await send_decision(
            client, case_id, SAM, decision("subject_located", case_owner="Sam Jones")
        )
        await awaiting("allocate_case")
        req = request_for(CORA, "interleaving test", {**ALLOCATION, "team": "CC Team 1"})
        await send_decision(client, case_id, CORA, req)
        [(review_kind, review), (answer_kind, answer), *_] = checklist_decisions()
        await awaiting(review_kind)
        fields = review.decision.model_dump(mode="json", exclude={"kind"})
        await send_decision(client, case_id, SAM, decision(review_kind, **fields))
        s = await awaiting(answer_kind)
        [deadline] = s.deadlines

        # The worker dies while the officer's answer is awaited; its deadline passes.
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = asyncio.get_running_loop().time()
        fires_in = max(0.0, (deadline.due_at - datetime.now(UTC)).total_seconds())
        await asyncio.sleep(fires_in + 0.5)
        fields = answer.decision.model_dump(mode="json", exclude={"kind"})
        answered = asyncio.create_task(
            send_decision(client, case_id, SAM, decision(answer_kind, **fields))
        )
        await asyncio.sleep(
            max(0.0, killed_at + fires_in + STICKY_TIMEOUT + 1 - asyncio.get_running_loop().time())
        )
        worker = start_worker()

        result = await asyncio.wait_for(answered, 60)
        assert result.accepted
        s = await awaiting("pending_prosecution")
        assert deadline.name in s.overdue  # the deadline passed before the answer came

        history = await case.fetch_history()
        replayed = await replayer(CODEC_KEYS).replay_workflow(
            history, raise_on_replay_failure=False
        )
        assert replayed.replay_failure is None, repr(replayed.replay_failure)[:400]
    finally:
        stop_process(worker, "worker", sig=signal.SIGINT, timeout=15)
        for wid in (event.case_id(), case_id):
            if wid is None:
                continue
            try:
                await client.get_workflow_handle(wid).terminate(reason="test over")
            except Exception:  # already closed
                pass
