"""A phase's processes: a fresh embedded dev server, the children (worker, HTTP API)
run against it, optionally under py-spy, and the wait for a worker to poll."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from runtime.embedded import start_dev_server, stop_process

ROOT = Path(__file__).resolve().parent.parent
# Payloads are encrypted as in production (issue 9): a throwaway key for this run.
BENCH_CODEC_KEYS = json.dumps(
    {"current": "bench", "keys": {"bench": base64.b64encode(os.urandom(32)).decode()}}
)
# The worker trusts only the front door (issue 18): the run's front-door key, shared by
# the worker, the HTTP API and the bench's own client.
BENCH_FRONT_DOOR_KEY = json.dumps(
    {"current": "bench", "keys": {"bench": base64.b64encode(os.urandom(32)).decode()}}
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            # A local run: its subject keys are the local ones (bench.phases makes them).
            FNO_LOCAL_MODE="1",
            FNO_STUCK_SCAN_MINUTES="0",
            FNO_CODEC_KEYS=BENCH_CODEC_KEYS,
            FNO_FRONT_DOOR_KEY=BENCH_FRONT_DOOR_KEY,
            # The daily reconciliation of notifications out would run every minute
            # under a compressed policy: not custody cases' work.
            FNO_RECONCILE_SCHEDULE="off",
            # One bench caseworker reads and decides for thousands of cases: the API's
            # per-caller limits (access.rate_limit) are for people, not for the bench.
            FNO_RATE_LIMIT_READS="none",
            FNO_RATE_LIMIT_DECISIONS="none",
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
