"""Run the product locally: ``python -m runtime.run`` (or ``make run``).

1. creates ``FNO_HOME`` (default ``.fno/``), and in it, unless configured otherwise,
   the local payload encryption key file ``codec-keys.json`` and the codec server's
   token file ``codec-tokens.json`` (one random token for you) — both git-ignored;
   and the web app's local demo users (``web-users.json``, one per role,
   random passwords kept in ``web-demo-passwords.json`` and printed) and session
   secret (``web-secret``) unless ``FNO_WEB_USERS_FILE`` / ``FNO_WEB_SECRET`` are set;
2. starts the embedded Temporal dev server on ``.fno/temporal.db`` (persistent: a
   restart keeps earlier cases), with the product's search attributes and its Web UI
   wired to the codec server (``--ui-codec-endpoint http://localhost:8000/codec``);
3. starts the worker (``python worker.py``) with ``FNO_POLICY`` defaulting to
   ``compressed:5`` (a day lasts five seconds) unless set, and waits until it polls;
4. runs the starter on ``examples/custody_events.jsonl`` (idempotent: a second run
   starts no case twice);
5. prints where to look and waits. Ctrl-C or SIGTERM stops the worker (SIGINT, a
   grace period, then kill), then the server — in that order.

The worker and starter always talk to the embedded server here: ``TEMPORAL_*``
variables and the user's Temporal config profile are replaced for them. To run
against another cluster, start ``worker.py`` and ``starter.py`` yourself (see
docs/running.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
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

from runtime.codec import CodecConfigError, CodecKeys, ensure_local_keys, local_keys_path
from runtime.config import Settings
from runtime.embedded import (
    SERVER_DB,
    SERVER_LOG,
    DevServerError,
    PortInUseError,
    is_listening,
    start_dev_server,
    stop_process,
    temporal_cli_path,
)
from runtime.logs import configure_logging, get_logger
from runtime.shutdown import exit_now
from store.cases import make_engine
from store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EVENTS = Path("examples") / "custody_events.jsonl"
DEMO_POLICY = "compressed:5"
DEMO_WORLD = ROOT / "examples" / "world.json"
API_PORT = 8000
DEMO_API_KEY = "demo-key"  # local only: a deployment configures FNO_API_KEYS
CODEC_PATH = "/codec"
LOCAL_TOKENS_FILE = "codec-tokens.json"
WEB_USERS_FILE = "web-users.json"
WEB_SECRET_FILE = "web-secret"
NAMESPACE = "default"
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


def ensure_local_tokens(path: Path) -> bool:
    """Create the local codec token file (one random token) unless it exists."""
    if path.exists():
        return False
    token = {
        secrets.token_urlsafe(24): {
            "actor": "local developer",
            "role": "caseworker",
            "reason": "local development (make run)",
        }
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(token, f, indent=2)
    return True


def prepare_codec(home: Path, base: dict[str, str]) -> None:
    """Local keys and token for a run that configures none; check the keys in force.
    Raises ``CodecConfigError`` for a missing or malformed key configuration."""
    if not (base.get("FNO_CODEC_KEYS") or base.get("FNO_CODEC_KEYS_FILE")):
        path = local_keys_path({"FNO_HOME": str(home)})
        if ensure_local_keys(path):
            log.info("created a local payload encryption key", path=_display(path))
    if not (base.get("FNO_CODEC_TOKENS") or base.get("FNO_CODEC_TOKENS_FILE")):
        if ensure_local_tokens(home / LOCAL_TOKENS_FILE):
            log.info("created a local codec token", path=_display(home / LOCAL_TOKENS_FILE))
    CodecKeys.from_env(base | {"FNO_HOME": str(home)})


def prepare_web(
    home: Path, base: dict[str, str], ui_port: int
) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
    """The web app's settings for the HTTP API: the configured users file, or local
    demo users (one per role) made on first use; the configured session secret, or a
    local one. Returns the environment to add and the demo users to print."""
    from web.users import ensure_demo_users

    env = {"FNO_TEMPORAL_UI_URL": base.get("FNO_TEMPORAL_UI_URL") or f"http://localhost:{ui_port}"}
    demo: dict[str, tuple[str, str, str]] = {}
    if base.get("FNO_WEB_USERS_FILE"):
        env["FNO_WEB_USERS_FILE"] = base["FNO_WEB_USERS_FILE"]
    else:
        path = home / WEB_USERS_FILE
        demo = ensure_demo_users(path)
        env["FNO_WEB_USERS_FILE"] = str(path)
    secret = base.get("FNO_WEB_SECRET", "")
    if not secret:
        path = home / WEB_SECRET_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32))
        secret = path.read_text(encoding="utf-8").strip()
    env["FNO_WEB_SECRET"] = secret
    return env, demo


def child_env(
    home: Path, port: int, base: dict[str, str] | None = None, *, ui_port: int = 8233
) -> dict[str, str]:
    """Environment for the worker and the starter: the embedded server, demo policy, the
    local codec keys and token (unless configured) and the Web UI's origin for CORS."""
    env = {k: v for k, v in (os.environ if base is None else base).items()}
    # Point every Temporal client at the embedded server, whatever the user's
    # environment or ~/.config/temporalio profile says (an API key or TLS setting
    # meant for Temporal Cloud would break a local connection).
    for key in [k for k in env if k.startswith("TEMPORAL_")]:
        del env[key]
    profile = home / "temporal-client.toml"
    profile.write_text(
        f'[profile.default]\naddress = "localhost:{port}"\nnamespace = "{NAMESPACE}"\n'
    )
    env["TEMPORAL_CONFIG_FILE"] = str(profile)
    env["TEMPORAL_ADDRESS"] = f"localhost:{port}"
    env["TEMPORAL_NAMESPACE"] = NAMESPACE
    env.setdefault("FNO_POLICY", DEMO_POLICY)
    env.setdefault("FNO_WORLD_FILE", str(DEMO_WORLD))
    env.setdefault("FNO_API_KEYS", json.dumps({DEMO_API_KEY: "demo custody system"}))
    env["FNO_HOME"] = str(home)
    if not (env.get("FNO_CODEC_KEYS") or env.get("FNO_CODEC_KEYS_FILE")):
        env["FNO_CODEC_KEYS_FILE"] = str(local_keys_path({"FNO_HOME": str(home)}))
    if not (env.get("FNO_CODEC_TOKENS") or env.get("FNO_CODEC_TOKENS_FILE")):
        env["FNO_CODEC_TOKENS_FILE"] = str(home / LOCAL_TOKENS_FILE)
    env.setdefault(
        "FNO_CODEC_CORS_ORIGINS", f"http://localhost:{ui_port},http://127.0.0.1:{ui_port}"
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


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


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _banner(
    home: Path, port: int, ui_port: int, web_users: dict[str, tuple[str, str, str]] | None = None
) -> str:
    cli = _display(temporal_cli_path())
    address = "" if port == 7233 else f" --address localhost:{port}"
    users = [
        f"                 {username} / {password}  ({name}, {role})"
        for username, (name, role, password) in (web_users or {}).items()
    ]
    return "\n".join(
        [
            "",
            "FNO casework is running on the embedded Temporal server.",
            f"  Web UI:        http://localhost:{ui_port}/namespaces/{NAMESPACE}/workflows",
            f"  List cases:    {cli} workflow list{address}",
            f"  Running only:  {cli} workflow list{address} --query \"ExecutionStatus='Running'\"",
            f"  Web app:       http://localhost:{API_PORT}/web/ (caseworkers, supervisors)"
            + (" — demo users (username / password):" if users else ""),
            *users,
            f"  HTTP API:      http://localhost:{API_PORT}/docs (X-API-Key: {DEMO_API_KEY})",
            "  Payloads:      encrypted; the Web UI shows ciphertext until you decode: in its "
            "Codec Server settings choose your browser's setting with endpoint",
            f"                 http://localhost:{API_PORT}{CODEC_PATH}/<token> (your token is in "
            f"{_display(home / LOCAL_TOKENS_FILE)}; docs/running.md)",
            "  A case:        .venv/bin/fno show encounter-hampshire-HC-2017-120401 --as You "
            "--role caseworker --reason demo",
            "  Worker logs:   this terminal",
            f"  Server log:    {_display(home / SERVER_LOG)}",
            f"  State:         {_display(home / SERVER_DB)} (kept across restarts; "
            "`make clean` removes it)",
            "Press Ctrl-C to stop (the worker first, then the server).",
            "",
        ]
    )


def _start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: the terminal's Ctrl-C reaches only this process, which stops
    # the children in order.
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )


