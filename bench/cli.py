"""``python -m bench`` (``make bench``): the product's throughput against a bare
Temporal baseline, on one machine, in one run.

The throughput mode is ``bench.throughput``; ``--dormant K`` runs the dormant-scale
mode instead (``bench.dormant``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from bench.dormant import dormant
from bench.national_year import YEARS, national_year
from bench.scale_out import counts_of, scale_out
from bench.servers import ROOT
from bench.throughput import throughput
from bench.world import WORLDS

OUT = ROOT / ".bench"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=600, help="custody events (default 600)")
    p.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight at once (default 16)"
    )
    p.add_argument(
        "--day-seconds",
        type=float,
        help="compressed policy's day (default 0.05; national year: 0.5, a year in ~3 min)",
    )
    p.add_argument("--seed", type=int, default=2017)
    p.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="folder for results/ and the runs' files (default .bench, git-ignored)",
    )
    p.add_argument(
        "--world",
        choices=WORLDS,
        default="service",
        help="the simulated world as its own HTTP service (default: its CPU shown, not "
        "counted as ours), or inside the worker",
    )
    p.add_argument(
        "--same-shape",
        choices=("pushed", "polled"),
        default="pushed",
        help="the same-shape baseline's wait: the reply pushed (issue 22, default) or "
        "polled (before)",
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
        "--national-year",
        choices=sorted(YEARS),
        help="a year of encounters through intake on the compressed policy: a force's "
        "(3,442, Hampshire 2018/19) or the nation's (150,000); prints the funnel, the "
        "backlog's peak, the worst reply-to-triage delay, history bytes, database growth",
    )
    p.add_argument(
        "--encounters",
        type=int,
        metavar="N",
        help="national year: only the first N of the year's encounters, at the year's rate",
    )
    p.add_argument(
        "--limit-minutes",
        type=float,
        default=10,
        help="national year: stop posting and waiting after this long, reporting what was "
        "done (default 10)",
    )
    p.add_argument(
        "--scale-out",
        type=counts_of,
        metavar="K,K,…",
        help="scale-out mode: the product phase alone with each number of worker "
        "processes on one task queue (for example 1,2,4), throughput and CPU per case each",
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
    if args.day_seconds is None:
        args.day_seconds = 0.5 if args.national_year else 0.05
    if args.cases < 1 or args.concurrency < 1 or args.dormant_window < 1:
        p.error("--cases, --concurrency and --dormant-window must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM as Ctrl-C: the run unwinds, and its servers, workers, HTTP API and world
    # service are stopped with it (killed with SIGTERM, it left them running).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.dormant is not None:
        return asyncio.run(dormant(args))
    if args.national_year is not None:
        return asyncio.run(national_year(args))
    if args.scale_out is not None:
        return asyncio.run(scale_out(args))
    return asyncio.run(throughput(args))
