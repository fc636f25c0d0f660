"""``python -m bench.baseline_worker``: the baseline's worker, built by the product's
own ``processes.worker.make_worker`` (same executor, concurrency, cache and sandbox
settings), with the same shape's world (``bench.baseline.BaselineWorld``) and the same
mix's (``bench.same_mix.MixWorld``)."""

from __future__ import annotations

import asyncio
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from bench.baseline import BaselineWorkflow, BaselineWorld, noop
from bench.same_mix import MixWorkflow, MixWorld
from processes.worker import MAX_CONCURRENT_ACTIVITIES, make_worker, run_until_signalled
from runtime.config import connect
from runtime.logs import configure_logging, get_logger
from runtime.shutdown import run_and_exit


async def main() -> None:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "json"))
    task_queue = os.environ["FNO_TASK_QUEUE"]
    client = await connect()
    log = get_logger("fno.bench.baseline", task_queue=task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="activity") as pool:
        world = BaselineWorld(client, loop)  # the same shape's reply, pushed
        mix = MixWorld(client, loop, task_queue)  # the same mix's replies and referrals
        activities = [noop, world.activity(), *mix.activities()]
        workflows = [BaselineWorkflow, MixWorkflow]
        worker = make_worker(client, task_queue, workflows, activities, pool)
        await run_until_signalled(worker, stop, log, policy="baseline")


if __name__ == "__main__":
    run_and_exit(main)
