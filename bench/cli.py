"""``python -m bench`` (``make bench``): the product's throughput against a bare
Temporal baseline, on one machine, in one run.

The throughput mode is ``bench.throughput``; ``--dormant K`` runs the dormant-scale
mode instead (``bench.dormant``).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.dormant import dormant
from bench.servers import ROOT
from bench.throughput import throughput

OUT = ROOT / ".bench"


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
        return asyncio.run(dormant(args))
    return asyncio.run(throughput(args))
