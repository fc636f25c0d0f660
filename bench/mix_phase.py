"""The same-mix phase of the throughput bench (``bench.same_mix``): the product's mix
of branches (``bench.cases.plan_cases``, the same seed), each case the workflow script
of its branch, started straight through the Temporal client on a fresh dev server, and
a caseworker who answers every case awaiting a decision with an update, looking at
most once a second as the product's bench caseworker does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.progress import Progress
from temporalio.client import Client

from bench.baseline import start_attributes
from bench.cases import Paced, plan_cases
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
from bench.same_mix import (
    CASEWORK_KIND,
    DECIDE_UPDATE,
    ENCOUNTER_KIND,
    MIX_WORKFLOW,
    MixWorkflow,
    scripts,
)
from bench.servers import child, dev_server, measured_pid, profiled, wait_for_worker
from runtime.config import connect

NAME = "same_mix"


class MixCaseworker(Paced):
    """Sends a decision (an update) to every same-mix case awaiting one, at most once a
    second (``bench.cases.Caseworker``'s pace)."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.sent = 0

    async def __call__(self, _closed: int = 0) -> None:
        if not self.due():
            return
        query = (
            f"WorkflowType = '{MIX_WORKFLOW}' AND ExecutionStatus = 'Running' "
            "AND FnoAwaitingRole = 'caseworker'"
        )
        async for w in self.client.list_workflows(query):
            try:
                await self.client.get_workflow_handle(w.id).execute_update(DECIDE_UPDATE)
                self.sent += 1
            except Exception:  # refused: not awaiting (the list lags): next round
                continue


async def run_same_mix(
    run_dir: Path,
    n: int,
    concurrency: int,
    day_seconds: float,
    seed: int,
    reply_after: float,
    progress: Progress,
    profile: str | None = None,
) -> PhaseResult:
    home = run_dir / NAME
    home.mkdir(parents=True)
    task_queue = f"bench-{NAME}"
    plan = plan_cases(n, seed, tag="26")
    branches = list(plan.branch.values())
    by_branch = scripts(day_seconds, reply_after)
    ids = [f"mix-{kind}-{i:06d}" for i, kind in enumerate(branches)]
    with dev_server(home) as server:
        env = server.env(FNO_TASK_QUEUE=task_queue)
        worker_args = profiled(["-m", "bench.baseline_worker"], profile, NAME)
        with child(worker_args, env, home / "worker.log") as worker:
            client = await connect(env)
            await wait_for_worker(client, task_queue, worker)
            sem = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            submitted = progress.add_task(f"{NAME}: started", total=n)

            async def start(case_id: str, kind: str) -> None:
                async with sem:
                    t = time.perf_counter()
                    await client.start_workflow(
                        MixWorkflow.run,
                        by_branch[kind],
                        id=case_id,
                        task_queue=task_queue,
                        search_attributes=start_attributes(ENCOUNTER_KIND, kind),
                    )
                    latencies.append(time.perf_counter() - t)
                    progress.advance(submitted)

            caseworker = MixCaseworker(client)
            meter = CpuMeter({"worker": measured_pid(worker), "server": server.process.pid})
            t0 = time.time()
            starting = asyncio.gather(*(start(c, k) for c, k in zip(ids, branches, strict=True)))
            query = (
                f"WorkflowType = '{MIX_WORKFLOW}' AND ExecutionStatus = 'Completed' "
                f"AND FnoCaseKind = '{ENCOUNTER_KIND}'"
            )
            await wait_closed(
                client, query, n, progress, f"{NAME}: closed", limit_seconds=3600, tick=caseworker
            )
            await starting
            ends = await close_times(client, query)
            elapsed = max(ends).timestamp() - t0
            rss = peak_rss_mib(measured_pid(worker))
            cpu = meter.used()
            casework = [
                w.id async for w in client.list_workflows(f"FnoCaseKind = '{CASEWORK_KIND}'")
            ]
            counts = await histories(client, ids + casework)
    branch = dict(zip(ids, branches, strict=True))
    per_branch = branch_histories(branch, counts, {c: f"{c}-casework" for c in ids})
    return PhaseResult(
        name=NAME,
        cases=n,
        elapsed_s=elapsed,
        sustained_cases_per_s=sustained_rate(ends),
        activities=sum(c.activities for c in counts.values()),
        worker_peak_rss_mib=rss,
        start_latency_ms=latency_summary(latencies),
        **branch_means(per_branch),
        extra={
            "cpu_seconds": cpu,
            "branches": {k: len(v) for k, v in per_branch.items()},
            "decisions_sent": caseworker.sent,
        },
    )
