"""``python -m bench`` (``make bench``): the product's throughput against a bare
Temporal baseline, on one machine, in one run.

Each phase gets a fresh embedded dev server and its own worker process:

1. **baseline** — ``BenchBaseline`` workflows, each running as many no-op activities
   as the product's no-trace path, started straight through the Temporal client;
2. **product** — custody events posted to the HTTP intake (``api.app``) and carried
   to their outcome by the product's worker with the simulator answering at once, in
   the seeds' mix (about 83% no trace, 16% convictions not serious, 1% serious going
   through Criminal Casework, the bench sending the caseworker's decisions over HTTP).

It prints a table (cases/s, activities/s, intake latency, worker peak RSS, history
events per case by branch), writes the same as JSON under ``.bench/results/`` and
ends with ``ratio=<product cases/s / baseline cases/s>``.

``--dormant K`` runs the dormant-scale mode instead (``bench.dormant``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.baseline import NO_TRACE_ACTIVITIES, BaselineWorkflow, Shape, start_attributes
from models.case import casework_id_for
from models.event import ENCOUNTER_PREFIX
from models.policy import compressed_policy
from runtime.config import LOCAL_SUBJECT_KEY_SECRET, connect
from runtime.embedded import start_dev_server, stop_process
from sim.world import pnc_subject_key
from store.cases import CaseStore

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench"
API_KEY = "bench-key"
console = Console(stderr=True)

# The caseworker's part in a serious case the subject of which is located (bench world).
DECISIONS: dict[str, dict[str, Any]] = {
    "subject_located": {"case_owner": "Bench Caseworker"},
    "detention": {"detain": True},
    "deportation": {"decision": "deport"},
    "deportation_enforced": {"removed_on": "2026-01-05"},
}
# Payloads are encrypted as in production (issue 9): a throwaway key for this run.
BENCH_CODEC_KEYS = json.dumps(
    {"current": "bench", "keys": {"bench": base64.b64encode(os.urandom(32)).decode()}}
)
EU = ["DE", "AT", "BE", "DK", "EE", "FI", "IT", "NL", "PL", "PT", "ES", "SE"]


# --- processes ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_mib(pid: int, field: str) -> float | None:
    """A memory figure (``VmHWM``, ``VmRSS``) of the process, in MiB, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mib(pid: int) -> float | None:
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float | None:
    return _status_mib(pid, "VmRSS")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds each process spends from now on: the phase's load, not the
    processes' start-up (imports, connections), which no case pays for."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.bench_start = time.process_time()

    def used(self) -> dict[str, float | None]:
        used: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            now, then = cpu_seconds(pid), self.start[name]
            used[name] = None if now is None or then is None else round(now - then, 3)
        used["bench"] = round(time.process_time() - self.bench_start, 3)
        return used


@dataclass
class Server:
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        env.update(
            TEMPORAL_ADDRESS=self.address,
            TEMPORAL_NAMESPACE="default",
            FNO_HOME=str(self.home),
            FNO_LOG_FORMAT="json",
            FNO_STUCK_SCAN_MINUTES="0",
            FNO_CODEC_KEYS=BENCH_CODEC_KEYS,
            # The daily reconciliation of notifications out would run every minute
            # under a compressed policy: not custody cases' work.
            FNO_RECONCILE_SCHEDULE="off",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def database_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.home.glob("temporal.db*"))


@contextmanager
def dev_server(home: Path) -> Iterator[Server]:
    port = free_port()
    proc = start_dev_server(home, port, free_port())
    try:
        yield Server(home, port, proc)
    finally:
        stop_process(proc, "Temporal server", sig=signal.SIGTERM, timeout=30)


def profiled(args: list[str], profile: str | None, phase: str) -> list[str]:
    """``args`` run under py-spy (GIL samples, 100 Hz) writing ``PATH`` with the phase's
    name before its suffix (``prof.txt`` -> ``prof-product.txt``), when profiling."""
    if not profile:
        return args
    path = Path(profile)
    out = path.with_name(f"{path.stem}-{phase}{path.suffix}")
    fmt_ = ["-f", "raw"] if path.suffix == ".txt" else []
    spy = Path(sys.executable).parent / "py-spy"
    record = [str(spy), "record", "-o", str(out), "-r", "100", "--gil", *fmt_]
    return [*record, "--", sys.executable, *args]