def run(port: int, ui_port: int, events: Path | None) -> int:
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    stop = _StopFlag()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    base = dict(os.environ)
    base.setdefault("FNO_POLICY", DEMO_POLICY)
    try:
        settings = Settings.from_env(base)
    except ValueError as err:
        log.error("bad settings", error=str(err))
        return 2
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(make_engine(settings.database_url))
    except Exception as err:
        log.error("case store migration failed", error=str(err))
        return 1
    try:
        prepare_codec(home, base)
    except CodecConfigError as err:
        log.error("payload encryption keys", error=str(err))
        return 2
    try:
        web_env, web_users = prepare_web(home, base, ui_port)
    except (OSError, ValueError) as err:
        log.error("web app users", error=str(err))
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
        log.error("dev server did not start", error=str(err))
        return 1
    log.info("dev server started", address=f"localhost:{port}", ui_port=ui_port, home=str(home))

    worker: subprocess.Popen[bytes] | None = None
    starter: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    code = 0
    try:
        env = child_env(home, port, base, ui_port=ui_port)
        worker = _start_child(["worker.py"], env)

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
                log.error("worker not ready", error=str(err))
                code = 1
            return code
        log.info("worker ready", task_queue=settings.task_queue, policy=env["FNO_POLICY"])
        if is_listening("localhost", API_PORT):
            log.warning("port in use; the HTTP API is not started", port=API_PORT)
        else:
            api = _start_child(["-m", "api.app"], env | web_env | {"FNO_HTTP_PORT": str(API_PORT)})

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
                print(_banner(home, port, ui_port, web_users), flush=True)
                announced = True
            if api is not None and api.poll() is not None:
                log.error("the HTTP API exited; the worker keeps running", code=api.returncode)
                api = None
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
        rc = stop_process(
            server, "Temporal server", sig=signal.SIGTERM, timeout=SERVER_STOP_TIMEOUT
        )
        log.info("Temporal server stopped", exit_code=rc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.run",
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
    args = parser.parse_args(argv)
    return run(args.port, args.ui_port, None if args.no_events else args.events)


if __name__ == "__main__":
    exit_now(main())
