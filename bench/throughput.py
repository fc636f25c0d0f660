"""The throughput mode (``python -m bench``): the product's throughput against a bare
Temporal baseline, on one machine, in one run.

Each phase gets a fresh embedded dev server and its own worker process:

1. **baseline** — ``BenchBaseline`` workflows, each running as many no-op activities
   as the product's no-trace path, started straight through the Temporal client;
2. **product** — custody events posted to the HTTP intake (``server.app``) and carried
   to their outcome by the product's worker with the simulator answering at once, in
   the seeds' mix (about 83% no trace, 16% convictions not serious, 1% serious going
   through Criminal Casework, the bench sending the caseworker's decisions over HTTP).

It prints a table (cases/s, activities/s, intake latency, worker peak RSS, history
events per case by branch), writes the same as JSON under ``.bench/results/`` and
ends with ``ratio=<product cases/s / baseline cases/s>``.
"""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime

from bench.baseline import Shape
from bench.phases import run_baseline, run_product
from bench.report import progress_bar, report, save, shown
from models.policy import compressed_policy


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
        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"results: {shown(path)}")
    print(f"ratio={result['ratio']:.3f}")
    return 0
