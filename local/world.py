"""The world service in a local run (``make run``, ``local.run``): the simulated ACRO,
countries, PNC, CID, NBTC, ICE, police and correspondence as their own process
(``python -m sim.service``), started before the worker and stopped after it.

- its database is ``$FNO_HOME/world.db`` (the world's ``sim_*`` tables, not the
  product's), on port ``FNO_WORLD_PORT`` (default 8100);
- its bearer credential is made once into ``$FNO_HOME/world-credential`` (0600) and
  given to the worker (``FNO_WORLD_CREDENTIAL``) with ``FNO_WORLD_URL``;
- it pushes each country's reply to the HTTP API (``FNO_REPLIES_URL``, default
  ``http://localhost:8000``) as the demo ACRO system client (scope ``acro-replies``);
  until the API answers it retries; without that credential it pushes nothing.

A run that sets ``FNO_WORLD_URL`` itself (a real endpoint) starts no world service.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from local.prepare import DEMO_WORLD, ROOT
from runtime.private import PRIVATE_FILE_MODE

WORLD_PORT = 8100
WORLD_DB = "world.db"
WORLD_CREDENTIAL_FILE = "world-credential"
WORLD_READY_TIMEOUT = 60.0


def world_credential(home: Path) -> str:
    """The local world service's bearer credential (made on first use, 0600)."""
    path = home / WORLD_CREDENTIAL_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def start_world(
    home: Path,
    env: dict[str, str],
    *,
    port: int,
    day_seconds: float,
    replies_url: str,
    push_credential: str | None,
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start the world service (own session: Ctrl-C reaches ``local.run`` only, which
    stops it). Returns the process and the environment the worker needs to use it."""
    credential = world_credential(home)
    args = [
        "-m",
        "sim.service",
        "--world",
        env.get("FNO_WORLD_FILE") or str(DEMO_WORLD),
        "--db",
        f"sqlite:///{home / WORLD_DB}",
        "--port",
        str(port),
        "--day-seconds",
        repr(day_seconds),
        "--replies-url",
        replies_url,
    ]
    if env.get("FNO_SIM_SEED"):
        args += ["--seed", env["FNO_SIM_SEED"]]
    child = env | {
        "FNO_WORLD_CREDENTIAL": credential,
        "FNO_REPLIES_CREDENTIAL": push_credential or "",
    }
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=child,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    return proc, {"FNO_WORLD_URL": url, "FNO_WORLD_CREDENTIAL": credential}


def wait_for_world(url: str, proc: subprocess.Popen[bytes], within: float) -> str | None:
    """None once the service answers ``/healthz``; else why not."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per look
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the world service exited with code {proc.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return f"the world service did not answer within {within:g}s"
