"""The codec server against an attacker: tokens never in a URL nor in any log line, a
web session's call only JSON from the Web UI's origin (CSRF), encoding only for the
role allowed it, hostile bodies a 400, and one consultation per person, case and
purpose in a window however often the Web UI asks.

In-process (``httpx.ASGITransport``) on the codec app, the case store on SQLite (and
PostgreSQL with ``FNO_TEST_DATABASE_URL``); the log test runs ``python -m server.app``
as a process and reads every line it wrote."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import text
from starlette.requests import Request
from temporalio.api.common.v1 import Payload

from access.policy import CAPABILITIES, Capability
from api.codec_server import (
    WINDOW_ENV,
    Consultations,
    consultation_window,
    create_codec_app,
    redact_codec_paths,
)
from identity.principal import Principal
from models.case import Role
from runtime.codec import CodecConfigError, EncryptionCodec
from store.cases import CaseStore
from tests.support import CODEC_KEYS, process_identity
from tests.support_databases import DATABASES

ROOT = Path(__file__).resolve().parent.parent
NS = "default"
UI_ORIGIN = "http://localhost:8233"
CASE = "casework-6f1c2a"
OTHER_CASE = "casework-9e8d7c"
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

SUE = Principal(subject="local:sue", name="Sue Park", role="supervisor")
SAM = Principal(subject="local:sam", name="Sam Jones", role="caseworker", reason="UI review")
PEOPLE = {f"tok-{role}": Principal(subject=f"local:{role}", name=role, role=role) for role in ROLES}
PEOPLE |= {"tok-sue": SUE, "tok-sam": SAM}
SESSION_COOKIE = "fno-test-session"


def verify(token: str) -> Principal:
    if token not in PEOPLE:
        raise PermissionError("unknown token")
    return PEOPLE[token]


async def session(request: Request) -> Principal | None:
    """A web session: the cookie names the person (stands in for the web app's)."""
    return PEOPLE.get(request.cookies.get(SESSION_COOKIE, ""))


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    yield store
    store.engine.dispose()


@pytest.fixture(params=DATABASES)
def any_store(request: Any, tmp_path: Path) -> Any:
    """The case store on SQLite, and on PostgreSQL when ``FNO_TEST_DATABASE_URL`` is set
    (where replicas share it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'casework.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = CaseStore.migrated(url)
    with store.engine.begin() as conn:  # the module's database is shared by its tests
        conn.execute(text("DELETE FROM access_log"))
    yield store
    store.engine.dispose()


def sealed(case_id: str | None = CASE, n: int = 2) -> dict[str, Any]:
    """A decode request's body: ``n`` payloads of ``case_id``, as the Web UI sends them."""
    codec = EncryptionCodec(CODEC_KEYS, case_id)
    plain = [
        Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"i": i}).encode())
        for i in range(n)
    ]
    return {"payloads": [MessageToDict(codec.encrypt(p)) for p in plain]}


BODY = sealed()


def app_on(store: Any, **kw: Any) -> Any:
    kw.setdefault("consultations", Consultations(store, 600))
    return create_codec_app(
        EncryptionCodec(CODEC_KEYS),
        store,
        namespace=NS,
        verifier=verify,
        sessions=[session],
        cors_origins=[UI_ORIGIN],
        **kw,
    )


