"""The throughput mode (``python -m bench``): the product's throughput against a bare
Temporal baseline, on one machine, in one run.

Each phase gets a fresh embedded dev server and its own worker process:

1. **baseline** — ``BenchBaseline`` workflows, each running as many no-op activities
   as the product's no-trace path, started straight through the Temporal client;
2. **same shape** — the same with what the product's no-trace history holds besides its
   activities (``bench.baseline``: since issue 22 a deadline timer and the reply
   pushed as a signal);
3. **same mix** — the product's mix of branches (``bench.same_mix``), each case a
   workflow doing what the product's history of its branch holds, with no code of the
   product's: what Temporal costs for the product's whole process; ``same shape / same
   mix`` is the most ``ratio=`` can be;
4. **product** — custody events posted to the HTTP intake (``server.app``) and carried
   to their outcome by the product's worker with the simulator answering at once, in
   the seeds' mix (about 83% no trace, 16% convictions not serious, 1% serious going
   through Criminal Casework, the bench sending the caseworker's decisions over HTTP;
   and from 20 cases on one EU country never replying and one non-EU reply per 600).

It prints a table (cases/s, activities/s, intake latency, worker peak RSS, history
events and bytes per case by branch, CPU per case), writes the same as JSON under
``.bench/results/`` and ends with ``ratio=<product / same shape, CPU per case>``.
"""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime

from bench.baseline import Shape
from bench.mix_phase import run_same_mix
from bench.phases import run_baseline, run_product
from bench.report import progress_bar, report, save, shown
from models.policy import compressed_policy

# The same shape's world pushes the reply this long after the request: soon (the bench's
# world answers every country but the long waits' at once), and late enough that the
# case is waiting on its deadline timer when it comes, as a pushed reply finds it (a
# reply signalled during the request would find no timer started: three events fewer).
# At merge: set it to what the product's no-trace history shows.
REPLY_AFTER_SECONDS = 1.0


def same_shape(kind: str, day_seconds: float) -> Shape:
    """The same-shape baseline of the product's no-trace path: ``pushed`` (issue 22: a
    deadline timer, the EU reply's 20 working days ~ 28 days, and the reply's signal)
    or ``polled`` (before: a timer as long as the first poll)."""
    policy = compressed_policy(day_seconds)
    if kind == "polled":
        return Shape.like_polled_no_trace(
            policy.days(policy.reply_poll_schedule_days[0]).total_seconds()
        )
    return Shape.like_pushed_no_trace(policy.days(28).total_seconds(), REPLY_AFTER_SECONDS)


async def throughput(args: argparse.Namespace) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.out / "runs" / stamp
    settings = {
        "cases": args.cases,
        "concurrency": args.concurrency,
        "day_seconds": args.day_seconds,
        "seed": args.seed,
        "world": args.world,
        "same_shape": args.same_shape,
    }
    with progress_bar() as progress:
        base = await run_baseline(
            run_dir, args.cases, args.concurrency, progress, Shape.bare(), profile=args.profile
        )
        shaped = await run_baseline(
            run_dir,
            args.cases,
            args.concurrency,
            progress,
            same_shape(args.same_shape, args.day_seconds),
            name="same_shape",
            profile=args.profile,
        )
        mixed = await run_same_mix(
            run_dir,
            args.cases,
            args.concurrency,
            args.day_seconds,
            args.seed,
            REPLY_AFTER_SECONDS,
            progress,
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
            world=args.world,
        )
    result = report(base, shaped, mixed, prod, settings)
    path = save(result, args.out)
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    print(f"results: {shown(path)}")
    print(f"ratio={result['ratio']:.3f}")
    return 0
