"""Secrets required outside local mode, and private files (issue 19).

Outside local mode (``FNO_LOCAL_MODE`` unset: production) each process — the worker,
the HTTP server, the starter, ``fno``'s direct command — refuses to start, with exit
status 2 and a message naming what to set and how to make one, without the subject key
secret, explicit codec keys (never a key file found lying in FNO_HOME) and, with the web
app on, the session secret; a too-short secret, or the public local subject key, is
refused too. Given every secret, the same processes start; in local mode they start
with the local ones. After a local run's preparation, a case store and the embedded
server, FNO_HOME is 0700 and every file the product wrote in it 0600, whatever the
umask the process was started with.

The processes are real (``python worker.py``, ``python -m server.app``, …) with a
minimal environment of their own: nothing of the tests' local mode leaks into them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from access.intake import start_case
from identity import issuer
from local.prepare import prepare_codec
from models.policy import Policy
from runtime.codec import CodecConfigError, CodecKeys, write_keys_file
from runtime.config import (
    LOCAL_SUBJECT_KEY_SECRET,
    SecretConfigError,
    Settings,
    local_subject_key_secret,
    subject_key_secret,
)
from runtime.embedded import stop_process
from runtime.front_door import front_door_keys
from sim.world import Simulator
from store.cases import CaseStore
from store.engine import make_engine
from tests.support import codec_env, custody_event, process_identity
from tests.support_front_door import front_door_env
from web.config import WebConfigError, web_config_from_env

ROOT = Path(__file__).resolve().parent.parent
SUBJECT_SECRET = secrets.token_urlsafe(32)
# How each message says to make a secret (the wording around it is not asserted).
MAKE_A_SECRET = "secrets.token_urlsafe"
MAKE_CODEC_KEYS = "python -m runtime.codec rotate --file"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_env(home: Path) -> dict[str, str]:
    """A process's environment with nothing of the product's: no local mode, no secret,
    no key; Temporal at a closed port (a process that passed its checks would fail to
    connect, never reach a developer's server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FNO_", "TEMPORAL_"))}
    return env | {
        "FNO_HOME": str(home),
        "FNO_LOG_FORMAT": "json",
        "FNO_STUCK_SCAN_MINUTES": "0",
        "FNO_RECONCILE_SCHEDULE": "off",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "TEMPORAL_NAMESPACE": "default",
    }


def production_env(home: Path, *, web: bool = False) -> dict[str, str]:
    """Every secret a deployment gives (``web``: the HTTP server's identity and web app
    too, the local issuer's key made beforehand), outside local mode."""
    home.mkdir(parents=True, exist_ok=True)
    env = bare_env(home) | {"FNO_SUBJECT_KEY_SECRET": SUBJECT_SECRET}
    env |= codec_env() | front_door_env()
    if web:
        identity, _ = process_identity(home)
        issuer.ensure_key(home)  # outside local mode the issuer makes up no key
        env |= identity | {"FNO_HTTP_PORT": str(free_port())}
    return env


def with_local_key_files(env: dict[str, str]) -> dict[str, str]:
    """``env`` without its codec keys, but with a key file lying in FNO_HOME (as an
    earlier ``make run`` leaves one)."""
    write_keys_file(Path(env["FNO_HOME"]) / "codec-keys.json", CodecKeys.generate())
    return {k: v for k, v in env.items() if k not in ("FNO_CODEC_KEYS", "FNO_CODEC_KEYS_FILE")}


def without_issuer_key(env: dict[str, str]) -> dict[str, str]:
    """``env`` as it is, but no local issuer's signing key in FNO_HOME."""
    (Path(env["FNO_HOME"]) / issuer.KEY_FILE).unlink()
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def without(env: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in names}


WORKER = ["worker.py"]
SERVER = ["-m", "server.app"]
STARTER = ["starter.py", "examples/custody_events.jsonl"]
RECONCILE = ["-c", "from cli.fno import main; main()", "notifications", "reconcile"]

# (process, how its environment falls short of a deployment's, what the refusal names)
REFUSALS: dict[str, tuple[list[str], bool, Any, tuple[str, ...]]] = {
    "worker-no-subject-key": (
        WORKER,
        False,
        lambda env: without(env, "FNO_SUBJECT_KEY_SECRET"),
        ("FNO_SUBJECT_KEY_SECRET", MAKE_A_SECRET),
    ),
    "worker-short-subject-key": (
        WORKER,
        False,
        lambda env: env | {"FNO_SUBJECT_KEY_SECRET": "x" * 31},
        ("FNO_SUBJECT_KEY_SECRET", "31 characters", MAKE_A_SECRET),
    ),
    "worker-codec-key-file-found-in-home": (
        WORKER,
        False,
        with_local_key_files,
        ("FNO_CODEC_KEYS_FILE", MAKE_CODEC_KEYS),
    ),
    "server-no-subject-key": (
        SERVER,
        True,
        lambda env: without(env, "FNO_SUBJECT_KEY_SECRET"),
        ("FNO_SUBJECT_KEY_SECRET", MAKE_A_SECRET),
    ),
    "server-codec-key-file-found-in-home": (
        SERVER,
        True,
        with_local_key_files,
        ("FNO_CODEC_KEYS_FILE", MAKE_CODEC_KEYS),
    ),
    "server-no-web-secret": (
        SERVER,
        True,
        lambda env: without(env, "FNO_WEB_SECRET"),
        ("FNO_WEB_SECRET", MAKE_A_SECRET),
    ),
    "server-short-web-secret": (
        SERVER,
        True,
        lambda env: env | {"FNO_WEB_SECRET": "w" * 20},
        ("FNO_WEB_SECRET", "too short", MAKE_A_SECRET),
    ),
    "server-local-issuer-makes-up-no-key": (
        SERVER,
        True,
        lambda env: without_issuer_key(env),
        ("FNO_LOCAL_ISSUER", "python -m identity.issuer rotate"),
    ),
    "server-no-front-door-key": (
        SERVER,
        True,
        lambda env: without(env, "FNO_FRONT_DOOR_KEY"),
        ("FNO_FRONT_DOOR_KEY", "python -m runtime.front_door new-key"),
    ),
    "starter-no-subject-key": (
        STARTER,
        False,
        lambda env: without(env, "FNO_SUBJECT_KEY_SECRET"),
        ("FNO_SUBJECT_KEY_SECRET", MAKE_A_SECRET),
    ),
    "fno-direct-codec-key-file-found-in-home": (
        RECONCILE,
        False,
        with_local_key_files,
        ("FNO_CODEC_KEYS_FILE", MAKE_CODEC_KEYS),
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_process_refuses_to_start_without_each_secret_outside_local_mode(tmp_path, case):
    command, web, change, names = REFUSALS[case]
    env = change(production_env(tmp_path / "home", web=web))
    home = Path(env["FNO_HOME"])
    before = sorted(home.rglob("*"))
    done = run(command, env)
    said = " ".join((done.stdout + done.stderr).split())  # wrapped lines joined again
    assert done.returncode == 2, said
    for name in names:
        assert name in said, (name, said)
    # It said so before making anything up: no key, no database, nothing new in FNO_HOME.
    assert sorted(home.rglob("*")) == before


# --- the same processes start: with every secret, and in local mode -------------------


async def started(
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]], api_port: int, within: float = 120
) -> None:
    """Until the worker says it polls and the HTTP server answers ``/health``."""
    deadline = time.monotonic() + within
    worker_up = server_up = False
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=5) as http:
        while not (worker_up and server_up):
            for name, (proc, log) in procs.items():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"the {name} exited with {proc.returncode}: {log.read_text()[-3000:]}"
                    )
            worker_up = worker_up or '"worker started"' in procs["worker"][1].read_text()
            if not server_up:
                with contextlib.suppress(httpx.TransportError):
                    server_up = (await http.get("/health")).status_code == 200
            if time.monotonic() > deadline:
                raise AssertionError(f"not started within {within:g}s: worker {worker_up}")
            await asyncio.sleep(0.3)


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def start_worker_and_server(
    dev_env: Any, tmp_path: Path, env: dict[str, str], api_port: int
) -> httpx.Headers:
    """Start both, wait for them, and return the headers of the API's ``/health``."""
    env = env | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "FNO_TASK_QUEUE": f"secrets-{secrets.token_hex(4)}",
        "FNO_HTTP_PORT": str(api_port),
    }
    CaseStore.migrated(f"sqlite:///{Path(env['FNO_HOME']) / 'casework.db'}")  # make migrate
    procs = {
        "worker": (spawn(WORKER, env, tmp_path / "worker.log"), tmp_path / "worker.log"),
        "server": (spawn(SERVER, env, tmp_path / "server.log"), tmp_path / "server.log"),
    }
    try:
        await started(procs, api_port)
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{api_port}/health")).headers
    finally:
        for name, (proc, _) in procs.items():
            stop_process(proc, name, sig=signal.SIGINT, timeout=20)


