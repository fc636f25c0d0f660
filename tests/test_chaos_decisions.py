"""Chaos of decisions: caseworkers' decisions sent while the worker is killed with
SIGKILL, again and again, as the cases' timers fire; then every history on the
server must replay against today's code (issue 16).

Issue 16: black-box runs left Criminal Casework cases no worker could replay
(``[TMPRL1100] Nondeterminism error: Update machine does not handle this event``).
In those histories one workflow task took a fired timer (the Stage 1 response
window) or an activity's result together with a ``decide`` update that was valid
only once the case had acted on that timer or result: the worker that wrote the
task acted on the timer first, a replay takes the update first. Such a task follows
a worker's death: the timer fires (or the lost activity's retry ends) once the
worker that last ran the case is known to be gone, its task goes to the task queue
and waits a moment for a busy worker; a caseworker's query meanwhile shows the
decision now awaited, and the decision joins that task.

So: Criminal Casework cases on the paths of step 10 (deported; not pursued, the
Director rejecting or approving, with or without a referral to Removals Casework),
started a few at a time all along, on a compressed policy (a day of 1.5 s: a Stage
1 window of 15 s, longer than the time a dead worker is waited for). One
caseworker per case, all at once, queries it and sends whatever it awaits, tries a
refused or unanswered decision again, and looks every 50 ms as its Stage 1 window
ends. Twenty times the worker is killed: while decisions are in flight, or (some
rounds) 11 to 16 s before cases' Stage 1 windows end; mostly a new worker starts
at once, in a few rounds only after the dead one's sticky tasks have timed out, in
half of those with the decisions the cases were last seen awaiting sent while no
worker runs.

At the end every case reached the outcome of an undisturbed run, each side effect
happened exactly once, each decision is in the access log once, every case answers
its state query, and every history on the server (encounter and casework, running
and closed) replays. A history that does not is saved decrypted under
``$FNO_CHAOS_HISTORIES`` (else the test's temporary folder) for whoever fixes it.

Run alone with ``pytest -m chaos -s tests/test_chaos_decisions.py`` to see the
figures; ``FNO_CHAOS_SEED`` repeats a run's random choices (not its timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from access.intake import start_case
from models.policy import compressed_policy
from runtime.embedded import start_dev_server, stop_process
from store.cases import CaseStore
from tests.support import CONVERTER, worker_env
from tests.support_chaos_decisions import (
    Driver,
    Plan,
    Workers,
    differences,
    effects_by_subject,
    plans,
    replay_all,
)
from tests.support_front_door import signing
from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow

pytestmark = [pytest.mark.chaos, pytest.mark.devserver, pytest.mark.timeout(900)]

DAY = 1.5  # seconds: a Stage 1 window of 15 s (30 s serving a sentence)
FIRST_CASES = 6  # started at once; then more after each kill
CASES_PER_ROUND = 2
N = 36
KILLS = 20
STAGE1 = 6  # rounds killing the worker before Stage 1 windows end
STICKY = 3  # rounds with no worker until the dead one's sticky tasks have timed out
STICKY_TIMEOUT = 10.0  # the SDK's sticky schedule-to-start timeout
DRAIN = 90.0  # without progress, after the last kill: a lost activity retries after 30 s
DRAIN_CAP = 360.0  # at most, however slow the machine (the test's timeout is 900 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stage1_windows_ending(driver: Driver, within: float = 3.0) -> list[tuple[datetime, Plan]]:
    """Cases whose Stage 1 windows end 11 to 16 seconds ahead — after a worker killed
    now is known to be gone — with their ends (waiting up to ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        now = datetime.now(UTC)
        ends = [(d, p) for d, p in driver.stage1_due() if 11 < (d - now).total_seconds() < 16]
        if ends or time.monotonic() > deadline:
            return ends
        await asyncio.sleep(0.1)


async def test_decisions_survive_worker_kills_as_timers_fire(tmp_path, ci_figures):
    began = time.monotonic()
    seed = int(os.environ.get("FNO_CHAOS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    cases = plans(N, seed)
    # ICE tasking long enough that a decision delayed by the kills never meets its end
    # (an undisturbed run's effects); the ICE status poll stays at its 7 days.
    policy = compressed_policy(DAY).model_copy(update={"ice_tasking_days": 4000})
    port, ui_port = free_port(), free_port()
    home = tmp_path / "home"
    home.mkdir()
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    store = CaseStore.migrated(db_url)
    world = {"seed": seed, "subjects": {p.pnc: p.world() for p in cases}}
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(world))
    task_queue = f"chaos-decisions-{uuid.uuid4()}"
    env = worker_env(f"localhost:{port}", home, db_url, world_file, DAY, task_queue)
    save_to = Path(os.environ.get("FNO_CHAOS_HISTORIES") or tmp_path / "failed-histories")
    workers = Workers(env, tmp_path)
    modes: Counter[str] = Counter()
    ready_waits: list[float] = []
    stop = asyncio.Event()
    server = start_dev_server(home, port, ui_port)
    workers.start()
    try:
        # Encrypting, and signing as intake would (decisions: as their person).
        client = await Client.connect(
            f"localhost:{port}", data_converter=CONVERTER, interceptors=[signing()]
        )
        driver = Driver(client)
        started = time.monotonic()
        await workers.ready()
        startup = time.monotonic() - started  # a cold start, on this machine
        pending = list(cases)

        async def start_next(n: int) -> None:
            for _ in range(min(n, len(pending))):
                plan = pending.pop(0)
                result = await start_case(client, plan.event, task_queue=task_queue, policy=policy)
                assert result.status == "started", result
                driver.add(plan, stop)

        await start_next(FIRST_CASES)

        # Each round kills the worker once; see the module's docstring.
        rounds = ["stage1"] * STAGE1 + ["sticky"] * STICKY
        rounds += ["quick"] * (KILLS - len(rounds))
        rng.shuffle(rounds)
        protect_until = 0.0
        for n, kind in enumerate(rounds):
            await asyncio.sleep(max(0.0, protect_until - time.monotonic()))
            round_began = time.monotonic()
            await workers.ready()
            ready_waits.append(time.monotonic() - round_began)
            await asyncio.sleep(rng.uniform(0.3, 1.0))  # the worker works a while
            ends = await stage1_windows_ending(driver) if kind == "stage1" else []
            protect_until = 0.0
            if ends:
                # Cases' Stage 1 windows end after the dead worker is known to be
                # gone: their timers' tasks go to the task queue, where the next
                # worker takes them; the caseworkers watch those cases closely then.
                workers.kill()
                for due, plan in ends:
                    driver.watch(plan, due)
                last = max((due - datetime.now(UTC)).total_seconds() for due, _ in ends)
                protect_until = time.monotonic() + last + 3.0
                modes["killed before Stage 1 windows end"] += 1
            else:
                # While decisions are in flight: their cases' next tasks (an activity
                # done, a decision recorded) are left to the next worker.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(driver.sending.wait(), 2)
                await asyncio.sleep(rng.uniform(0.05, 0.4))
                workers.kill()
                modes["killed with decisions in flight"] += 1
            if kind == "sticky":
                # No worker until the dead one's sticky tasks have timed out; in every
                # other such round the caseworkers send meanwhile what the cases were
                # last seen awaiting (the deportation decision where a Stage 1 window
                # has ended).
                if n % 2:
                    await asyncio.sleep(rng.uniform(0.5, 1.5))
                    driver.send_blind()
                    modes["sent blind with no worker"] += 1
                await asyncio.sleep(STICKY_TIMEOUT + 1.0)
                modes["restarted after the sticky timeout"] += 1
            else:
                modes["restarted at once"] += 1
            workers.start()
            await start_next(CASES_PER_ROUND)
        await start_next(len(pending))
        killed = time.monotonic()
        await workers.ready()

        # The last worker lives: every case goes on to its outcome.
        async def stalled(workflow_id: str) -> bool:
            try:
                desc = await client.get_workflow_handle(workflow_id).describe()
            except Exception:
                return False
            return desc.raw_description.pending_workflow_task.attempt >= 3

        # The cases go on while they make progress (a busy machine is slow, not stuck):
        # DRAIN without a case closed or a decision taken ends the wait, as does a
        # hard cap, or every open case's task failing again and again.
        began_drain = progress_at = time.monotonic()
        seen = (len(driver.closed), driver.accepted)
        while time.monotonic() - progress_at < DRAIN and time.monotonic() - began_drain < DRAIN_CAP:
            open_cases = [p for p in cases if p.casework_id not in driver.closed]
            if not open_cases:
                break
            if (len(driver.closed), driver.accepted) != seen:
                seen, progress_at = (len(driver.closed), driver.accepted), time.monotonic()
            if time.monotonic() > began_drain + 20:  # a case no worker can run
                flags = await asyncio.gather(*(stalled(p.casework_id) for p in open_cases))
                if all(flags):
                    break
            await asyncio.sleep(1)
        stop.set()
        await driver.stop()
        drained = time.monotonic()

        # Every case answers its state query (the worker replays closed ones).
        async def state(plan: Plan, encounter: bool) -> object | None:
            wid = plan.encounter_id if encounter else plan.casework_id
            query = EncounterWorkflow.state if encounter else CriminalCaseworkWorkflow.state
            try:
                return await asyncio.wait_for(client.get_workflow_handle(wid).query(query), 20)
            except Exception:
                return None

        encounters = await asyncio.gather(*(state(p, True) for p in cases))
        caseworks = await asyncio.gather(*(state(p, False) for p in cases))
        unreadable = [
            wid
            for p, e, c in zip(cases, encounters, caseworks, strict=True)
            for wid, s in ((p.encounter_id, e), (p.casework_id, c))
            if s is None
        ]
        replays = await replay_all(client, save_to)
        replayed = time.monotonic()
    finally:
        stop.set()
        workers.end()
        stop_process(server, "Temporal server", timeout=15)

    outcomes = {
        p.casework_id: (
            getattr(e, "outcome", None) if getattr(e, "closed_at", None) else None,
            getattr(c, "outcome", None) if getattr(c, "closed_at", None) else None,
        )
        for p, e, c in zip(cases, encounters, caseworks, strict=True)
    }
    expected_outcomes = {p.casework_id: (p.outcome, p.outcome) for p in cases}
    by_outcome = Counter(c.name if c else "open" for _, c in outcomes.values())
    effects = effects_by_subject(store.engine)
    actual_effects = {p.casework_id: effects.get(p.subject_key, {}) for p in cases}
    expected_effects = {p.casework_id: p.effects() for p in cases}
    total_effects: Counter[str] = Counter()
    for counts in actual_effects.values():
        total_effects.update(counts)
    logged = {
        p.casework_id: sorted(
            e.justification.split(":")[0]
            for e in store.access_log(p.casework_id)
            if e.action == "decision"
        )
        for p in cases
    }
    expected_logged = {p.casework_id: p.decision_kinds for p in cases}
    nondeterminism = workers.log_count("Nondeterminism")
    with ci_figures():  # the figures go to CI's log, passed or failed
        print(
            f"\nchaos-decisions: seed={seed} cases={N} kills={workers.kills} {dict(modes)} "
            f"cold_start={startup:.1f}s "
            f"mean_ready_wait={sum(ready_waits) / max(1, len(ready_waits)):.1f}s\n"
            f"  decisions: sent={driver.sent} accepted={driver.accepted} "
            f"refused={driver.refused} unanswered={driver.failed} sent_blind={driver.blind} "
            f"in_access_log={sum(len(v) for v in logged.values())} "
            f"(undisturbed: {sum(len(v) for v in expected_logged.values())})\n"
            f"  replays: ok={replays.ok} failed={len(replays.failed)} "
            f"by_type={dict(replays.by_type)} "
            f"tasks_taking_an_update_with={dict(replays.with_update)} "
            f"task_timeouts={dict(replays.task_timeouts)} "
            f"nondeterminism_in_worker_logs={nondeterminism} unreadable={len(unreadable)}\n"
            f"  outcomes={dict(by_outcome)}\n"
            f"  side_effects={dict(sorted(total_effects.items()))}\n"
            f"  duration={time.monotonic() - began:.0f}s (kills until {killed - began:.0f}s, "
            f"the cases closed {drained - killed:.0f}s later, replays {replayed - drained:.0f}s)"
        )
        for run, error in replays.failed.items():
            print(f"  replay failed: {run}: {error}")
        for path in replays.saved:
            print(f"  saved: {path}")

    assert workers.kills >= 20
    assert driver.accepted >= 50
    assert replays.failed == {}, f"histories that do not replay, saved under {save_to}"
    assert unreadable == []
    assert differences(outcomes, expected_outcomes) == {}
    assert differences(actual_effects, expected_effects) == {}  # each exactly once
    assert differences(logged, expected_logged) == {}  # no decision lost, none taken twice
