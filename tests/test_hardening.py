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
import re
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
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError
from temporalio.testing import WorkflowEnvironment

from access.intake import EventInvalid, Intake, parse_events, read_event
from api.codec_server import create_codec_app
from models.daily_file import DailyFileError, parse_daily_file
from models.json_input import JsonInputError, parse_json
from models.policy import Policy
from runtime.codec import EncryptionCodec
from runtime.embedded import test_server_path
from server.app import create_app, docs_on
from server.hardening import loggable
from store.cases import CaseStore
from tests.support import (
    CODEC_KEYS,
    CONVERTER,
    api_identity,
    bearer,
    process_identity,
    system_key,
)
from tests.support_web import free_port, live_server, sign_in, web_config
from web.app import create_web_app

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


# --- a 50 MB body, refused early, the process's memory flat --------------------------


def _vm(pid: int, field: str) -> float | None:
    """A ``/proc/<pid>/status`` memory field, in MB (None: not Linux)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


class PeakRss:
    """The peak resident set of process ``pid`` while the block runs: Linux's own
    high-water mark (``VmHWM``), reset at the start (``clear_refs``; the mark since
    start-up includes an Argon2 hash at import, 64 MiB for a moment), and samples
    taken every few milliseconds from a thread besides."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process = psutil.Process(pid)
        self.peak_mb = 0.0
        self.reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.process.memory_info().rss / MB)
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.reset = True
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.reset:
            self.peak_mb = max(self.peak_mb, _vm(self.pid, "VmHWM") or 0.0)


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


async def test_a_50mb_body_is_refused_early_and_the_api_memory_stays_flat(
    ts_env, tmp_path, ci_figures
):
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
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, then polled)
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
        sampler = PeakRss(proc.pid).__enter__()
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
            ("/cases/x/decisions", "application/x-ndjson", True),  # counted as it streams
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
    peak = sampler.peak_mb
    with ci_figures():  # the figures go to CI's log, passed or failed
        print(
            f"\napi memory under 50 MB bodies: idle_rss_mb={before:.0f} "
            f"peak_rss_mb={peak:.0f} growth_mb={peak - before:.0f} seconds={took:.1f}"
        )
    for status, body, written in answers:
        assert status == 413, body
        answer = json.loads(body)
        assert answer["why"] == "body_too_large" and answer["limit"] <= 8 * MB
        assert len(body) < 1000 and b"xxxx" not in body
        # Refused early: long before the 50 MB were all written.
        assert written < 20 * MB, written  # handed to the socket; the server read 64 KiB
    assert took < 30, took
    assert sampler.reset or sys.platform != "linux"  # Linux: the kernel's own peak
    # The body costs the process next to nothing (it was 825 MB when bodies were read
    # whole), hence the tight bound on the growth. The idle process measured ~150 MB
    # with holidays, Alembic and Authlib imported, ~127 MB without (the test below):
    # the ceiling of 150 MB, with room.
    assert peak - before < 20, f"peak RSS {peak:.0f} MB (before: {before:.0f} MB)"
    assert peak < 150, f"peak RSS {peak:.0f} MB (before: {before:.0f} MB)"