def measured_pid(proc: subprocess.Popen[bytes]) -> int:
    """The worker's PID: ``proc`` itself, or its child when py-spy runs it."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        return proc.pid
    if children and "py-spy" in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(
        errors="replace"
    ):
        return int(children[0])
    return proc.pid


@contextmanager
def child(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = args if Path(args[0]).is_absolute() else [sys.executable, *args]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc, args[-1], sig=signal.SIGINT, timeout=30)


async def wait_for_worker(client: Client, task_queue: str, proc: subprocess.Popen[bytes]) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + 60
    while not (await client.workflow_service.describe_task_queue(request)).pollers:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with code {proc.returncode} at start-up")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no worker polled {task_queue!r} within 60s")
        await asyncio.sleep(0.2)


async def wait_closed(
    client: Client,
    query: str,
    n: int,
    progress: Progress,
    label: str,
    *,
    limit_seconds: float,
    tick: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    """Poll until ``n`` workflows match ``query``; ``tick`` gets each count in between
    (the bench's caseworker, the dormant mode's feeder)."""
    task = progress.add_task(label, total=n)
    deadline = time.monotonic() + limit_seconds
    while True:
        done = (await client.count_workflows(query)).count
        progress.update(task, completed=done)
        if done >= n:
            return
        if tick is not None:
            await tick(done)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{label}: only {done} of {n} closed within {limit_seconds:g}s")
        await asyncio.sleep(0.25)


async def close_times(client: Client, query: str) -> list[datetime]:
    return [w.close_time async for w in client.list_workflows(query) if w.close_time is not None]


def sustained_rate(ends: list[datetime]) -> float:
    """Cases closed per second while the run is in full flow: between the moments the
    first 10% and the first 90% of its cases had closed. It leaves out the start (the
    first workflow tasks, the worker's cache filling) and the tail (the last
    stragglers, such as a serious case still waiting for its caseworker), which
    first-to-last timing charges to throughput."""
    times = sorted(e.timestamp() for e in ends)
    lo, hi = len(times) // 10, (len(times) * 9) // 10
    if hi - lo < 2 or times[hi - 1] <= times[lo]:
        return float("nan")
    return (hi - 1 - lo) / (times[hi - 1] - times[lo])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def count_history(history: WorkflowHistory) -> tuple[int, int]:
    """(events, activities scheduled) of one history."""
    events = history.events
    scheduled = sum(
        1 for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    return len(events), scheduled


async def histories(client: Client, ids: list[str]) -> dict[str, tuple[int, int]]:
    sem = asyncio.Semaphore(16)

    async def one(wid: str) -> tuple[str, tuple[int, int]]:
        async with sem:
            return wid, count_history(await client.get_workflow_handle(wid).fetch_history())

    return dict(await asyncio.gather(*(one(w) for w in ids)))


# --- results -----------------------------------------------------------------------------
@dataclass
class PhaseResult:
    name: str
    cases: int
    elapsed_s: float
    sustained_cases_per_s: float
    activities: int
    worker_peak_rss_mib: float | None
    start_latency_ms: dict[str, float] = field(default_factory=dict)
    events_per_case: dict[str, float] = field(default_factory=dict)
    activities_per_case: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cases_per_s(self) -> float:
        return self.cases / self.elapsed_s

    @property
    def activities_per_s(self) -> float:
        return self.activities / self.elapsed_s


def latency_summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "p50": round(percentile(ms, 50), 1),
        "p95": round(percentile(ms, 95), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1) if ms else float("nan"),
    }


# --- baseline ------------------------------------------------------------------------------
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
    events = [e for e, _ in counts.values()]
    return PhaseResult(
        name=name,
        cases=n,
        elapsed_s=elapsed,
        sustained_cases_per_s=sustained_rate(ends),
        activities=n * shape.activities,
        worker_peak_rss_mib=rss,
        start_latency_ms=latency_summary(latencies),
        events_per_case={name: statistics.mean(events)},
        activities_per_case={name: shape.activities},
        extra={"cpu_seconds": cpu, "shape": shape.__dict__},
    )


# --- product ------------------------------------------------------------------------------
@dataclass
class Plan:
    events: list[dict[str, Any]]
    world: dict[str, Any]
    branch: dict[str, str]  # case ID -> no_trace / not_serious / serious


def bench_event(
    reference: str,
    family_name: str,
    nationality: str,
    pnc_id: str,
    *,
    uk_matter: str = "theft",
    date_of_birth: str = "1985-04-12",
) -> dict[str, Any]:
    """A custody event from the bench's force, with every identity field a country
    may require (no case waits for the officer)."""
    return {
        "force": "benchshire",
        "custody_reference": reference,
        "reason": "arrest",
        "encountered_at": "2026-01-05T10:30:00Z",
        "uk_matter": uk_matter,
        "subject": {
            "family_name": family_name,
            "given_names": "Case",
            "date_of_birth": date_of_birth,
            "nationality": nationality,
            "father_name": "Jan",
            "mother_name": "Maria",
            "place_of_birth": "Somewhere",
            "pnc_id": pnc_id,
        },
        "requesting_officer": {"name": "PC Bench", "email": "pc.bench@example.police.uk"},
    }


def plan_cases(n: int, seed: int, tag: str) -> Plan:
    """``n`` custody events in the seeds' mix, and a world in which every country
    answers at once (the bench measures the product, not the countries)."""
    rng = random.Random(seed)
    serious = max(1, round(n * 0.01)) if n >= 20 else 0
    not_serious = round(n * 0.16)
    kinds = ["serious"] * serious + ["not_serious"] * not_serious
    kinds += ["no_trace"] * (n - len(kinds))
    rng.shuffle(kinds)
    events, subjects, branch = [], {}, {}
    for i, kind in enumerate(kinds):
        nationality = rng.choice(EU)
        pnc = f"{tag}/{i:07d}B"
        reply: dict[str, Any] = {"after_days": 0}
        if kind == "not_serious":
            reply["convictions"] = [{"offence": "THEFT", "convicted_on": "2012-03-15"}]
        elif kind == "serious":
            reply["convictions"] = [{"offence": "ROBBERY", "convicted_on": "2010-06-15"}]
            reply["certificate_purpose"] = "immigration_deportation"
        subjects[pnc] = {"replies": {nationality: reply}, "located_after_days": 0}
        reference = f"BENCH-{tag}-{i:06d}"
        events.append(bench_event(reference, f"Bench{i}", nationality, pnc))
        branch[f"{ENCOUNTER_PREFIX}benchshire-{reference}"] = kind
    return Plan(events, {"seed": seed, "subjects": subjects}, branch)


class Caseworker:
    """Sends the decisions a caseworker would, over the HTTP API, to cases awaiting one."""

    def __init__(self, client: Client, http: httpx.AsyncClient) -> None:
        self.client = client
        self.http = http
        self.sent = 0
        self.refused = 0
        self.headers = {
            "X-Actor": "Bench Caseworker",
            "X-Role": "caseworker",
            "X-Reason": "benchmark: deciding a case",
        }

    async def __call__(self, _closed: int = 0) -> None:
        query = (
            "FnoCaseKind = 'casework' AND ExecutionStatus = 'Running' "
            "AND FnoAwaitingRole = 'caseworker'"
        )
        async for w in self.client.list_workflows(query):
            r = await self.http.get(f"/cases/{w.id}", headers=self.headers)
            if r.status_code != 200:
                continue
            for kind in r.json().get("awaiting", []):
                if kind not in DECISIONS:
                    continue
                body = {
                    "actor": "Bench Caseworker",
                    "role": "caseworker",
                    "reason": "benchmark: the caseworker's decision",
                    "decision": {"kind": kind, **DECISIONS[kind]},
                }
                answer = await self.http.post(f"/cases/{w.id}/decisions", json=body)
                if answer.status_code == 200:
                    self.sent += 1
                else:
                    self.refused += 1  # not awaited any more: looked at again next round


async def run_product(
    run_dir: Path,
    n: int,
    concurrency: int,
    day_seconds: float,
    seed: int,
    progress: Progress,
    profile: str | None = None,
) -> PhaseResult:
    home = run_dir / "product"
    home.mkdir(parents=True)
    plan = plan_cases(n, seed, tag="26")
    world_file = home / "world.json"
    world_file.write_text(json.dumps(plan.world))
    db_url = f"sqlite:///{home / 'casework.db'}"
    CaseStore.migrated(db_url)
    api_port = free_port()
    task_queue = "bench-product"
    worker_args = profiled(["worker.py"], profile, "product")
    with dev_server(home) as server:
        env = server.env(
            FNO_TASK_QUEUE=task_queue,
            FNO_DATABASE_URL=db_url,
            FNO_WORLD_FILE=str(world_file),
            FNO_POLICY=f"compressed:{day_seconds}",
            FNO_API_KEYS=json.dumps({API_KEY: "bench custody system"}),
            FNO_HTTP_PORT=str(api_port),
        )
        with (
            child(worker_args, env, home / "worker.log") as worker,
            child(profiled(["-m", "api.app"], profile, "api"), env, home / "api.log") as api,
        ):
            client = await connect(env)
            await wait_for_worker(client, task_queue, worker)
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
                        r = await http.post(
                            "/custody-events", json=event, headers={"X-API-Key": API_KEY}
                        )
                        latencies.append(time.perf_counter() - t)
                        statuses[r.status_code] += 1
                        progress.advance(submitted)

                caseworker = Caseworker(client, http)
                meter = CpuMeter(
                    {
                        "worker": measured_pid(worker),
                        "server": server.process.pid,
                        "api": measured_pid(api),
                    }
                )
                t0 = time.time()
                posting = asyncio.gather(*(post(e) for e in plan.events))
                query = "WorkflowType = 'EncounterWorkflow' AND ExecutionStatus = 'Completed'"
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
                rss = peak_rss_mib(measured_pid(worker))
                api_rss = peak_rss_mib(measured_pid(api))
                cpu = meter.used()
            if statuses != Counter({201: n}):
                raise RuntimeError(f"intake answered {dict(statuses)}, expected 201 for all {n}")
            # Not timed: what each branch cost in history events and activities.
            outcomes: dict[str, str] = {}
            async for w in client.list_workflows("WorkflowType = 'EncounterWorkflow'"):
                outcomes[w.id] = str(w.search_attributes.get("FnoOutcome", ["?"])[0])
            casework_ids = [w.id async for w in client.list_workflows("FnoCaseKind = 'casework'")]
            counts = await histories(client, list(plan.branch) + casework_ids)
    per_branch: dict[str, list[tuple[int, int]]] = defaultdict(list)
    secret = LOCAL_SUBJECT_KEY_SECRET
    casework_of = {
        f"{ENCOUNTER_PREFIX}benchshire-{e['custody_reference']}": casework_id_for(
            pnc_subject_key(e["subject"]["pnc_id"], secret)
        )
        for e in plan.events
    }
    for case_id, kind in plan.branch.items():
        events, acts = counts[case_id]
        if kind == "serious":
            ce, ca = counts.get(casework_of[case_id], (0, 0))
            events, acts = events + ce, acts + ca
        per_branch[kind].append((events, acts))
    activities = sum(a for _, a in counts.values())
    expected = {"no_trace": "NO_TRACE", "not_serious": "NOT_SERIOUS", "serious": "DEPORTED"}
    wrong = {c: o for c, o in outcomes.items() if expected[plan.branch[c]] != o}
    if wrong:
        raise RuntimeError(f"{len(wrong)} cases reached an unexpected outcome: {wrong}")
    no_trace_acts = {a for _, a in per_branch["no_trace"]}
    return PhaseResult(
        name="product",
        cases=n,
        elapsed_s=elapsed,
        sustained_cases_per_s=sustained_rate(ends),
        activities=activities,
        worker_peak_rss_mib=rss,
        start_latency_ms=latency_summary(latencies),
        events_per_case={k: statistics.mean(e for e, _ in v) for k, v in per_branch.items()},
        activities_per_case={k: statistics.mean(a for _, a in v) for k, v in per_branch.items()},
        extra={
            "api_peak_rss_mib": api_rss,
            "cpu_seconds": cpu,
            "branches": {k: len(v) for k, v in per_branch.items()},
            "decisions_sent": caseworker.sent,
            "no_trace_activities_match_baseline": no_trace_acts == {NO_TRACE_ACTIVITIES},
            "server_db_mib": round(server.database_bytes() / 2**20, 1),
        },
    )


# --- report ------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
    }


def fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def cpu_per_case(phase: PhaseResult) -> float:
    """CPU seconds per case, every process of the phase (worker, server, API, bench)."""
    return sum(v for v in phase.extra["cpu_seconds"].values() if v is not None) / phase.cases


def report(
    base: PhaseResult, shaped: PhaseResult, prod: PhaseResult, settings: dict[str, Any]
) -> dict[str, Any]:
    ratio = prod.sustained_cases_per_s / base.sustained_cases_per_s
    ratio_first_to_last = prod.cases_per_s / base.cases_per_s
    # CPU per case, all processes: what the ratio would be on a machine the run had to
    # itself, saturated. A wall-clock ratio far from it means other work shared the
    # machine during one phase more than the other.
    ratio_cpu = cpu_per_case(base) / cpu_per_case(prod)
    # Against the same-shape baseline: what the product's own code adds to what
    # Temporal costs for the product's process (its wait and upserts included).
    ratio_shaped = prod.sustained_cases_per_s / shaped.sustained_cases_per_s
    ratio_shaped_cpu = cpu_per_case(shaped) / cpu_per_case(prod)
    phases = (base, shaped, prod)
    table = Table(title=f"FNO benchmark — {settings['cases']} cases, one run")
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("same shape", justify="right")
    table.add_column("product", justify="right")

    def row(label: str, values: list[str]) -> None:
        table.add_row(label, *values)

    row("cases", [str(p.cases) for p in phases])
    row("elapsed (s)", [fmt(p.elapsed_s) for p in phases])
    row("cases/s end to end, sustained", [fmt(p.sustained_cases_per_s, 2) for p in phases])
    row("cases/s end to end, first to last", [fmt(p.cases_per_s, 2) for p in phases])
    row("activities/s", [fmt(p.activities_per_s) for p in phases])
    for pct in ("p50", "p95", "p99"):
        row(f"start latency {pct} (ms)", [fmt(p.start_latency_ms.get(pct)) for p in phases])
    row("worker peak RSS (MiB)", [fmt(p.worker_peak_rss_mib) for p in phases])
    row("HTTP API peak RSS (MiB)", ["—", "—", fmt(prod.extra.get("api_peak_rss_mib"))])
    row(
        "events/case (activities/case)",
        [
            f"{p.events_per_case[p.name]:.0f} ({p.activities_per_case[p.name]:.0f})"
            for p in (base, shaped)
        ]
        + [""],
    )
    for branch in ("no_trace", "not_serious", "serious"):
        if branch in prod.events_per_case:
            row(
                f"  {branch.replace('_', ' ')} ({prod.extra['branches'][branch]} cases)",
                [
                    "",
                    "",
                    f"{prod.events_per_case[branch]:.0f} ({prod.activities_per_case[branch]:.0f})",
                ],
            )
    for proc in ("worker", "server", "api", "bench"):
        cells = []
        for p in phases:
            v = p.extra["cpu_seconds"].get(proc)
            cells.append(fmt(None if v is None else 100 * v / p.cases, 2))
        row(f"CPU s/100 cases: {proc}", cells)
    row("CPU s/100 cases: all", [fmt(100 * cpu_per_case(p), 2) for p in phases])
    row("product / baseline, CPU per case", ["", "", f"{ratio_cpu:.3f}"])
    row("product / baseline, first to last", ["", "", f"{ratio_first_to_last:.3f}"])
    row("product / same shape, CPU per case", ["", "", f"{ratio_shaped_cpu:.3f}"])
    row("product / same shape, sustained", ["", "", f"{ratio_shaped:.3f}"])
    row("product / baseline, sustained", ["", "", f"{ratio:.3f}"])
    Console().print(table)
    print(
        "baseline: the no-trace path's activities as no-ops, nothing else; same shape: the "
        "same plus the product's wait for the reply (a timer as long as its first poll) and "
        "its search attributes (set at the start, upserted twice).\n"
        "sustained: closed cases per second between 10% and 90% of the run's cases closed "
        "(the ratio line); first to last: all cases over first submission to last close;\n"
        "CPU per case: the reference's CPU seconds per case (worker, server, API, bench) over "
        "the product's — far from the others, the machine was busier in one phase.\n"
        "baseline start latency is a client's start_workflow; the product's is the HTTP "
        "intake (validation, subject key, start) as an integrator sees it."
    )
    return {
        "kind": "throughput",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings,
        "baseline": base.__dict__ | {"cases_per_s": base.cases_per_s},
        "same_shape": shaped.__dict__ | {"cases_per_s": shaped.cases_per_s},
        "product": prod.__dict__ | {"cases_per_s": prod.cases_per_s},
        "activities_per_s": {
            "baseline": base.activities_per_s,
            "same_shape": shaped.activities_per_s,
            "product": prod.activities_per_s,
        },
        "ratio": ratio,
        "ratio_first_to_last": ratio_first_to_last,
        "ratio_cpu": ratio_cpu,
        "ratio_same_shape": ratio_shaped,
        "ratio_same_shape_cpu": ratio_shaped_cpu,
    }


def save(result: dict[str, Any], out: Path) -> Path:
    folder = out / "results"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{result['kind']}-{stamp}.json"
    text = json.dumps(result, indent=2, default=str)
    path.write_text(text)
    (folder / f"{result['kind']}-latest.json").write_text(text)
    return path


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def throughput(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / "runs" / stamp
    settings = {
        "cases": args.cases,
        "concurrency": args.concurrency,
        "day_seconds": args.day_seconds,
        "seed": args.seed,
    }
    with progress_bar() as progress:
        base = await run_baseline(
            run_dir, args.cases, args.concurrency, progress, Shape.bare(), profile=args.profile
        )
        policy = compressed_policy(args.day_seconds)
        shaped = await run_baseline(
            run_dir,
            args.cases,
            args.concurrency,
            progress,
            Shape.like_no_trace(policy.days(policy.reply_poll_schedule_days[0]).total_seconds()),
            name="same_shape",
            profile=args.profile,
        )
        prod = await run_product(
            run_dir,
            args.cases,
            args.concurrency,
            args.day_seconds,
            args.seed,
            progress,
            args.profile,
        )
    result = report(base, shaped, prod, settings)
    path = save(result, args.out)
    if not args.keep:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"results: {shown(path)}")
    print(f"ratio={result['ratio']:.3f}")
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=600, help="custody events (default 600)")
    p.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight at once (default 16)"
    )
    p.add_argument(
        "--day-seconds", type=float, default=0.05, help="compressed policy's day (default 0.05)"
    )
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="folder for results/ and the runs' files (default .bench, git-ignored)",
    )
    p.add_argument("--keep", action="store_true", help="keep the run's servers' files")
    p.add_argument(
        "--profile",
        metavar="PATH",
        help="record each phase's worker with py-spy into PATH, the phase's name added "
        "(prof.svg -> prof-product.svg: SVG flame graphs, or collapsed stacks if PATH ends "
        "in .txt; needs `pip install py-spy`; profiling slows the workers)",
    )
    p.add_argument(
        "--dormant",
        type=int,
        metavar="K",
        nargs="?",
        const=10_000,
        help="dormant-scale mode: K cases left wanted/missing (default 10,000), then 1%% woken",
    )
    p.add_argument(
        "--dormant-window",
        type=int,
        default=400,
        metavar="N",
        help="dormant mode: at most N cases on their way to sleep at once (default 400: "
        "with its Criminal Casework case, each is two workflows in the worker's cache "
        "of 1,000)",
    )
    args = p.parse_args(argv)
    if args.cases < 1 or args.concurrency < 1 or args.dormant_window < 1:
        p.error("--cases, --concurrency and --dormant-window must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.dormant is not None:
        from bench.dormant import dormant

        return asyncio.run(dormant(args))
    return asyncio.run(throughput(args))