@asynccontextmanager
async def client(app: Any, **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", **kw) as http:
        yield http


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Namespace": NS, "X-Reason": "review"} | more


def consultations(store: Any, case_id: str = CASE) -> list[Any]:
    return [
        e for e in store.access_log(case_id) if e.action == "consultation" and e.role != "system"
    ]


COUNTS = re.compile(
    r"codec server: (\d+) decode\(s\) of (\d+) payload\(s\), first (\S+), last (\S+)\)$"
)


def counts(entry: Any) -> tuple[int, int, str, str]:
    found = COUNTS.search(entry.justification)
    assert found, entry.justification
    return int(found[1]), int(found[2]), found[3], found[4]


# --- tokens: a header or the session, never the URL -------------------------------------


async def test_a_token_in_the_url_proves_nobody(store):
    async with client(app_on(store)) as http:
        paths = ["/tok-sue/decode", "/tok-sue//decode", "/decode?token=tok-sue"]
        answers = [await http.post(p, json=BODY, headers={"X-Namespace": NS}) for p in paths]
        header = await http.post("/decode", json=BODY, headers=bearer("tok-sue"))
    assert [a.status_code for a in answers] == [404, 404, 401]
    assert header.status_code == 200
    assert [counts(e)[:2] for e in consultations(store)] == [(1, 2)]  # the header's only


def test_anything_after_codec_is_redacted_but_the_two_routes():
    token = "eyJhbGciOi.J9x-secret_part"
    cases = {
        f'"POST /codec/{token}/decode HTTP/1.1" 200': '"POST /codec/<redacted> HTTP/1.1" 200',
        f"/codec/{token}//decode": "/codec/<redacted>",
        f"/CODEC/{token}": "/codec/<redacted>",
        f"/api%2Fcodec%2F{token}": "/api/codec/<redacted>",
        f"/codec/decode?access_token={token}": "/codec/<redacted>",
        "/codec/decode and /codec/encode": "/codec/decode and /codec/encode",
    }
    for line, expected in cases.items():
        redacted = redact_codec_paths(line)
        assert token not in redacted and "secret" not in redacted, line
        assert redacted == expected, line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.devserver
def test_a_token_on_a_wrong_codec_path_appears_in_no_log_line(dev_env, tmp_path):
    """``python -m server.app`` as deployed (uvicorn's access and error loggers and the
    product's own, all on stderr; the dev server it connects to writes nothing of
    them): tokens sent on paths that are not the codec's routes,
    and one refused on the right route; every line it wrote is read."""
    home = tmp_path / "home"
    home.mkdir()
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    CaseStore.migrated(url).engine.dispose()
    identity, _ = process_identity(home)
    port = _free_port()
    env = (
        os.environ
        | identity
        | {
            "FNO_HOME": str(home),
            "FNO_DATABASE_URL": url,
            "FNO_HTTP_PORT": str(port),
            "FNO_LOG_FORMAT": "json",
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        }
    )
    token = f"tok{uuid.uuid4().hex}"
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.app"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=base, timeout=5) as http:
            while True:
                with suppress(httpx.TransportError):
                    if http.get("/health").status_code == 200:
                        break
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
            ns = {"X-Namespace": NS}
            statuses = [
                http.post(f"/codec/{token}//decode", json=BODY, headers=ns).status_code,
                http.post(f"/codec/{token}/decode", json=BODY, headers=ns).status_code,
                http.post(f"/codec//{token}/decode", json=BODY, headers=ns).status_code,
                http.post(f"/codec/{token}", content=b"[" * 30_000, headers=ns).status_code,
                http.get(f"/codec/decode?access_token={token}").status_code,
                http.post(
                    "/codec/decode", json=BODY, headers=ns | {"Authorization": f"Bearer {token}"}
                ).status_code,
                http.post("/codec/decode", content=b"[" * 30_000, headers=ns).status_code,
            ]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lines = log.read_text(errors="replace").splitlines()
    assert all(s < 500 for s in statuses), statuses
    assert statuses[:3] == [404, 404, 404] and statuses[5] == 401, statuses
    # The check can fail: the access lines of those requests are there, redacted.
    access = [line for line in lines if "/codec/" in line]
    assert len(access) >= len(statuses), "\n".join(lines)
    assert any("/codec/<redacted>" in line for line in access), "\n".join(access)
    assert [line for line in lines if token in line] == []


# --- a web session: JSON from the Web UI's origin only ---------------------------------


async def test_a_session_call_needs_json_and_an_allowed_origin_bearer_calls_do_not(store):
    raw = json.dumps(BODY)
    ns = {"X-Namespace": NS}
    answers: dict[str, int] = {}
    async with client(app_on(store), cookies={SESSION_COOKIE: "tok-sam"}) as http:
        json_ct = {"Content-Type": "application/json; charset=utf-8"}
        for name, headers in {
            "text/plain from the UI": {"Content-Type": "text/plain", "Origin": UI_ORIGIN},
            "a form from the UI": {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": UI_ORIGIN,
            },
            "JSON, no origin": json_ct,
            "JSON from a same-site page": json_ct | {"Origin": "http://localhost:8000"},
            "JSON from elsewhere": json_ct | {"Origin": "https://evil.example"},
            "JSON from the UI": json_ct | {"Origin": UI_ORIGIN},
        }.items():
            answers[name] = (
                await http.post("/decode", content=raw, headers=ns | headers)
            ).status_code
    async with client(app_on(store)) as http:  # no cookie
        bare = {"Content-Type": "text/plain"}
        answers["bearer, text/plain, no origin"] = (
            await http.post("/decode", content=raw, headers=bearer("tok-sam") | bare)
        ).status_code
        answers["nobody"] = (await http.post("/decode", content=raw, headers=ns | bare)).status_code
    assert answers == {
        "text/plain from the UI": 415,
        "a form from the UI": 415,
        "JSON, no origin": 403,
        "JSON from a same-site page": 403,
        "JSON from elsewhere": 403,
        "JSON from the UI": 200,
        "bearer, text/plain, no origin": 200,
        "nobody": 401,
    }
    # Two decodes by Sam for two purposes (his session's default, the header's).
    assert sorted(counts(e)[0] for e in consultations(store)) == [1, 1]


# --- encoding: only the role allowed it, only when switched on -------------------------


async def test_encoding_is_for_the_encode_capability_only_and_only_when_on(store):
    plain = {"payloads": [MessageToDict(Payload(metadata={"encoding": b"json/plain"}, data=b"1"))]}
    answers: dict[tuple[bool, str], int] = {}
    for on in (False, True):
        async with client(app_on(store, allow_encode=on)) as http:
            for role in ROLES:
                sent = await http.post("/encode", json=plain, headers=bearer(f"tok-{role}"))
                answers[(on, role)] = sent.status_code
    assert CAPABILITIES[Capability.ENCODE] == frozenset({"supervisor"})
    assert {role for (on, role), s in answers.items() if s == 200} == {"supervisor"}
    assert all(s == 403 for (on, role), s in answers.items() if not on or role != "supervisor")
    assert answers[(False, "supervisor")] == 403


# --- hostile bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000,
        b'{"payloads": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b'{"payloads": [' + b'{"metadata": ' * 5_000 + b"{}" + b"}" * 5_000 + b"]}",
        b'{"payloads": 1e999999}',
        b'{"payloads": [{"data": ' + b"9" * 50_000 + b"}]}",
        b'{"payloads": NaN}',
        b'{"payloads": [{"data": "not base64 \xff"}]}',
        b"\xff\xfe not utf-8",
        b'"just a string"',
        b'{"payloads": [{"metadata": {"encoding": 12}}]}',
        b"",
    ],
    ids=[
        "deep list",
        "deep payloads",
        "deep objects",
        "huge float",
        "huge int",
        "NaN",
        "bad base64",
        "not utf-8",
        "a string",
        "wrong types",
        "empty",
    ],
)
async def test_hostile_bodies_are_a_400_that_echoes_nothing(store, body):
    async with client(app_on(store, allow_encode=True)) as http:
        for route in ("/decode", "/encode"):
            answer = await http.post(
                route,
                content=body,
                headers=bearer("tok-sue", **{"Content-Type": "application/json"}),
            )
            assert answer.status_code == 400, (route, answer.status_code, answer.text[:200])
            assert len(answer.content) < 300
            assert "999" not in answer.text and "not base64" not in answer.text


# --- consultations: one per person, case and purpose in a window -----------------------


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:  # 2027-01-15T08:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now


async def test_the_web_uis_decodes_are_one_consultation_per_case_and_window(any_store):
    store = any_store
    clock = Clock()
    counted = Consultations(store, 600, clock=clock, flush_every=5)
    async with client(app_on(store, consultations=counted)) as http:
        # The Web UI with one case open: ten decodes a second for a minute.
        for _ in range(600):
            answer = await http.post("/decode", json=BODY, headers=bearer("tok-sue"))
            assert answer.status_code == 200
            clock.now += 0.1
        first_view = clock.now
        # Another purpose, another case, another person: an entry each.
        await http.post("/decode", json=BODY, headers=bearer("tok-sue", **{"X-Reason": "audit"}))
        await http.post("/decode", json=sealed(OTHER_CASE), headers=bearer("tok-sue"))
        await http.post("/decode", json=BODY, headers=bearer("tok-sam"))
        # Ten minutes on: a new window, a new consultation.
        clock.now += 600
        await http.post("/decode", json=BODY, headers=bearer("tok-sue"))
    counted.flush()
    entries = consultations(store)
    assert [(e.actor, e.justification.split(" (")[0]) for e in entries] == [
        ("Sue Park", "review"),
        ("Sue Park", "audit"),
        ("Sam Jones", "review"),
        ("Sue Park", "review"),
    ]
    decodes, payloads, first, last = counts(entries[0])
    assert (decodes, payloads) == (600, 1200)
    assert first == "2027-01-15T08:00:00Z" and last == time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(first_view - 0.1)
    )
    assert [counts(e)[:2] for e in entries[1:]] == [(1, 2), (1, 2), (1, 2)]
    assert [counts(e)[:2] for e in consultations(store, OTHER_CASE)] == [(1, 2)]


async def test_replicas_share_one_consultation_and_counts_are_written_without_more_decodes(
    any_store,
):
    store = any_store
    clock = Clock()
    replicas = [Consultations(store, 600, clock=clock, flush_every=0.05) for _ in range(2)]
    for i in range(40):
        replicas[i % 2].record(SUE, CASE, "review", 3)
        clock.now += 0.01
    # No flush called: each replica's timer writes its tail within flush_every.
    deadline = time.monotonic() + 10
    while True:
        entries = consultations(store)
        if len(entries) == 1 and counts(entries[0])[0] == 40:
            break
        assert time.monotonic() < deadline, [e.justification for e in entries]
        await asyncio.sleep(0.05)
    assert counts(entries[0])[:2] == (40, 120)
    assert entries[0].subject == "local:sue" and entries[0].role == "supervisor"


def test_window_zero_logs_each_decode_and_a_bad_window_refuses_to_start(any_store):
    store = any_store
    counted = Consultations(store, 0, clock=Clock())
    for _ in range(3):
        counted.record(SUE, CASE, "review", 1)
    assert [counts(e)[:2] for e in consultations(store)] == [(1, 1)] * 3
    assert consultation_window({}) == 600
    assert consultation_window({WINDOW_ENV: "30"}) == 30
    for bad in ("soon", "-1", "nan", "1e9"):
        with pytest.raises(CodecConfigError, match=WINDOW_ENV):
            consultation_window({WINDOW_ENV: bad})


def test_the_access_log_keeps_no_personal_data_in_its_keys(store):
    Consultations(store, 600, clock=Clock()).record(SUE, CASE, "review", 1)
    with store.engine.connect() as conn:
        keys = [row[0] for row in conn.execute(text("SELECT act_key FROM access_log"))]
    assert len(keys) == 1 and keys[0].startswith("codec:")
    assert "sue" not in keys[0].lower() and CASE not in keys[0]


def test_open_consultations_are_bounded_in_memory_and_written_when_dropped(store):
    clock = Clock()
    counted = Consultations(store, 600, clock=clock, flush_every=60, max_open=2)
    cases = [f"casework-{i:06x}" for i in range(3)]
    for case in cases:
        counted.record(SUE, case, "review", 1)
        counted.record(SUE, case, "review", 1)  # counted, not written yet
        clock.now += 1
    assert len(counted._open) == 2
    # The one dropped had its second decode written as it went.
    assert counts(consultations(store, cases[0])[0])[:2] == (2, 2)
    clock.now += 600  # a new window: the past ones are written and forgotten
    counted.record(SUE, cases[0], "review", 1)
    assert len(counted._open) == 1
    assert [counts(consultations(store, c)[0])[:2] for c in cases[1:]] == [(2, 2), (2, 2)]
    assert [counts(e)[:2] for e in consultations(store, cases[0])] == [(2, 2), (1, 1)]
