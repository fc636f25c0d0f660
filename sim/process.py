"""The world service (``python -m sim.service``) as a child process: for the tests
(``tests/support_world.py``), the chaos test and the bench::

    world = start_world_service(world_file, db_url, day_seconds=0.5,
                                replies_url=api_url, credential="secret",
                                push_credential="demo-acro.…")
    world.set_faults(slow_seconds=1)   # error_rate=…, drop_replies=…, drop_rate=…
    world.set_faults()                 # all off again (each call sets all four)
    world.kill(); world.start()        # SIGKILL, then the same service again
    world.restart(down_for=2)          # the same, down for two seconds
    world.pushes()                     # GET /_world/pushes: states, sends, replies
    world.count("reply_pushed")        # GET /_world/count: an effect's count
    world.worker_env()                 # FNO_WORLD_URL / FNO_WORLD_CREDENTIAL for a worker
    world.stop()                       # SIGINT, then SIGKILL after 10 s

``db_url`` may be the product's own database (tests count effects from its ``sim_*``
tables as before) or the world's own. The service's log is ``log_path`` (a temporary
file unless given). ``env`` adds to its environment (``FNO_WORLD_PUSH_INTERVAL``,
``FNO_WORLD_PUSH_BACKOFF``, ``FNO_WORLD_PUSH_BACKOFF_MAX``, ``FNO_SUBJECT_KEY_SECRET``).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sim.world_file import WorldFile

ROOT = Path(__file__).resolve().parent.parent
W = TypeVar("W", bound="WorldService")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class WorldTls:
    """HTTPS for the service: its certificate and key, the CA of callers' certificates
    (mutual TLS; None: none asked), and what this helper's own calls present."""

    cert: Path
    key: Path
    ca: Path  # verifies the service's certificate
    client_ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass
class WorldService:
    """A running ``python -m sim.service``; ``restart`` starts it again on the same
    port, database and world file."""

    world_file: Path | None
    db_url: str
    day_seconds: float
    port: int
    replies_url: str | None = None
    credential: str | None = None
    push_credential: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    tls: WorldTls | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _http(self) -> dict[str, Any]:
        """httpx's TLS arguments for this helper's own calls."""
        t = self.tls
        if t is None:
            return {}
        context = ssl.create_default_context(cafile=str(t.ca))
        if t.client_cert and t.client_key:
            context.load_cert_chain(str(t.client_cert), str(t.client_key))
        return {"verify": context}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"} if self.credential else {}

    def start(self, within: float = 30.0) -> None:
        args = [
            sys.executable,
            "-m",
            "sim.service",
            "--db",
            self.db_url,
            "--port",
            str(self.port),
            "--day-seconds",
            str(self.day_seconds),
        ]
        if self.world_file is not None:
            args += ["--world", str(self.world_file)]
        if self.replies_url:
            args += ["--replies-url", self.replies_url]
        if self.tls is not None:
            args += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
            if self.tls.client_ca is not None:
                args += ["--tls-client-ca", str(self.tls.client_ca)]
        env = dict(os.environ) | self.env | {"FNO_LOG_FORMAT": "json"}
        env.pop("FNO_REPLIES_URL", None)
        env["FNO_WORLD_CREDENTIAL"] = self.credential or ""
        env["FNO_REPLIES_CREDENTIAL"] = self.push_credential or ""
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="world-service-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        try:
            self._wait_ready(within)
        except BaseException:
            self.kill()  # nothing left running when it did not come up
            raise

    def _wait_ready(self, within: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + within
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the world service exited with {self.proc.returncode}: {self.log_path}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, **self._http()).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the world service did not start within {within:g}s")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown at all (what is not in its database is lost)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def restart(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def set_faults(
        self,
        *,
        slow_seconds: float = 0.0,
        error_rate: float = 0.0,
        drop_replies: bool = False,
        drop_rate: float = 0.0,
    ) -> dict[str, Any]:
        """The run-time faults (all off by default: ``set_faults()`` clears them)."""
        body = {
            "slow_seconds": slow_seconds,
            "error_rate": error_rate,
            "drop_replies": drop_replies,
            "drop_rate": drop_rate,
        }
        r = httpx.post(
            f"{self.url}/_world/faults",
            json=body,
            headers=self._headers(),
            timeout=10,
            **self._http(),
        )
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def pushes(self) -> dict[str, Any]:
        """``{"states": {state: n}, "sends": n, "pushed": n, "replies": [...]}``."""
        r = httpx.get(
            f"{self.url}/_world/pushes", headers=self._headers(), timeout=10, **self._http()
        )
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def count(self, action: str) -> int:
        r = httpx.get(
            f"{self.url}/_world/count",
            params={"action": action},
            headers=self._headers(),
            **self._http(),
        )
        r.raise_for_status()
        return int(r.json()["count"])

    def worker_env(self) -> dict[str, str]:
        """What a worker needs to use this service (``processes.activities``)."""
        env = {"FNO_WORLD_URL": self.url}
        if self.credential:
            env["FNO_WORLD_CREDENTIAL"] = self.credential
        return env


def start_world_service(
    world_file: Path | WorldFile | None,
    db_url: str,
    day_seconds: float,
    replies_url: str | None = None,
    credential: str | None = None,
    *,
    push_credential: str | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    tls: WorldTls | None = None,
    cls: type[W] = WorldService,  # type: ignore[assignment]
) -> W:
    """Start ``python -m sim.service`` on a free port and wait until it answers.
    ``world_file``: a path, or a ``WorldFile`` written to a temporary file. ``env``
    adds to the environment (e.g. ``FNO_WORLD_PUSH_BACKOFF``)."""
    if isinstance(world_file, WorldFile):
        fd, name = tempfile.mkstemp(prefix="world-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(world_file.model_dump_json())
        world_file = Path(name)
    service = cls(
        world_file=world_file,
        db_url=db_url,
        day_seconds=day_seconds,
        port=port or free_port(),
        replies_url=replies_url,
        credential=credential,
        push_credential=push_credential,
        env=dict(env or {}),
        log_path=log_path,
        tls=tls,
    )
    service.start()
    return service