def test_the_processes_import_neither_holidays_alembic_nor_authlib():
    # What the HTTP process (server.app) and the worker load at import, ~20 MB less each
    # than with these: bank holidays from a committed table (models.bank_holidays), the
    # schema's revision read without Alembic (store.migrate), Authlib only where a
    # provider signs people in (web.oidc). (Pygments stays: structlog.dev imports
    # rich.traceback.)
    heavy = ("holidays", "alembic", "mako", "authlib", "joserfc")
    code = (
        "import sys, server.app, worker\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


# --- the whole HTTP process in-process: API, /web, /codec -----------------------------


@contextlib.asynccontextmanager
async def whole_app(client: Any, tmp_path: Path, **kw: Any) -> Any:
    """``server.app.create_app`` as the HTTP process builds it (API with intake, the web
    app, the codec server) on ``client``, its lifespan run, behind an httpx client."""
    store = CaseStore.migrated(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")

    async def connect() -> Any:
        if client is None:
            raise ConnectionError("no Temporal here")
        return client

    identity = api_identity()
    codec = create_codec_app(
        EncryptionCodec(CODEC_KEYS), store, namespace="default", verifier=identity.people
    )
    app = create_app(
        connect,
        store,
        identity=identity,
        intake=Intake(task_queue="tq-hardening", policy=Policy(), subject_key_secret="s" * 40),
        codec_server=codec,
        web=create_web_app(connect, store, web_config()),
        **kw,
    )
    async with contextlib.AsyncExitStack() as stack:
        if client is not None:
            await stack.enter_async_context(app.router.lifespan_context(app))
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fno")
        )
        yield http


DEEP_ARRAY = "[" * 20_000 + "]" * 20_000
DEEP_OBJECT = '{"a":' * 9_000 + "1" + "}" * 9_000  # under the 64 KiB event limit
HOSTILE = {
    "deep array": DEEP_ARRAY,
    "deep object": DEEP_OBJECT,
    "deep in a field": '{"reason": "abc", "decision": ' + DEEP_ARRAY + "}",
    "huge integer": '{"reason": "abc", "n": ' + "7" * 5_000 + "}",
    "huge float": '{"reason": "abc", "n": 1e999}',
    "long float": '{"reason": "abc", "n": 0.' + "3" * 5_000 + "}",
    "NaN": '{"reason": "abc", "n": NaN}',
    "Infinity": "[-Infinity]",
}


def test_parse_json_refuses_depth_and_numbers_without_quoting_them():
    for what, text in HOSTILE.items():
        with pytest.raises(JsonInputError) as refused:
            parse_json(text)
        assert refused.value.code in ("too_deep", "number"), what
        assert "777" not in str(refused.value) and "[[" not in str(refused.value)
    assert parse_json('{"a": [1, 2.5, "[[[[", {"b": null}]}') == {
        "a": [1, 2.5, "[[[[", {"b": None}]
    }
    assert parse_json("[" * 64 + "]" * 64) is not None  # 64 levels: taken
    with pytest.raises(JsonInputError) as syntax:
        parse_json(b'{"name": "Jan Kowalski", oops}')
    assert syntax.value.code == "syntax" and "Kowalski" not in str(syntax.value)
    with pytest.raises(JsonInputError) as not_utf8:
        parse_json(b'{"a": "\xff"}')
    assert not_utf8.value.code == "not_utf8"


def test_intake_files_and_daily_files_refuse_deep_json_and_huge_numbers():
    # starter.py / fno intake: every line rejected with why, nothing raised.
    lines = "\n".join([DEEP_ARRAY, HOSTILE["huge integer"], HOSTILE["NaN"]])
    parsed = parse_events(lines)
    assert [n for n, _ in parsed] == [1, 2, 3]
    assert all(isinstance(item, JsonInputError) for _, item in parsed)
    with pytest.raises(EventInvalid):
        read_event(DEEP_OBJECT.encode())
    # A daily file: a hostile header refuses the file, hostile records are rejected.
    with pytest.raises(DailyFileError, match="nested deeper"):
        parse_daily_file(DEEP_ARRAY.encode())


FORM = "application/x-www-form-urlencoded"


async def test_nested_json_and_huge_numbers_are_4xx_at_every_door(ts_env, tmp_path):
    person = bearer("caseworker", X_Reason="a test of hostile input")
    custody = system_key(scopes=("custody-events",))
    feed = system_key(scopes=("daily-files",))
    json_type = {"Content-Type": "application/json"}
    doors = [
        ("/custody-events", custody | json_type),
        ("/custody-events", custody | {"Content-Type": "text/plain"}),  # parsed by hand
        ("/cases/casework-x/decisions", person | json_type),
        ("/codec/decode", person | json_type | {"X-Namespace": "default"}),
        ("/codec/decode", person | {"X-Namespace": "default", "Content-Type": "text/plain"}),
        ("/codec/decode", person | {"X-Namespace": "default", "Content-Type": FORM}),
        ("/custody-events", custody | {"Content-Type": FORM}),
        ("/daily-files", feed | {"Content-Type": "application/x-ndjson"}),  # lines parsed
        ("/notification-alerts/1/accept", person | json_type),
        ("/auth/token", json_type),
    ]
    seen: list[tuple[str, str, int]] = []
    async with whole_app(ts_env.client, tmp_path) as http:
        for path, headers in doors:
            for what, text in HOSTILE.items():
                answer = await http.post(path, content=text.encode(), headers=headers)
                seen.append((path, what, answer.status_code))
                assert 400 <= answer.status_code < 500, (path, what, answer.text[:300])
                assert len(answer.content) < 4000, (path, what)
                assert b"[[[[" not in answer.content and b"7777" not in answer.content
    assert len(seen) == len(doors) * len(HOSTILE)
    # The edge's own answer for JSON: a 422 naming the fault, for every route alike.
    edge = [s for p, w, s in seen if p == "/cases/casework-x/decisions"]
    assert set(edge) == {422}


async def test_validation_errors_never_echo_the_input(ts_env, tmp_path):
    marker = "MARKER-Kowalski-"
    async with whole_app(ts_env.client, tmp_path) as http:
        big = {"reason": marker * 3000, "decision": {"kind": marker * 500, marker * 50: 1}}
        decision = await http.post(
            "/cases/casework-x/decisions", json=big, headers=bearer("caseworker")
        )
        many = await http.post(
            "/cases/casework-x/decisions",
            json=[{marker: i} for i in range(2000)],
            headers=bearer("caseworker"),
        )
        query = await http.get(
            "/cases", params={"page": marker, "page_size": marker}, headers=bearer("caseworker")
        )
        event = {"force": marker * 100, "subject": {marker * 10: marker}}
        intake = await http.post("/custody-events", json=event, headers=system_key())
        codec = await http.post(
            "/codec/decode",
            json={"payloads": [{marker * 20: marker * 1000}]},
            headers=bearer("caseworker", X_Reason="test") | {"X-Namespace": "default"},
        )
    for answer in (decision, many, query, intake):
        assert answer.status_code == 422, answer.text[:300]
        assert len(answer.content) < 6000, len(answer.content)
        errors = answer.json()["detail"]
        assert errors and all(set(e) == {"loc", "msg", "type"} for e in errors)
        # Nothing sent comes back, but a field name cut short.
        assert answer.text.count(marker) <= 3 * len(errors), answer.text[:500]
        assert all("input" not in e and "ctx" not in e for e in errors)
    assert 400 <= codec.status_code < 500 and len(codec.content) < 6000


NEEDED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


async def test_security_headers_and_no_store_on_every_answer(tmp_path):
    async with whole_app(None, tmp_path, docs=True, hsts=False) as http:
        answers = {
            "health": await http.get("/health"),
            "ready": await http.get("/ready"),
            "api 401": await http.get("/cases"),
            "api 200": await http.get("/me", headers=bearer("caseworker")),
            "api 404": await http.get("/no-such-route"),
            "api 413": await http.post("/custody-events", content=b"x" * 70_000),
            "api 422": await http.get("/cases", params={"page": "x"}, headers=bearer("director")),
            "api 503": await http.get(
                "/cases/casework-x", headers=bearer("caseworker", X_Reason="t")
            ),
            "web page": await http.get("/web/login"),
            "web asset": await http.get("/web/static/app.css"),
            "codec": await http.post("/codec/decode", json={"payloads": []}),
            "docs": await http.get("/docs"),
            "docs asset": await http.get("/docs/assets/swagger-ui-bundle.js"),
            "openapi": await http.get("/openapi.json"),
        }
    assert answers["api 413"].status_code == 413 and answers["api 503"].status_code == 503
    for what, answer in answers.items():
        for name, value in NEEDED.items():
            assert answer.headers.get(name) == value, (what, name, dict(answer.headers))
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], what
        assert "strict-transport-security" not in answer.headers, what  # local mode
        cached = what in ("health", "ready", "web asset", "docs asset")
        assert (answer.headers.get("cache-control") == "no-store") is not cached, what
    # The web app keeps its own policy (stricter for pages); the API allows nothing.
    assert "script-src 'none'" in answers["web page"].headers["content-security-policy"]
    assert answers["api 200"].headers["content-security-policy"].startswith("default-src 'none'")
    async with whole_app(None, tmp_path, hsts=True) as http:
        hsts = await http.get("/health")
    assert hsts.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_the_api_docs_come_from_bundled_assets_or_are_off(tmp_path):
    async with whole_app(None, tmp_path, docs=True) as http:
        docs = await http.get("/docs")
        redoc = await http.get("/redoc")
        refs = re.findall(r'(?:src|href|spec-url|data-spec)="([^"]+)"', docs.text + redoc.text)
        assets = {r: (await http.get(r)).status_code for r in refs}
    assert docs.status_code == redoc.status_code == 200
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
    assert all(status == 200 for status in assets.values()), assets
    assert "<script>" not in docs.text and "<script>" not in redoc.text  # no inline script
    csp = docs.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert "cdn" not in (docs.text + redoc.text).lower()
    async with whole_app(None, tmp_path, docs=False) as http:
        off = [(await http.get(p)).status_code for p in ("/docs", "/redoc", "/openapi.json")]
    assert off == [404, 404, 404]
    assert docs_on({"FNO_LOCAL_MODE": "1"}) and not docs_on({})
    assert docs_on({"FNO_API_DOCS": "1"}) and not docs_on(
        {"FNO_LOCAL_MODE": "1", "FNO_API_DOCS": "0"}
    )


