"""What the bench shows and keeps: the throughput table and its notes, the machine it
ran on, the JSON under ``.bench/results/``, and the progress bars on stderr."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cases import BRANCHES
from bench.measure import PhaseResult
from bench.servers import ROOT
from bench.world import WORLD_CPU

console = Console(stderr=True)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
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
    """CPU seconds per case, every process of the phase (worker, server, API, bench) but
    the world service's (the outside world's work, not ours)."""
    used = phase.extra["cpu_seconds"]
    return sum(v for k, v in used.items() if v is not None and k != WORLD_CPU) / phase.cases


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def report(
    base: PhaseResult,
    shaped: PhaseResult,
    mixed: PhaseResult,
    prod: PhaseResult,
    settings: dict[str, Any],
) -> dict[str, Any]:
    # The ratio line (issue 22): the product against the same-shape baseline, CPU per
    # case, all processes — what the product's own code adds to what Temporal costs for
    # the product's process, on a machine the run had to itself.
    ratio = cpu_per_case(shaped) / cpu_per_case(prod)
    ratio_shaped = prod.sustained_cases_per_s / shaped.sustained_cases_per_s
    # Against the bare baseline (the no-trace path's activities alone), kept beside it.
    ratio_cpu = cpu_per_case(base) / cpu_per_case(prod)
    ratio_bare = prod.sustained_cases_per_s / base.sustained_cases_per_s
    ratio_first_to_last = prod.cases_per_s / base.cases_per_s
    same_over_bare = cpu_per_case(base) / cpu_per_case(shaped)
    # The same mix (bench.same_mix): Temporal's cost for the product's whole mix. The
    # product against it is what our own code adds; the same shape against it is the
    # most ratio= can be, were the product's own code free.
    ratio_mix = cpu_per_case(mixed) / cpu_per_case(prod)
    ceiling = cpu_per_case(shaped) / cpu_per_case(mixed)
    phases = (base, shaped, mixed, prod)
    table = Table(title=f"FNO benchmark — {settings['cases']} cases, one run")
    table.add_column("")
    table.add_column("baseline", justify="right")
    table.add_column("same shape", justify="right")
    table.add_column("same mix", justify="right")
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
    row("HTTP API peak RSS (MiB)", ["—", "—", "—", fmt(prod.extra.get("api_peak_rss_mib"))])
    row(
        "history events/case (activities/case)",
        [
            f"{p.events_per_case[p.name]:.0f} ({p.activities_per_case[p.name]:.0f})"
            for p in (base, shaped)
        ]
        + ["", ""],
    )
    row(
        "history bytes/case",
        [kib(p.bytes_per_case[p.name]) for p in (base, shaped)] + ["", ""],
    )
    for branch in BRANCHES:
        if branch in prod.events_per_case:
            row(
                f"  {branch.replace('_', ' ')} ({prod.extra['branches'][branch]} cases)",
                [
                    "",
                    "",
                    branch_cell(mixed, branch),
                    branch_cell(prod, branch),
                ],
            )
    for proc in ("worker", "server", "api", "bench", WORLD_CPU):
        if all(p.extra["cpu_seconds"].get(proc) is None for p in phases):
            continue
        cells = []
        for p in phases:
            v = p.extra["cpu_seconds"].get(proc)
            cells.append(fmt(None if v is None else 100 * v / p.cases, 2))
        row(f"CPU s/100 cases: {proc}", cells)
    row("CPU s/100 cases: all (ours)", [fmt(100 * cpu_per_case(p), 2) for p in phases])
    row("same shape / baseline, CPU per case", ["", f"{same_over_bare:.3f}", "", ""])
    row("same shape / same mix, CPU per case (ratio='s ceiling)", ["", "", f"{ceiling:.3f}", ""])
    row("product / same shape, CPU per case (ratio=)", ["", "", "", f"{ratio:.3f}"])
    row("product / same mix, CPU per case (our code)", ["", "", "", f"{ratio_mix:.3f}"])
    row("product / same shape, sustained", ["", "", "", f"{ratio_shaped:.3f}"])
    row("product / baseline, CPU per case", ["", "", "", f"{ratio_cpu:.3f}"])
    row("product / baseline, sustained", ["", "", "", f"{ratio_bare:.3f}"])
    row("product / baseline, first to last", ["", "", "", f"{ratio_first_to_last:.3f}"])
    Console(width=150).print(table)  # wide enough that no row label wraps
    print(
        "baseline: the no-trace path's activities as no-ops, nothing else; same shape: the "
        f"same plus {shape_words(shaped)}; same mix: every branch of the product's mix "
        "as such a workflow (bench.same_mix), the serious one's casework with its ten "
        "decisions as updates.\n"
        "history: events (activities) and bytes as the server stores them (serialized, "
        "payloads encrypted) per case by branch; a serious case counts its Criminal "
        "Casework case too.\n"
        "sustained: closed cases per second between 10% and 90% of the run's cases closed; "
        "first to last: all cases over first submission to last close;\n"
        "CPU per case: the reference's CPU seconds per case (worker, server, API, bench; not "
        "the world service's) over the product's — the ratio= line.\n"
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
        "same_mix": mixed.__dict__ | {"cases_per_s": mixed.cases_per_s},
        "product": prod.__dict__ | {"cases_per_s": prod.cases_per_s},
        "activities_per_s": {
            "baseline": base.activities_per_s,
            "same_shape": shaped.activities_per_s,
            "same_mix": mixed.activities_per_s,
            "product": prod.activities_per_s,
        },
        "ratio": ratio,  # product / same shape, CPU per case (the ratio= line)
        "ratio_same_shape_cpu": ratio,
        "ratio_same_shape": ratio_shaped,
        "ratio_cpu": ratio_cpu,
        "ratio_bare_sustained": ratio_bare,
        "ratio_first_to_last": ratio_first_to_last,
        "same_shape_over_bare_cpu": same_over_bare,
        "ratio_same_mix_cpu": ratio_mix,  # product / same mix: what our own code adds
        "same_shape_over_same_mix_cpu": ceiling,  # the most ratio= can be
    }


def branch_cell(phase: PhaseResult, branch: str) -> str:
    if branch not in phase.events_per_case:
        return ""
    return (
        f"{phase.events_per_case[branch]:.0f} ({phase.activities_per_case[branch]:.0f}), "
        f"{kib(phase.bytes_per_case[branch])}"
    )


def shape_words(shaped: PhaseResult) -> str:
    shape = shaped.extra["shape"]
    if shape["wait"] == "reply_signal":
        return (
            "the product's wait for the reply since issue 22 (a deadline timer, and the "
            "reply pushed as a signal), its search attributes (set at the start, upserted "
            "at the close) and its patch markers"
        )
    return (
        "the product's wait for the reply before issue 22 (a timer as long as its first "
        "poll) and its search attributes (set at the start, upserted twice)"
    )


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
