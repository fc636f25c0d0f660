"""What the bench measures and how: memory and CPU from /proc, workflows closed over
time, history lengths, percentiles, and a phase's result."""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any, NamedTuple

from rich.progress import Progress
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory


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


class HistoryCount(NamedTuple):
    """One history's size: its events, the activities it scheduled, and its bytes as the
    server stores them (the serialized events, payloads encrypted: the bench's client
    fetches them raw, its codec decodes only results)."""

    events: int
    activities: int
    bytes: int

    def __add__(self, other: object) -> HistoryCount:  # type: ignore[override]
        if not isinstance(other, HistoryCount):
            return NotImplemented
        return HistoryCount(
            self.events + other.events,
            self.activities + other.activities,
            self.bytes + other.bytes,
        )


NO_HISTORY = HistoryCount(0, 0, 0)


def branch_histories(
    branch: Mapping[str, str],
    counts: Mapping[str, HistoryCount],
    casework_of: Mapping[str, str],
) -> dict[str, list[HistoryCount]]:
    """Each branch's cases' histories (``branch``: case ID to branch); a serious case's
    counts its Criminal Casework case too (``casework_of``: its ID)."""
    per_branch: dict[str, list[HistoryCount]] = defaultdict(list)
    for case_id, kind in branch.items():
        count = counts[case_id]
        if kind == "serious":
            count = count + counts.get(casework_of[case_id], NO_HISTORY)
        per_branch[kind].append(count)
    return per_branch


def branch_means(per_branch: Mapping[str, list[HistoryCount]]) -> dict[str, Any]:
    """A phase's result fields of ``branch_histories``: events, bytes and activities per
    case, each branch's mean, and how many cases each branch had."""
    return {
        "events_per_case": {k: mean(c.events for c in v) for k, v in per_branch.items()},
        "bytes_per_case": {k: mean(c.bytes for c in v) for k, v in per_branch.items()},
        "activities_per_case": {k: mean(c.activities for c in v) for k, v in per_branch.items()},
    }


LOCAL_ACTIVITY_MARKER = "core_local_activity"  # Core's marker of a local activity


def count_history(history: WorkflowHistory) -> HistoryCount:
    """(events, activities scheduled or run locally, serialized bytes) of one history."""
    events = history.events
    scheduled = sum(
        1
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        or (
            e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        )
    )
    return HistoryCount(len(events), scheduled, sum(e.ByteSize() for e in events))


async def histories(client: Client, ids: list[str]) -> dict[str, HistoryCount]:
    sem = asyncio.Semaphore(16)

    async def one(wid: str) -> tuple[str, HistoryCount]:
        async with sem:
            return wid, count_history(await client.get_workflow_handle(wid).fetch_history())

    return dict(await asyncio.gather(*(one(w) for w in ids)))


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
    bytes_per_case: dict[str, float] = field(default_factory=dict)
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