async def test_503_answers_say_what_to_do_not_what_failed(tmp_path):
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=str(test_server_path())
    )
    # A client that gives up after 1 s, not the SDK's 10 s: what is asserted is the
    # answer once Temporal has not answered, not how long the SDK retries.
    client = await Client.connect(
        env.client.service_client.config.target_host,
        data_converter=CONVERTER,
        retry_config=RetryConfig(max_elapsed_time_millis=1000),
    )
    await env.shutdown()  # Temporal goes away under a running service
    try:
        await client.get_workflow_handle("casework-x").describe()
    except RPCError as err:
        internal = err.message
    assert internal
    async with whole_app(client, tmp_path) as http:
        await sign_in(http, "sam")  # the sign-in needs no Temporal
        # Each waits for Temporal's connection to give up: together, not one by one.
        read, listing, ready, page = await asyncio.gather(
            http.get("/cases/casework-x", headers=bearer("caseworker", X_Reason="t")),
            http.get("/cases", headers=bearer("caseworker")),
            http.get("/ready"),
            http.get("/web/cases"),
        )
    for answer in (read, listing, ready):
        assert answer.status_code == 503
        assert internal not in answer.text and "Error" not in answer.text, answer.text
        assert "try again" in answer.json()["detail"].lower()
    assert read.json()["why"] == "no_answer" and len(read.json()["reference"]) == 12
    assert page.status_code == 503
    assert internal not in page.text and "Temporal did not answer:" not in page.text
    assert "Service unavailable" in page.text and "unavailable" in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_the_api_docs_render_in_a_browser_with_nothing_from_elsewhere(tmp_path):
    from playwright.async_api import async_playwright

    from tests.test_web_browser import chromium

    async with contextlib.AsyncExitStack() as stack:
        store = CaseStore.migrated(f"sqlite:///{tmp_path / 'c.db'}")

        async def connect() -> Any:
            return object()  # the docs need no Temporal

        app = create_app(connect, store, identity=api_identity(), docs=True)
        url = await stack.enter_async_context(live_server(app))
        pw = await stack.enter_async_context(async_playwright())
        browser = await pw.chromium.launch(executable_path=chromium(), headless=True)
        stack.push_async_callback(browser.close)
        page = await browser.new_page()
        loaded: list[str] = []
        page.on("response", lambda r: loaded.append(r.url))
        await page.goto(f"{url}/docs")
        await page.wait_for_selector(".opblock", timeout=30_000)
        operations = await page.locator(".opblock").count()
        await page.goto(f"{url}/redoc")
        await page.wait_for_selector("[data-section-id]", timeout=30_000)
        sections = await page.locator("[data-section-id]").count()
    assert operations >= 15 and sections >= 15
    # Everything came from the service itself (ReDoc's "powered by" logo, from its CDN,
    # is blocked by the page's policy: it never loads).
    assert loaded and all(u.startswith((url, "data:", "blob:")) for u in loaded), loaded


