"""Run the product locally: ``python -m local.run`` (or ``make run``).

1. creates ``FNO_HOME`` (default ``.fno/``), and in it, unless configured otherwise,
   the local payload encryption key file ``codec-keys.json`` and the front-door key
   ``front-door-key`` (both readable by you only, git-ignored);
   and the web app's local demo users (``web-users.json``, one per role,
   random passwords kept in ``web-demo-passwords.json`` and printed) and session
   secret (``web-secret``) unless ``FNO_WEB_USERS_FILE`` / ``FNO_WEB_SECRET`` are set;
   the local token issuer's signing key (``issuer-key.pem``: the HTTP API runs with
   ``FNO_LOCAL_ISSUER=1`` and signs in those users, unless ``FNO_OIDC_ISSUER`` names an
   identity provider) and the demo systems' credentials (``api-clients.json``, hashed;
   the credentials kept in ``api-demo-clients.json`` and printed) unless
   ``FNO_API_CLIENTS_FILE`` / ``FNO_API_CLIENTS`` are set;
2. starts the embedded Temporal dev server on ``.fno/temporal.db`` (persistent: a
   restart keeps earlier cases), with the product's search attributes and its Web UI
   wired to the codec server (``--ui-codec-endpoint http://localhost:8000/codec``);
3. starts the world service (``local.world``: the simulated outside systems over HTTP,
   pushing the countries' replies to the HTTP API) unless ``FNO_WORLD_URL`` names one,
   and the worker (``python worker.py``) pointed at it with ``FNO_POLICY`` defaulting to
   ``compressed:5`` (a day lasts five seconds) unless set, and waits until it polls;
4. runs the starter on ``examples/custody_events.jsonl`` (idempotent: a second run
   starts no case twice);
5. prints where to look and waits. Ctrl-C or SIGTERM stops the worker (SIGINT, a
   grace period, then kill), then the world service, then the server — in that order.

The worker and starter always talk to the embedded server here: ``TEMPORAL_*``
variables and the user's Temporal config profile are replaced for them. To run
against another cluster, start ``worker.py`` and ``starter.py`` yourself (see
docs/running.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from identity.clients import ClientsConfigError
from local.banner import (
    API_METRICS_PORT,
    API_PORT,
    CODEC_PATH,
    WORKER_METRICS_PORT,
    announce,
    metrics_env,
)
from local.prepare import (
    DEMO_ACRO_CLIENT,
    DEMO_POLICY,
    NAMESPACE,
    ROOT,
    child_env,
    prepare_codec,
    prepare_identity,
    prepare_web,
)
from local.world import WORLD_PORT, WORLD_READY_TIMEOUT, start_world, wait_for_world
from runtime.codec import CodecConfigError
from runtime.config import LOCAL_MODE_ENV, Settings
from runtime.embedded import (
    DevServerError,
    PortInUseError,
    is_listening,
    start_dev_server,
    stop_process,
)
from runtime.logs import Vetted, configure_logging, get_logger
from runtime.shutdown import exit_now
from store.engine import make_engine
from store.migrate import upgrade_if_behind

DEFAULT_EVENTS = Path("examples") / "custody_events.jsonl"
WORKER_READY_TIMEOUT = 90.0
WORKER_STOP_TIMEOUT = 20.0  # the worker's own grace is 10 s
SERVER_STOP_TIMEOUT = 15.0

log = get_logger("fno.run")


class _StopFlag:
    """Signal handler that records the first SIGINT/SIGTERM."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def set(self) -> bool:
        return self.signum is not None


async def _wait_for_pollers(
    port: int, task_queue: str, limit_seconds: float, abort: Callable[[], str | None]
) -> None:
    client = await Client.connect(f"localhost:{port}", namespace=NAMESPACE)
    deadline = time.monotonic() + limit_seconds
    request = DescribeTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    while True:
        reason = abort()
        if reason:
            raise RuntimeError(reason)
        response = await client.workflow_service.describe_task_queue(request)
        if response.pollers:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not poll {task_queue!r} within {limit_seconds:g}s")
        await asyncio.sleep(0.3)