@pytest.mark.devserver
async def test_with_every_secret_the_worker_and_the_server_start(dev_env, tmp_path):
    env = production_env(tmp_path / "home", web=True)
    assert "FNO_LOCAL_MODE" not in env
    headers = await start_worker_and_server(dev_env, tmp_path, env, int(env["FNO_HTTP_PORT"]))
    # Outside local mode HSTS is on by default (``server.app``: nothing configures it).
    assert headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.devserver
async def test_in_local_mode_they_start_with_the_local_secrets(dev_env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    prepare_codec(home, {})  # make run's local codec and front-door keys, in FNO_HOME
    identity, _ = process_identity(home)  # the web secret make run gives (local.prepare)
    env = bare_env(home) | identity | {"FNO_LOCAL_MODE": "1"}
    assert not [k for k in env if k.startswith(("FNO_CODEC", "FNO_FRONT_DOOR", "FNO_SUBJECT"))]
    headers = await start_worker_and_server(dev_env, tmp_path, env, free_port())
    assert "strict-transport-security" not in headers  # plain HTTP on localhost
    assert (home / issuer.KEY_FILE).exists()  # the local issuer made its own, locally


# --- the rules, one by one ---------------------------------------------------------------


def test_the_subject_key_secret_outside_and_inside_local_mode():
    assert subject_key_secret({"FNO_SUBJECT_KEY_SECRET": SUBJECT_SECRET}) == SUBJECT_SECRET
    for env, says in (
        ({}, "FNO_SUBJECT_KEY_SECRET is not set"),
        ({"FNO_SUBJECT_KEY_SECRET": "  "}, "FNO_SUBJECT_KEY_SECRET is not set"),
        ({"FNO_SUBJECT_KEY_SECRET": "k" * 31}, "31 characters"),
        ({"FNO_SUBJECT_KEY_SECRET": LOCAL_SUBJECT_KEY_SECRET}, "public local"),
    ):
        with pytest.raises(SecretConfigError, match=says):
            subject_key_secret(env)
        with pytest.raises(SecretConfigError):
            Settings.from_env(env)
    local = {"FNO_LOCAL_MODE": "1"}
    assert subject_key_secret(local) == LOCAL_SUBJECT_KEY_SECRET
    assert subject_key_secret(local | {"FNO_SUBJECT_KEY_SECRET": SUBJECT_SECRET}) == SUBJECT_SECRET
    with pytest.raises(SecretConfigError, match="31 characters"):  # too short anywhere
        subject_key_secret(local | {"FNO_SUBJECT_KEY_SECRET": "k" * 31})
    with pytest.raises(SecretConfigError):  # only "1" is local mode
        subject_key_secret({"FNO_LOCAL_MODE": "true"})


async def test_no_public_default_outside_local_mode(monkeypatch, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sim.db'}")
    assert local_subject_key_secret() == LOCAL_SUBJECT_KEY_SECRET  # the tests: local mode
    Simulator(engine)  # the tests' default, in local mode
    monkeypatch.delenv("FNO_LOCAL_MODE")
    with pytest.raises(SecretConfigError):
        local_subject_key_secret()
    with pytest.raises(SecretConfigError):
        Simulator(engine)
    with pytest.raises(SecretConfigError):  # before any call to Temporal
        await start_case(None, custody_event(), task_queue="tq", policy=Policy())  # type: ignore[arg-type]


def test_keys_lying_in_fno_home_are_used_in_local_mode_only(tmp_path):
    keys = CodecKeys.generate()
    write_keys_file(tmp_path / "codec-keys.json", keys)
    write_keys_file(tmp_path / "front-door-key", keys)
    home = {"FNO_HOME": str(tmp_path)}
    with pytest.raises(CodecConfigError, match="FNO_CODEC_KEYS_FILE"):
        CodecKeys.from_env(home)
    assert front_door_keys(home) is None  # the worker then refuses: require_front_door_keys
    local = home | {"FNO_LOCAL_MODE": "1"}
    assert CodecKeys.from_env(local) == keys
    assert front_door_keys(local) == keys
    # Named explicitly, the same file is a deployment's choice.
    explicit = {"FNO_CODEC_KEYS_FILE": str(tmp_path / "codec-keys.json")}
    assert CodecKeys.from_env(explicit) == keys


def test_the_web_session_secret_is_required_and_long_enough(tmp_path):
    users = tmp_path / "users.json"
    users.write_text('{"users": {}}')
    base = {"FNO_WEB_USERS_FILE": str(users)}
    with pytest.raises(WebConfigError, match="FNO_WEB_SECRET is not"):
        web_config_from_env(base)
    with pytest.raises(WebConfigError, match="too short"):
        web_config_from_env(base | {"FNO_WEB_SECRET": "s" * 31})
    assert web_config_from_env(base | {"FNO_WEB_SECRET": "s" * 32}) is not None
    assert web_config_from_env({}) is None  # the web app off: no secret wanted


# --- FNO_HOME 0700, every file 0600 ------------------------------------------------------

PREPARE_AND_LIST = """
import json, os, sys
from pathlib import Path
from local.prepare import child_env, prepare_codec, prepare_identity, prepare_web
from runtime.config import Settings
from runtime.embedded import start_dev_server, stop_process
from store.cases import CaseStore

home = Path(os.environ["FNO_HOME"])
port, ui_port = int(sys.argv[1]), int(sys.argv[2])
settings = Settings.from_env()          # what every process does first
prepare_codec(home, {})                 # make run's preparation (local.prepare)
prepare_web(home, {}, ui_port)
prepare_identity(home, {}, 18000)
child_env(home, port, {}, ui_port=ui_port)
store = CaseStore.migrated(settings.database_url)
with store.engine.connect() as conn:    # open: its -wal and -shm exist now
    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
    server = start_dev_server(home, port, ui_port)
    try:
        modes = {
            str(p.relative_to(home)): [p.is_dir(), p.stat().st_mode & 0o777]
            for p in [home, *home.rglob("*")]
        }
    finally:
        stop_process(server, "temporal dev server", timeout=20)
print(json.dumps(modes))
"""


def test_fno_home_is_0700_and_every_file_0600_whatever_the_umask(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    # Left by an earlier run with a looser umask: tightened, not kept.
    for name in ("casework.db", "temporal-server.log"):
        (home / name).touch()
        os.chmod(home / name, 0o644)
    env = bare_env(home) | {"FNO_LOCAL_MODE": "1", "FNO_POLICY": "compressed:5"}
    done = subprocess.run(
        [sys.executable, "-c", PREPARE_AND_LIST, str(free_port()), str(free_port())],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        umask=0o022,  # a usual login umask: files 0644, folders 0755
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modes: dict[str, list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {
        "casework.db",
        "casework.db-wal",
        "casework.db-shm",
        "codec-keys.json",
        "front-door-key",
        "web-secret",
        "web-users.json",
        issuer.KEY_FILE,
        "api-clients.json",
        "api-demo-clients.json",
        "temporal-client.toml",
        "temporal.db",
        "temporal-server.log",
    }
    assert expected <= set(modes), sorted(expected - set(modes))
    loose = {
        name: oct(mode)
        for name, (is_dir, mode) in modes.items()
        if mode != (0o700 if is_dir else 0o600)
    }
    assert loose == {}
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