async def test_an_unhandled_fault_is_a_500_without_its_text(tmp_path):
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'c.db'}")

    async def connect() -> Any:
        return object()

    app = create_app(connect, store, identity=api_identity())

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("Jan Kowalski, born 1980-01-01, PNC 2001/0123456X")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://fno") as http:
        answer = await http.get("/boom")
    assert answer.status_code == 500
    assert answer.json()["why"] == "internal_error" and len(answer.json()["reference"]) == 12
    assert "Kowalski" not in answer.text and "ValueError" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"  # outside the error middleware
    assert answer.headers["cache-control"] == "no-store"


def test_log_lines_of_refused_bodies_show_no_codec_token():
    assert loggable("/codec/eyJhbGciOi.secret.token/decode") == "/codec/<redacted>"
    assert loggable("/codec//decode") == "/codec/<redacted>"
    assert loggable("/CODEC/eyJhbGciOi.secret/decode") == "/codec/<redacted>"
    assert loggable("/codec%2Feyj.secret") == "/codec/<redacted>"
    assert loggable("/cases/casework-1/decisions") == "/cases/casework-1/decisions"


async def test_large_bodies_are_parsed_only_after_the_caller_is_proven(tmp_path, monkeypatch):
    """The daily-file and codec routes (limits of 64 and 8 MiB) parse their bodies
    themselves once the caller is proven: the edge guard holds and parses none of them
    for an unauthenticated caller, while a small route's JSON is still guarded."""
    import server.hardening

    parsed: list[int] = []
    real = server.hardening.parse_json

    def spy(data: Any, **kw: Any) -> Any:
        parsed.append(len(data))
        return real(data, **kw)

    monkeypatch.setattr(server.hardening, "parse_json", spy)
    big = json.dumps({"rows": ["x" * 1000] * 4000}).encode()  # ~4 MB of JSON
    json_type = {"Content-Type": "application/json"}
    async with whole_app(None, tmp_path) as http:
        daily = await http.post("/daily-files", content=big, headers=json_type)
        codec = await http.post(
            "/codec/decode", content=big, headers=json_type | {"X-Namespace": "default"}
        )
        assert (daily.status_code, codec.status_code) == (401, 401)
        assert parsed == []
        small = await http.post("/cases/casework-x/decisions", content=b"[1]", headers=json_type)
    assert small.status_code in (401, 422) and parsed == [3]
