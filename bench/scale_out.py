"""``python -m bench --scale-out 1,2,4``: the product's throughput with 1, 2 and 4
worker processes on one task queue (issue 23), in one run: each count a fresh dev
server, the same cases through the HTTP intake, the world service beside. It prints,
per count, the cases per second (sustained), the CPU per case of each of our processes
and in all, and the workers' peak RSS; writes the same as JSON under
``.bench/results/``. On a machine with fewer cores than processes the figures show
the contention, not the product's limit: read them with the machine's core count,
which it prints.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.measure import PhaseResult
from bench.phases import run_product
from bench.report import cpu_per_case, progress_bar, save, shown
from bench.world import WORLD_CPU


def counts_of(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--scale-out takes worker counts like 1,2,4")
    return counts


async def scale_out(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / "runs" / f"scale-{stamp}"
    results = []
    with progress_bar() as progress:
        for k in args.scale_out:
            results.append(
                await run_product(
                    run_dir,
                    args.cases,
                    args.concurrency,
                    args.day_seconds,
                    args.seed,
                    progress,
                    world=args.world,
                    workers=k,
                    name=f"product-{k}-workers",
                )
            )
    table = Table(title=f"Scale-out: {args.cases} cases, {os.cpu_count()} cores")
    columns = ("workers", "cases/s sustained", "CPU s/100 cases: workers", "server", "API")
    for column in (*columns, "all ours", "worker peak RSS MiB"):
        table.add_column(column, justify="right")
    rows = [row_of(k, r) for k, r in zip(args.scale_out, results, strict=True)]
    for row in rows:
        cpu = row["cpu_s_per_100"]
        table.add_row(
            str(row["workers"]),
            f"{row['sustained_cases_per_s']:.2f}",
            *(f"{cpu.get(n) or 0:.2f}" for n in ("worker", "server", "api")),
            f"{row['all_ours_cpu_s_per_100']:.2f}",
            f"{row['worker_peak_rss_mib'] or 0:.0f}",
        )
    Console().print(table)
    path = save(
        {
            "kind": "scale-out",
            "settings": {k: v for k, v in vars(args).items() if k != "out"},
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
            "rows": rows,
        },
        args.out,
    )
    print(f"results: {shown(path)}")
    one = rows[0]["sustained_cases_per_s"]
    print(
        "scale_out="
        + ",".join(f"{r['workers']}:{r['sustained_cases_per_s'] / one:.2f}" for r in rows)
    )
    return 0


def row_of(workers: int, r: PhaseResult) -> dict[str, Any]:
    used = r.extra["cpu_seconds"]
    return {
        "workers": workers,
        "sustained_cases_per_s": round(r.sustained_cases_per_s, 2),
        "cpu_s_per_100": {
            n: round(100 * v / r.cases, 3)
            for n, v in used.items()
            if n != WORLD_CPU and v is not None
        },
        "all_ours_cpu_s_per_100": round(100 * cpu_per_case(r), 3),
        "worker_peak_rss_mib": r.worker_peak_rss_mib,
    }
