"""Chaos: cases on a real dev server while the simulator injects faults into ACRO, NBTC
and the PNC (20% errors, 5% lost answers), and the processes and the case store around
them fail. Every case must reach its expected outcome, each side effect happen exactly
once, no decision be lost, nothing be recorded twice.

* ``test_cases_survive_kills_restarts_and_faults`` — 200 cases, 40 of them sent through
  the HTTP intake (``python -m server.app``): the worker killed with SIGKILL four times; the
  Temporal server restarted once gracefully and once killed with SIGKILL under a running
  worker, each time started again on its own file; the HTTP API killed with SIGKILL ten
  times while it handles a custody event — five times after the case started and before
  the API could answer (Temporal's answer held back by a proxy), five times right after
  the request was sent — and started again, the integrator retrying the same event: the
  retry names the same case, "already received" when it had started.
* ``test_cases_survive_the_case_store_going_away_and_read_only`` — 80 cases on a private
  PostgreSQL case store (the simulated world's tables are in it too): stopped for six
  seconds while cases run and new ones arrive, then read-only for at least eight seconds.
  The failing steps are in the worker's log and every case started meanwhile is in the
  stuck-case listing with its failing step and its attempt count. Skipped without the
  PostgreSQL server binaries.

A case-store failure reaches Temporal as a short retryable error naming its types only
(``activities.core.refusals_surface``: no statement, no parameters), so the listing's
*last error* for those cases says it (``case store unavailable: …ReadOnlySqlTransaction``).

Run alone with ``pytest -m chaos -s`` to see the figures (``chaos …`` lines, one per fault).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from access.intake import start_all
from access.stuck import StuckCase, stuck_cases
from identity.clients import add_client, dump_clients, parse_clients
from models.policy import compressed_policy
from sim.process import start_world_service
from store.cases import CaseStore
from tests.support import CONVERTER, process_identity
from tests.support_chaos import (
    DAY,
    ApiProcess,
    DevServer,
    HoldingProxy,
    Integrator,
    Plan,
    PrivatePostgres,
    Progress,
    Workers,
    expected_records,
    free_port,
    log_lines,
    postgres_bin,
    process_env,
    recorded_encounters,
    reply_trail,
    safety_net_runs,
    side_effects,
    sleep_until,
    store_records,
)
from tests.support_front_door import signing

pytestmark = [pytest.mark.chaos, pytest.mark.devserver]


def environment(tmp_path: Path, port: int, db_url: str, plan: Plan) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    world_file = tmp_path / "world.json"
    world_file.write_text(json.dumps(plan.world))
    # FNO_DATABASE_URL: the case store and the simulated world's tables.
    return process_env(
        home,
        port,
        db_url,
        "chaos",
        FNO_WORLD_FILE=str(world_file),
        FNO_POLICY=f"compressed:{DAY}",
    )


async def world_fault(world: Any, k: int, faults: Counter[str], progress: Any) -> None:
    """After the k-th worker kill, a fault of the world service: killed (SIGKILL, down
    two seconds, started again on its own database), slow answers, 5xx answers, and
    replies dropped (never pushed, for the safety net to find)."""
    if k in (0, 2):
        await asyncio.to_thread(world.restart, 2.0)
        faults["killed"] += 1
        progress.note(f"world service killed and started again ({faults['killed']})")
    drop = 0.3 if k < 3 else 0.0  # replies dropped from the first kill to the last
    if k == 0:
        faults["dropping"] += 1
    elif k == 1:
        world.set_faults(slow_seconds=2.0, drop_rate=drop)
        faults["slowed"] += 1
        await asyncio.sleep(3)
        world.set_faults(error_rate=0.3, drop_rate=drop)
        faults["errors"] += 1
        await asyncio.sleep(3)
    world.set_faults(drop_rate=drop)
    progress.note(f"world faults so far: {dict(faults)}")


async def start_batch(client: Client, plan: Plan, events: list, env: dict[str, str]) -> None:
    started = await start_all(
        client, plan.jsonl(events), task_queue=env["FNO_TASK_QUEUE"], policy=compressed_policy(DAY)
    )
    assert [r.status for r in started] == ["started"] * len(events)


async def executions(client: Client, workflow_type: str) -> int:
    """Every run of that type on the server, closed or not (a duplicate would show)."""
    return (await client.count_workflows(f"WorkflowType = '{workflow_type}'")).count


async def test_cases_survive_kills_restarts_and_faults(tmp_path, ci_figures):
    n, n_http = 200, 40
    plan = Plan.make(n)
    batch, over_http = plan.events[: n - n_http], plan.events[n - n_http :]
    port, ui_port = free_port(), free_port()
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    store = CaseStore.migrated(db_url)
    env = environment(tmp_path, port, db_url, plan)

    server = DevServer(Path(env["FNO_HOME"]), port, ui_port)
    # The API reaches Temporal through a proxy that can hold back Temporal's answers.
    proxy = HoldingProxy(("localhost", port))
    identity, custody = process_identity(Path(env["FNO_HOME"]))
    # Issue 22: the outside world is its own service, over HTTP; it pushes each reply to
    # the API (as ACRO would, with a system credential of its own) when its time comes.
    clients = parse_clients(identity["FNO_API_CLIENTS"], "chaos")
    acro = add_client(clients, "acro", name="ACRO", scopes=["acro-replies"])
    identity["FNO_API_CLIENTS"] = dump_clients(clients)
    api_env = env | identity | {"TEMPORAL_ADDRESS": f"127.0.0.1:{proxy.port}"}
    api = ApiProcess(api_env, free_port(), tmp_path)
    world = start_world_service(
        tmp_path / "world.json",
        db_url,  # the world's tables beside the case store's: effects counted as before
        DAY,
        replies_url=api.base_url,
        credential=f"chaos-world-{uuid.uuid4().hex}",
        push_credential=acro,
        env={"FNO_WORLD_PUSH_BACKOFF": "0.2", "FNO_WORLD_PUSH_BACKOFF_MAX": "2"},
        log_path=tmp_path / "world.log",
    )
    env |= world.worker_env()
    workers = Workers(env, tmp_path)
    world_faults: Counter[str] = Counter()
    worker_exits = 0
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    started_at = time.monotonic()
    try:
        workers.start()
        # Signs for the front door (the starts as intake; decisions as their person).
        client = await Client.connect(
            f"localhost:{port}", data_converter=CONVERTER, interceptors=[signing()]
        )
        await workers.ready()
        await api.start()
        progress = Progress(client, plan, workers, tmp_path / "progress.log")
        polling = asyncio.create_task(progress.run(stop))
        lock = asyncio.Lock()
        integrator = Integrator(api, proxy, client, custody, lock)
        intake = asyncio.create_task(integrator.send_all(over_http))
        tasks += [polling, intake]
        await start_batch(client, plan, batch, env)
        progress.note(f"{len(batch)} cases started")

        t0 = time.monotonic()
        for k in range(4):  # the worker: SIGKILL, four times
            # Each worker has been polling for a while when it is killed.
            await sleep_until(max(t0 + 3 + 4 * k, workers.ready_at + 2))
            if k == 3:  # the server: SIGKILL under a running worker, started on its file
                async with lock:
                    progress.note("server SIGKILL")
                    await asyncio.to_thread(server.kill_and_start, 2.0)
                progress.note("server started again")
                await asyncio.sleep(2)  # the worker back at work under the new server
            worker_exits += not workers.alive()
            workers.kill()
            progress.note(f"worker killed ({workers.kills})")
            await world_fault(world, k, world_faults, progress)
            if k == 1:  # the server: stopped gracefully with the worker, started again
                async with lock:
                    await asyncio.to_thread(server.restart)
                progress.note("server restarted")
            workers.start()
            await workers.ready()
        await intake
        progress.note(f"intake over: {integrator.kills}")
        finished = await progress.wait_all_closed(t0 + 300)
        open_cases = [] if finished else await progress.still_open()
        worker_exits += not workers.alive()
        server_runs = await executions(client, "EncounterWorkflow")
        stop.set()
        await polling
    finally:
        stop.set()
        for task in tasks:  # after a failure, nothing left running
            task.cancel()
        workers.stop()
        pushes = world.pushes() if world.alive() else {}
        dropped = world.count("reply_dropped") if world.alive() else -1
        world.stop()
        api.stop()
        proxy.close()
        server.stop()
    elapsed = time.monotonic() - started_at

    done = progress.done
    effects = side_effects(store.engine, plan.world)
    records = store_records(store.engine, plan)
    # One failed attempt, one line (the error by its type: runtime.logs logs no values).
    faults = log_lines(workers.logs, "TransientGatewayError")
    with ci_figures():  # the figures go to CI's log, passed or failed
        print(
            f"\nchaos: cases={n} closed={len(done)} kills={workers.kills} "
            f"server_restarts={server.graceful_restarts} server_sigkills={server.sigkills} "
            f"faults_injected={faults} decisions_sent={progress.decisions_sent} "
            f"outcomes={plan.by_outcome(done)} side_effects={effects} seconds={elapsed:.0f}"
        )
        print(
            f"chaos worker: sigkills={workers.kills} worker_starts={len(workers.logs)} "
            f"exited_on_its_own={worker_exits}"
        )
        print(
            f"chaos server: graceful_restarts={server.graceful_restarts} "
            f"server_sigkills={server.sigkills} (under a running worker) "
            f"down_s={[round(d, 1) for d in server.down_s]}"
        )
        print(
            f"chaos api: events_over_http={n_http} api_kills={api.kills} "
            f"kills_after_start={integrator.kills['after_start']} "
            f"kills_on_send={integrator.kills['on_send']} "
            f"retry_answers={dict(integrator.retry_answers)} "
            f"answered_before_kill={integrator.answered_before_kill} "
            f"retries={integrator.retries} encounter_executions={server_runs} "
            f"unexpected={integrator.unexpected}"
        )
        print(
            f"chaos world: faults={dict(world_faults)} replies_dropped={dropped} "
            f"pushes={pushes.get('states')} safety_net: {safety_net_runs(workers.logs)}"
        )
        logs = [*sorted(tmp_path.glob("api-*.log")), tmp_path / "world.log"]
        wrong = sorted(c for c, o in done.items() if plan.expected.get(c) is not o)
        if wrong:  # where their replies went: the failure's diagnosis in CI's log
            print("\n".join(reply_trail(store.engine, wrong[:5], workers.logs, logs)))

    assert finished, f"not all closed: {len(done)}/{n}: {open_cases[:10]}"
    assert workers.kills == 4 and server.graceful_restarts == 1 and server.sigkills == 1
    assert worker_exits == 0, "a worker exited on its own"
    assert done == plan.expected
    assert effects == plan.expected_effects()
    assert records == expected_records(plan)
    assert faults > 0
    # The intake: every event answered with its own case, once; each kill after the
    # start answered "already received" on the retry; no case started twice.
    assert integrator.unexpected == []
    assert sorted(integrator.answers) == sorted(e.case_id() for e in over_http)
    assert integrator.kills["after_start"] == 5 and integrator.kills["on_send"] == 5
    assert (
        integrator.retry_answers["after_start:already_received"] == integrator.kills["after_start"]
    )
    assert server_runs == n
    # The world service: killed twice and slowed once, answering 5xx for a while and
    # dropping replies; every case still got its reply (the outcomes above), the
    # dropped ones found by the safety net.
    assert world_faults["killed"] == 2 and world_faults["slowed"] == 1
    assert world_faults["errors"] == 1 and world_faults["dropping"] == 1
    assert dropped > 0, pushes.get("states")


async def test_cases_survive_the_case_store_going_away_and_read_only(tmp_path, ci_figures):
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, "
            "FNO_PG_BIN or PATH: the case-store outage and read-only faults were not tried"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot run PostgreSQL as 'postgres'")
    n = 80
    # No faults of the outside world here (the first test has them): every failure is the
    # case store's, and no step failing through both faults and then again and again
    # waits minutes for its next try (the retry interval doubles up to five minutes).
    plan = Plan.make(n, fault_rate=0.0, timeout_rate=0.0)
    # Started before the outage, during it, and while the store is read-only.
    waves = plan.events[:30], plan.events[30:55], plan.events[55:]
    during_readonly = {e.case_id() for e in waves[2]}
    ours = set(plan.expected) | {f"casework-{k}" for k in plan.subjects.values()}
    pg = PrivatePostgres(bin_dir)
    server = workers = None
    polling = None
    stop = asyncio.Event()
    started_at = time.monotonic()
    outage_s = readonly_s = resumed_s = 0.0
    carried_on = False
    sessions_ended = 0
    stuck_seen: dict[str, StuckCase] = {}  # every case of ours listed with a failing step
    stuck_polls = 0
    try:
        await asyncio.to_thread(pg.create)
        store = CaseStore.migrated(pg.url)
        port, ui_port = free_port(), free_port()
        env = environment(tmp_path, port, pg.url, plan)
        server = DevServer(Path(env["FNO_HOME"]), port, ui_port)
        workers = Workers(env, tmp_path)
        workers.start()
        # Signs for the front door (the starts as intake; decisions as their person).
        client = await Client.connect(
            f"localhost:{port}", data_converter=CONVERTER, interceptors=[signing()]
        )
        await workers.ready()
        progress = Progress(client, plan, workers, tmp_path / "progress.log")
        polling = asyncio.create_task(progress.run(stop))
        await start_batch(client, plan, waves[0], env)
        await asyncio.sleep(3)  # the first cases under way, writing to the store

        # The case store goes away (a fast shutdown: its sessions cut mid-work) while
        # cases keep arriving, and comes back after several seconds.
        t = time.monotonic()
        await asyncio.to_thread(pg.stop)
        progress.note("case store stopped")
        await start_batch(client, plan, waves[1], env)
        await sleep_until(t + 6)
        await asyncio.to_thread(pg.start)
        outage_s = time.monotonic() - t
        progress.note("case store started")
        # The cases carry on: one started while the store was away is recorded (the
        # others are checked at the end, with everything else).
        arrived = {e.case_id() for e in waves[1]}
        deadline = time.monotonic() + 90
        while not carried_on and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            carried_on = bool(arrived & recorded_encounters(store.engine))
        resumed_s = time.monotonic() - t - outage_s

        # The case store read-only for a while: every write refused, loudly; the cases
        # failing show in the stuck-case listing with the step that fails.
        t = time.monotonic()
        sessions_ended = await asyncio.to_thread(pg.set_read_only, True)
        progress.note("case store read-only")
        await start_batch(client, plan, waves[2], env)
        while time.monotonic() < t + 60:
            listing = await stuck_cases(
                client,
                now=datetime.now().astimezone(),
                failing_for=timedelta(0),  # a step failed once, and is being retried
                overdue_by=timedelta(days=3650),
            )
            stuck_polls += 1
            for case in listing:
                if case.case_id in ours and " failing for about " in case.why:
                    stuck_seen[case.case_id] = case
            if time.monotonic() >= t + 8 and during_readonly <= set(stuck_seen):
                break
            await asyncio.sleep(1)
        await asyncio.to_thread(pg.set_read_only, False)
        readonly_s = time.monotonic() - t
        progress.note(f"case store writable again; {len(stuck_seen)} listed stuck")

        finished = await progress.wait_all_closed(time.monotonic() + 120)
        open_cases = [] if finished else await progress.still_open()
        worker_alive = workers.alive()
        server_runs = await executions(client, "EncounterWorkflow")
        stop.set()
        await polling
        done = progress.done
        effects = side_effects(store.engine, plan.world)  # the world's tables: the same PG
        records = store_records(store.engine, plan)
        store.engine.dispose()
    finally:
        stop.set()
        if polling is not None:
            polling.cancel()
        if workers is not None:
            workers.stop()
        if server is not None:
            server.stop()
        await asyncio.to_thread(pg.destroy, tmp_path / "postgres.log")
    elapsed = time.monotonic() - started_at

    failed = "Completing activity as failed"  # the SDK's warning, with the error's type
    outage_failures = log_lines(workers.logs, failed, "psycopg.OperationalError")
    readonly_failures = log_lines(workers.logs, failed, "ReadOnlySqlTransaction")
    steps = dict(Counter(c.why.split(" ")[0] for c in stuck_seen.values()))
    errors = dict(Counter(c.last_error for c in stuck_seen.values()))
    attempts = max((int(c.why.rsplit("attempt ", 1)[-1].rstrip(")")) for c in stuck_seen.values()),
                   default=0)  # fmt: skip
    summary = {k: v for k, v in records.items() if k != "decisions"}
    with ci_figures():
        print(
            f"\nchaos store: cases={n} closed={len(done)} outcomes={plan.by_outcome(done)} "
            f"side_effects={effects} records={summary} "
            f"decisions_sent={progress.decisions_sent} seconds={elapsed:.0f}"
        )
        print(
            f"chaos pg outage: pg_outage_s={outage_s:.1f} cases_started_during={len(waves[1])} "
            f"activity_failures_logged={outage_failures} carried_on={carried_on} "
            f"recorded_s_after_restart={resumed_s:.1f}"
        )
        print(
            f"chaos read-only: readonly_s={readonly_s:.1f} sessions_ended={sessions_ended} "
            f"cases_started_during={len(waves[2])} activity_failures_logged={readonly_failures} "
            f"stuck_listed={len(stuck_seen)} stuck_polls={stuck_polls} failing_steps={steps} "
            f"max_attempt={attempts} last_errors={errors}"
        )

    assert carried_on, "the cases did not carry on after the outage"
    assert finished, f"not all closed: {len(done)}/{n}: {open_cases[:10]}"
    assert worker_alive, "the worker exited on its own"
    assert done == plan.expected
    assert effects == plan.expected_effects()
    assert records == expected_records(plan)
    assert server_runs == n
    assert outage_failures > 0  # the outage was felt, and said so in the worker's log
    assert readonly_failures > 0
    # Every case started while read-only was listed with its failing step (retried: the
    # attempt count shows it) and the case store's error, by its type.
    assert during_readonly <= set(stuck_seen), sorted(during_readonly - set(stuck_seen))
    assert attempts >= 2
    assert any("ReadOnlySqlTransaction" in e for e in errors), errors
