"""The throughput mode's phases, each on a fresh embedded dev server with its own
worker process: the baselines (``BenchBaseline`` workflows started straight through
the Temporal client) and the product (custody events posted to the HTTP intake and
carried to their outcome by the product's worker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.progress import Progress

from bench.baseline import PUSHED_ACTIVITIES, BaselineWorkflow, Shape, start_attributes
from bench.cases import BRANCHES, Caseworker, plan_cases
from bench.credentials import MANAGER, bench_identity
from bench.measure import (
    CpuMeter,
    PhaseResult,
    branch_histories,
    branch_means,
    close_times,
    histories,
    latency_summary,
    peak_rss_mib,
    sustained_rate,
    wait_closed,
)
from bench.servers import child, dev_server, free_port, measured_pid, profiled, wait_for_worker
from bench.world import WORLD_CPU, world_for
from models.case import ENCOUNTER_WORKFLOW, casework_id_for
from models.event import ENCOUNTER_PREFIX
from runtime.config import LOCAL_SUBJECT_KEY_SECRET, connect
from sim.world_file import pnc_subject_key
from store.cases import CaseStore

# How often the product's safety net runs in the throughput bench (wall-clock seconds).
SAFETY_NET_SECONDS = 20


async def run_baseline(
    run_dir: Path,
    n: int,
    concurrency: int,
    progress: Progress,
    shape: Shape,
    name: str = "baseline",
    profile: str | None = None,
) -> PhaseResult:
    home = run_dir / name
    home.mkdir(parents=True)
    task_queue = f"bench-{name}"
    with dev_server(home) as server:
        env = server.env(FNO_TASK_QUEUE=task_queue)
        worker_args = profiled(["-m", "bench.baseline_worker"], profile, name)
        with child(worker_args, env, home / "worker.log") as worker:
            client = await connect(env)
            await wait_for_worker(client, task_queue, worker)
            sem = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            submitted = progress.add_task(f"{name}: started", total=n)

            async def start(i: int) -> None:
                async with sem:
                    t = time.perf_counter()
                    await client.start_workflow(
                        BaselineWorkflow.run,
                        shape,
                        id=f"baseline-{i:06d}",
                        task_queue=task_queue,
                        search_attributes=start_attributes() if shape.search_attributes else None,
                    )
                    latencies.append(time.perf_counter() - t)
                    progress.advance(submitted)

            meter = CpuMeter({"worker": measured_pid(worker), "server": server.process.pid})
            t0 = time.time()
            starting = asyncio.gather(*(start(i) for i in range(n)))
            query = "WorkflowType = 'BenchBaseline' AND ExecutionStatus = 'Completed'"
            await wait_closed(client, query, n, progress, f"{name}: closed", limit_seconds=3600)
            await starting
            ends = await close_times(client, query)
            elapsed = max(ends).timestamp() - t0
            rss = peak_rss_mib(measured_pid(worker))
            cpu = meter.used()
            counts = await histories(client, [f"baseline-{i:06d}" for i in range(min(n, 50))])
    return PhaseResult(
        name=name,
        cases=n,
        elapsed_s=elapsed,
        sustained_cases_per_s=sustained_rate(ends),
        activities=n * shape.activities,
        worker_peak_rss_mib=rss,
        start_latency_ms=latency_summary(latencies),
        events_per_case={name: statistics.mean(c.events for c in counts.values())},
        bytes_per_case={name: statistics.mean(c.bytes for c in counts.values())},
        activities_per_case={name: shape.activities},
        extra={"cpu_seconds": cpu, "shape": shape.__dict__},
    )


async def run_product(
    run_dir: Path,
    n: int,
    concurrency: int,
    day_seconds: float,
    seed: int,
    progress: Progress,
    profile: str | None = None,
    world: str = "in-process",
    workers: int = 1,
    name: str = "product",
) -> PhaseResult:
    """``workers`` worker processes on the one task queue (issue 23's scale-out); their
    CPU summed as the worker's, their peak RSS the largest."""
    home = run_dir / name
    home.mkdir(parents=True)
    plan = plan_cases(n, seed, tag="26")
    world_file = home / "world.json"
    world_file.write_text(json.dumps(plan.world))
    db_url = f"sqlite:///{home / 'casework.db'}"
    CaseStore.migrated(db_url)
    api_port = free_port()
    task_queue = "bench-product"
    worker_args = profiled(["worker.py"], profile, "product")
    identity = bench_identity(home, "benchshire")
    with dev_server(home) as server:
        env = server.env(
            FNO_TASK_QUEUE=task_queue,
            FNO_DATABASE_URL=db_url,
            FNO_WORLD_FILE=str(world_file),
            FNO_POLICY=f"compressed:{day_seconds}",
            FNO_HTTP_PORT=str(api_port),
            # The safety net as often per case as a national year's daily run: 365 runs
            # over 104k-150k checks, one per 285-411 cases. The compressed policy's "every
            # simulated day" would be every second here, 9 runs per 100 cases (~7% of
            # the product's CPU); every SAFETY_NET_SECONDS is one per ~180-360 cases at
            # the 9-18 cases/s this machine carries.
            FNO_ACRO_RECONCILE_EVERY_SECONDS=str(SAFETY_NET_SECONDS),
        )
        api_args = profiled(["-m", "server.app"], profile, "api")
        with (
            world_for(world, env, home, api_port, identity.acro_credential) as (
                world_env,
                world_pid,
            ),
            contextlib.ExitStack() as pool,
            child(api_args, env | identity.env | world_env, home / "api.log") as api,
        ):
            fleet = [
                pool.enter_context(
                    child(worker_args, env | world_env, home / f"worker{i or ''}.log")
                )
                for i in range(workers)
            ]
            worker = fleet[0]
            client = await connect(env)
            for each in fleet:
                await wait_for_worker(client, task_queue, each)
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", timeout=60, limits=limits
            ) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await http.get("/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if api.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the HTTP API did not become ready")
                    await asyncio.sleep(0.2)

                sem = asyncio.Semaphore(concurrency)
                latencies: list[float] = []
                statuses: Counter[int] = Counter()
                submitted = progress.add_task("product: posted", total=n)

                async def post(event: dict[str, Any]) -> None:
                    async with sem:
                        t = time.perf_counter()
                        r = await http.post("/custody-events", json=event, headers=identity.custody)
                        latencies.append(time.perf_counter() - t)
                        statuses[r.status_code] += 1
                        progress.advance(submitted)

                manager = await identity.caseworker(http, MANAGER)
                caseworker = Caseworker(client, http, await identity.caseworker(http), manager)
                pids = {
                    "worker": measured_pid(worker),
                    "server": server.process.pid,
                    "api": measured_pid(api),
                }
                pids |= {f"worker-{i + 1}": measured_pid(w) for i, w in enumerate(fleet[1:])}
                if world_pid is not None:  # measured, but the outside world's, not ours
                    pids[WORLD_CPU] = world_pid
                meter = CpuMeter(pids)
                t0 = time.time()
                posting = asyncio.gather(*(post(e) for e in plan.events))
                query = f"WorkflowType = '{ENCOUNTER_WORKFLOW}' AND ExecutionStatus = 'Completed'"
                await wait_closed(
                    client,
                    query,
                    n,
                    progress,
                    "product: closed",
                    limit_seconds=3600,
                    tick=caseworker,
                )
                await posting
                ends = await close_times(client, query)
                elapsed = max(ends).timestamp() - t0
                rss = max((peak_rss_mib(measured_pid(w)) or 0.0 for w in fleet), default=None)
                api_rss = peak_rss_mib(measured_pid(api))
                cpu = sum_workers(meter.used())
            if statuses != Counter({201: n}):
                raise RuntimeError(f"intake answered {dict(statuses)}, expected 201 for all {n}")
            # Not timed: what each branch cost in history events and activities.
            outcomes: dict[str, str] = {}
            async for w in client.list_workflows(f"WorkflowType = '{ENCOUNTER_WORKFLOW}'"):
                outcomes[w.id] = str(w.search_attributes.get("FnoOutcome", ["?"])[0])
            casework_ids = [w.id async for w in client.list_workflows("FnoCaseKind = 'casework'")]
            counts = await histories(client, list(plan.branch) + casework_ids)
    secret = LOCAL_SUBJECT_KEY_SECRET
    casework_of = {
        f"{ENCOUNTER_PREFIX}benchshire-{e['custody_reference']}": casework_id_for(
            pnc_subject_key(e["subject"]["pnc_id"], secret)
        )
        for e in plan.events
    }
    per_branch = branch_histories(plan.branch, counts, casework_of)
    activities = sum(c.activities for c in counts.values())
    wrong = {c: o for c, o in outcomes.items() if BRANCHES[plan.branch[c]] != o}
    if wrong:
        raise RuntimeError(f"{len(wrong)} cases reached an unexpected outcome: {wrong}")
    no_trace_acts = {c.activities for c in per_branch["no_trace"]}
    return PhaseResult(
        name=name,
        cases=n,
        elapsed_s=elapsed,
        sustained_cases_per_s=sustained_rate(ends),
        activities=activities,
        worker_peak_rss_mib=rss,
        start_latency_ms=latency_summary(latencies),
        **branch_means(per_branch),
        extra={
            "api_peak_rss_mib": api_rss,
            "cpu_seconds": cpu,
            "world": world,
            "branches": {k: len(v) for k, v in per_branch.items()},
            "decisions_sent": caseworker.sent,
            "no_trace_activities_match_baseline": no_trace_acts == {PUSHED_ACTIVITIES},
            "server_db_mib": round(server.database_bytes() / 2**20, 1),
            "workers": workers,
        },
    )


def sum_workers(used: dict[str, float | None]) -> dict[str, float | None]:
    """The CPU of several workers as the worker's (``worker``, ``worker-1``, …)."""
    fleet = [v for k, v in used.items() if k == "worker" or k.startswith("worker-")]
    rest = {k: v for k, v in used.items() if not (k == "worker" or k.startswith("worker-"))}
    total = None if any(v is None for v in fleet) else round(sum(v or 0.0 for v in fleet), 3)
    return {"worker": total, **rest}