def _start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: the terminal's Ctrl-C reaches only this process, which stops
    # the children in order.
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )


def run(port: int, ui_port: int, events: Path | None, world_port: int = WORLD_PORT) -> int:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    stop = _StopFlag()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    base = dict(os.environ) | {LOCAL_MODE_ENV: "1"}  # a local run: it makes up its secrets
    base.setdefault("FNO_POLICY", DEMO_POLICY)
    try:
        settings = Settings.from_env(base)
    except ValueError as err:
        log.error("bad settings", error=Vetted(str(err)))
        return 2
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade_if_behind(make_engine(settings.database_url))
    except Exception as err:
        # The type only: a database error's text may quote a statement and its values.
        log.error("case store migration failed", error_type=type(err).__name__)
        return 1
    try:
        prepare_codec(home, base)
    except CodecConfigError as err:
        log.error("payload encryption keys", error=Vetted(str(err)))
        return 2
    try:
        web_env, web_users = prepare_web(home, base, ui_port)
    except (OSError, ValueError) as err:
        log.error("web app users", error=Vetted(str(err)))
        return 2
    try:
        identity_env, systems = prepare_identity(home, base, API_PORT)
    except (OSError, ClientsConfigError) as err:
        log.error("who may call the HTTP API", error=Vetted(str(err)))
        return 2

    if is_listening("localhost", port):
        print(
            f"\nA server is already listening on localhost:{port} — probably another Temporal "
            "server (an earlier `make run` or `temporal server start-dev`).\n"
            "Stop it first, or pass --port/--ui-port to use other ports.\n",
            file=sys.stderr,
        )
        return 3
    # The Web UI decodes through the HTTP API's codec server, if the API can start.
    api_free = not is_listening("localhost", API_PORT)
    codec_endpoint = f"http://localhost:{API_PORT}{CODEC_PATH}" if api_free else None
    try:
        server = start_dev_server(
            home, port, ui_port, namespace=NAMESPACE, codec_endpoint=codec_endpoint
        )
    except PortInUseError as err:
        print(f"\n{err}\n", file=sys.stderr)
        return 3
    except (DevServerError, FileNotFoundError) as err:
        log.error("dev server did not start", error=Vetted(str(err)))
        return 1
    log.info("dev server started", address=f"localhost:{port}", ui_port=ui_port, home=str(home))

    worker: subprocess.Popen[bytes] | None = None
    world: subprocess.Popen[bytes] | None = None
    starter: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    worker_metrics: dict[str, str] = {}
    api_metrics: dict[str, str] = {}
    code = 0
    try:
        env = child_env(home, port, base, ui_port=ui_port)
        if not env.get("FNO_WORLD_URL"):
            if is_listening("localhost", world_port):
                print(f"\nPort {world_port} is in use: pass --world-port.\n", file=sys.stderr)
                return 3
            replies_url = base.get("FNO_REPLIES_URL") or f"http://localhost:{API_PORT}"
            world, world_env = start_world(
                home,
                env,
                port=world_port,
                day_seconds=settings.policy.day_seconds,
                replies_url=replies_url,
                push_credential=(systems or {}).get(DEMO_ACRO_CLIENT),
            )
            env |= world_env
            reason = wait_for_world(env["FNO_WORLD_URL"], world, WORLD_READY_TIMEOUT)
            if reason is not None:
                log.error("world service not ready", error=Vetted(reason))
                return 1
            log.info("world service started", url=env["FNO_WORLD_URL"], pushes_to=replies_url)
        worker_metrics = metrics_env(base, WORKER_METRICS_PORT)
        worker = _start_child(["worker.py"], env | worker_metrics)

        def abort() -> str | None:
            if stop.set:
                return "interrupted"
            if worker is not None and worker.poll() is not None:
                return f"the worker exited with code {worker.returncode} during start-up"
            if server.poll() is not None:
                return f"the Temporal server exited with code {server.returncode}"
            return None

        try:
            asyncio.run(_wait_for_pollers(port, settings.task_queue, WORKER_READY_TIMEOUT, abort))
        except RuntimeError as err:
            if not stop.set:
                log.error("worker not ready", error=Vetted(str(err)))
                code = 1
            return code
        log.info("worker ready", task_queue=settings.task_queue, policy=env["FNO_POLICY"])
        if is_listening("localhost", API_PORT):
            log.warning("port in use; the HTTP API is not started", port=API_PORT)
        else:
            api_metrics = metrics_env(base, API_METRICS_PORT)
            api = _start_child(
                ["-m", "server.app"],
                env | web_env | identity_env | api_metrics | {"FNO_HTTP_PORT": str(API_PORT)},
            )

        events_path = (
            None if events is None else (events if events.is_absolute() else ROOT / events)
        )
        if events_path is not None:
            if events_path.is_file():
                starter = _start_child(["starter.py", str(events_path)], env)
            else:
                log.warning("no custody events file; starting no cases", path=str(events_path))

        announced = False
        while not stop.set:
            if starter is not None and starter.poll() is not None:
                if starter.returncode == 0:
                    log.info("starter finished", events=str(events_path))
                else:
                    log.error(
                        "starter failed; the worker keeps running", exit_code=starter.returncode
                    )
                starter = None
            if starter is None and not announced:
                world_url = env.get("FNO_WORLD_URL")
                metrics_urls = [
                    f"http://localhost:{p}/metrics ({who})"
                    for who, e, p in (
                        ("worker", worker_metrics, WORKER_METRICS_PORT),
                        ("HTTP API", api_metrics, API_METRICS_PORT),
                    )
                    if e
                ]
                banner = announce(home, port, ui_port, web_users, systems, world_url, metrics_urls)
                print(banner, flush=True)
                announced = True
            if api is not None and api.poll() is not None:
                log.error("the HTTP API exited; the worker keeps running", code=api.returncode)
                api = None
            if world is not None and world.poll() is not None:
                log.error("the world service exited; the worker retries", code=world.returncode)
                world = None
            if worker.poll() is not None:
                log.error("worker exited", exit_code=worker.returncode)
                code = 1
                break
            if server.poll() is not None:
                log.error("Temporal server exited", exit_code=server.returncode)
                code = 1
                break
            time.sleep(0.2)
        if stop.set:
            log.info("stopping", signal=signal.Signals(stop.signum or signal.SIGINT).name)
        return code
    finally:
        if starter is not None:
            stop_process(starter, "starter", sig=signal.SIGINT, timeout=10)
        if api is not None:
            stop_process(api, "HTTP API", sig=signal.SIGINT, timeout=10)
        if worker is not None:
            rc = stop_process(worker, "worker", sig=signal.SIGINT, timeout=WORKER_STOP_TIMEOUT)
            log.info("worker stopped", exit_code=rc)
        if world is not None:
            rc = stop_process(world, "world service", sig=signal.SIGINT, timeout=10)
            log.info("world service stopped", exit_code=rc)
        rc = stop_process(
            server, "Temporal server", sig=signal.SIGTERM, timeout=SERVER_STOP_TIMEOUT
        )
        log.info("Temporal server stopped", exit_code=rc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.run",
        description="Run the embedded Temporal server, the worker and the sample intake.",
    )
    parser.add_argument("--port", type=int, default=7233, help="Temporal gRPC port")
    parser.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    parser.add_argument(
        "--events",
        type=Path,
        default=DEFAULT_EVENTS,
        help=f"custody events (JSON lines) to start cases from (default {DEFAULT_EVENTS})",
    )
    parser.add_argument("--no-events", action="store_true", help="start no cases")
    parser.add_argument(
        "--world-port",
        type=int,
        default=int(os.environ.get("FNO_WORLD_PORT") or WORLD_PORT),
        help=f"the world service's port (default FNO_WORLD_PORT or {WORLD_PORT})",
    )
    args = parser.parse_args(argv)
    events = None if args.no_events else args.events
    return run(args.port, args.ui_port, events, world_port=args.world_port)


if __name__ == "__main__":
    exit_now(main())
