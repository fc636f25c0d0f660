"""The HTTP process against hostile input (``server.hardening``, ``models.json_input``,
the apps' error handlers): bodies bounded while they stream, JSON nested too deep or
numbers too large refused with a 4xx at every door, validation errors that never echo
what was sent, security headers and ``no-store`` on every answer, the API's docs from
bundled assets, 5xx answers without internal text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from store.cases import CaseStore
from tests.support import process_identity
from tests.support_web import free_port

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


# --- a 50 MB body, refused early, the process's memory flat --------------------------


class RssSampler:
    """The resident set of process ``pid`` sampled every few milliseconds from a thread
    while the block runs; ``peak_mb`` the largest seen. (Not ``VmHWM``: the process's
    peak since start includes an Argon2 hash at import, 64 MiB for a moment.)"""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.process.memory_info().rss / MB
            self.peak_mb = max(self.peak_mb, rss)
            self.samples += 1
            time.sleep(0.003)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


class _Answer(asyncio.Protocol):
    """One raw HTTP exchange: what arrived, kept even when the server then resets the
    connection (it does, refusing a body it has not read: the answer came first)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def answer(self) -> tuple[int, dict[str, str], bytes] | None:
        head, sep, body = bytes(self.data).partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode().split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        if len(body) < int(headers.get("content-length", "0")):
            return None
        return int(lines[0].split()[1]), headers, body


async def _send_huge(
    port: int, path: str, size: int, *, chunked: bool, kind: str = "application/json"
) -> tuple[int, bytes, int]:
    """POST ``size`` bytes to ``path`` over a raw connection, announced
    (``Content-Length``: only the head is sent, the server must answer before any of
    the body) or chunked (written until the server answers); the status, the answer's
    body and how many bytes of the body were written before the answer came."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(_Answer, "127.0.0.1", port)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {kind}"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    part = b"x" * (256 * 1024)
    deadline = loop.time() + 60
    try:
        while (got := proto.answer()) is None:
            assert loop.time() < deadline, "no answer"
            if proto.closed.done():
                raise AssertionError(f"closed without an answer: {bytes(proto.data[:200])!r}")
            if chunked and sent < size and transport.get_write_buffer_size() < 1024 * 1024:
                transport.write(b"%x\r\n%s\r\n" % (len(part), part))
                sent += len(part)
            else:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0)
    finally:
        transport.abort()
    status, _, body = got
    return status, body, sent


async def test_a_50mb_body_is_refused_early_and_the_api_stays_under_150mb(ts_env, tmp_path):
    port = free_port()
    identity, _ = process_identity(tmp_path)
    database = f"sqlite:///{tmp_path / 'casework.db'}"
    CaseStore.migrated(database)
    env = (
        os.environ
        | identity
        | {
            "FNO_HOME": str(tmp_path),
            "FNO_DATABASE_URL": database,
            "FNO_HTTP_PORT": str(port),
            "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
            "FNO_LOG_FORMAT": "json",
        }
    )
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.app"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/ready")).status_code == 200:
                        break
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
        before = psutil.Process(proc.pid).memory_info().rss / MB
        size = 50 * MB
        started = time.monotonic()
        sampler = RssSampler(proc.pid).__enter__()
        # Eight at once, unauthenticated, as the attacker did (six to the
        # decisions route): announced and chunked; JSON (read whole, bounded, by the
        # JSON guard) and a form (counted as it streams). The codec's limit is 8 MiB (a
        # page of history): announced, refused unread.
        sends = [
            ("/cases/x/decisions", "application/json", chunked)
            for chunked in (False, True, False, True, False, True)
        ] + [
            ("/custody-events", "application/json", True),
            ("/auth/token", "application/x-www-form-urlencoded", True),
            ("/codec/decode", "application/json", False),
        ]
        answers = await asyncio.gather(
            *[_send_huge(port, p, size, chunked=c, kind=k) for p, k, c in sends]
        )
        took = time.monotonic() - started
        sampler.__exit__()
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    for status, body, written in answers:
        assert status == 413, body
        answer = json.loads(body)
        assert answer["why"] == "body_too_large" and answer["limit"] <= 8 * MB
        assert len(body) < 1000 and b"xxxx" not in body
        # Refused early: long before the 50 MB were all written.
        assert written < 20 * MB, written  # handed to the socket; the server read 64 KiB
    assert took < 30, took
    assert sampler.samples > 10
    peak = sampler.peak_mb
    assert peak < 150, f"peak RSS {peak:.0f} MB (before: {before:.0f} MB)"
    assert peak - before < 20, f"peak RSS {peak:.0f} MB (before: {before:.0f} MB)"
