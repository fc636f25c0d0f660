"""Sign-in and sessions against an attacker (issue 19): attempts reserved before the
password is checked, unknown usernames counted like known ones, per-address limits,
sessions that end for real at sign-out and at a password change — all shared by every
replica of the API through the case store's database (SQLite, and PostgreSQL when
``FNO_TEST_DATABASE_URL`` points at one) or Redis (``FNO_TEST_REDIS_URL``, default this
machine's) — and the cookie's ``Secure``/``__Host-`` defaults outside local mode.

Each "replica" here is the HTTP process's whole app as ``python -m server.app`` builds
it (``server.app.app_from_env``: the API with the local issuer's password grant, the
web app), two of them on one database (or Redis)."""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import Response

import web.auth
from runtime.config import Settings
from server.app import app_from_env
from store.cases import CaseStore
from store.sign_in import RedisSessionStore, RedisSignInCounters, SessionStore, SignInCounters
from tests.support_databases import DATABASES
from tests.support_web import PASSWORDS, SECRET, csrf_of, users_file
from web.auth import write_users_file
from web.config import WebConfigError, session_authenticator, web_config_from_env
from web.sessions import COOKIE, SECURE_COOKIE, Sessions
from web.users import main as users_main

VERIFY_SECONDS = 0.05  # each password check made slower: parallel guesses overlap


def _store(kind: str, request: Any, tmp_path: Path) -> CaseStore:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'casework.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = CaseStore.migrated(url)
    with store.engine.begin() as conn:  # PostgreSQL's database is the module's
        conn.exec_driver_sql("DELETE FROM sign_in_counter")
        conn.exec_driver_sql("DELETE FROM web_session")
    return store


@pytest.fixture(params=DATABASES)
def store(request: Any, tmp_path: Path) -> Iterator[CaseStore]:
    store = _store(request.param, request, tmp_path)
    yield store
    store.engine.dispose()


REDIS_URL = os.environ.get("FNO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@dataclass
class Shared:
    """Where the replicas of a test keep sessions and sign-in counts: the case store's
    database, or Redis (``FNO_SIGN_IN_REDIS_URL``)."""

    store: CaseStore
    env: dict[str, str]
    sessions: Any  # the registry, to look inside


@pytest.fixture(params=[*DATABASES, "redis"])
def shared(request: Any, tmp_path: Path) -> Iterator[Shared]:
    if request.param != "redis":
        store = _store(request.param, request, tmp_path)
        yield Shared(store, {}, SessionStore(store.engine))
        store.engine.dispose()
        return
    url = request.getfixturevalue("redis_url")
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    yield Shared(store, {"FNO_SIGN_IN_REDIS_URL": url}, RedisSessionStore(url))
    store.engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis of this machine (``FNO_TEST_REDIS_URL``), without what a test before left."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL} (set FNO_TEST_REDIS_URL)")
    for pattern in ("fno:sign-in:*", "fno:web-session:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    yield REDIS_URL
    client.close()


@pytest.fixture
def verifies(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every Argon2 verify of the users file, counted (and made a little slower)."""
    calls: list[float] = []
    real = web.auth._hasher
    lock = threading.Lock()

    class Counted:
        def verify(self, hash: str, password: str) -> bool:
            with lock:
                calls.append(time.monotonic())
            time.sleep(VERIFY_SECONDS)
            return real.verify(hash, password)

    monkeypatch.setattr(web.auth, "_hasher", Counted())
    return calls


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The HTTP process's environment: the local issuer over a users file of the tests'
    users, the tests' keys (conftest), and ``extra``."""
    users = tmp_path / "users.json"
    if not users.exists():
        write_users_file(users, users_file())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FNO_OIDC", "FNO_WEB_", "FNO_API_", "FNO_SIGN_IN_"))
    }
    return env | {
        "FNO_HOME": str(tmp_path / "home"),
        "FNO_LOCAL_ISSUER": "1",
        "FNO_WEB_USERS_FILE": str(users),
        "FNO_WEB_SECRET": SECRET,
    } | extra  # fmt: skip


async def never() -> Any:
    raise AssertionError("sign-in never reaches Temporal")


def replica(store: CaseStore, tmp_path: Path, **extra: str) -> Any:
    """One replica of the HTTP process on ``store``'s database."""
    env = process_env(tmp_path, **extra)
    return app_from_env(env, Settings.from_env(env), connect_to=never, store=store)


def client(app: Any, address: str = "192.0.2.10") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://testserver",
    )


async def web_sign_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await http.get("/web/login")
    return await http.post(
        "/web/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "",
        },
    )


async def token(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    grant = {"grant_type": "password", "username": username, "password": password}
    return await http.post("/auth/token", data=grant)


# --- attempts reserved before the check -----------------------------------------------
async def test_forty_parallel_guesses_for_one_user_get_at_most_five_checks(
    shared: Shared, tmp_path: Path, verifies: list[float]
) -> None:
    one = replica(shared.store, tmp_path, **shared.env)
    two = replica(shared.store, tmp_path, **shared.env)
    async with client(one) as a, client(two) as b:
        await a.get("/web/login")  # a session and CSRF token for the form
        page = await a.get("/web/login")
        csrf = csrf_of(page.text)

        async def by_form(i: int) -> int:
            form = {"username": "sam", "password": f"guess {i}", "csrf_token": csrf, "next": ""}
            return (await a.post("/web/login", data=form)).status_code

        async def by_grant(i: int) -> int:
            return (await token(b, "sam", f"guess {i}")).status_code

        codes = await asyncio.gather(*(by_form(i) if i % 2 else by_grant(i) for i in range(40)))
        # The right password now: the username is locked for the window, on both doors.
        right_web = await web_sign_in(a, "sam", PASSWORDS["sam"])
        right_api = await token(b, "sam", PASSWORDS["sam"])
    assert len(verifies) == 5, f"{len(verifies)} passwords were checked"
    assert sorted(codes) == [401] * 5 + [429] * 35
    assert right_web.status_code == 429 and right_api.status_code == 429
    assert len(verifies) == 5  # refused before any check
    assert "try again in 15 minutes" in right_api.json()["detail"]


async def test_an_unknown_username_is_counted_and_answered_like_a_known_one(
    store: CaseStore, tmp_path: Path, verifies: list[float]
) -> None:
    app = replica(store, tmp_path)
    answers: dict[str, list[tuple[int, Any]]] = {}
    took: dict[str, list[float]] = {}
    checks: dict[str, int] = {}
    async with client(app) as http:
        for username in ("sam", "nobody-here"):
            before = len(verifies)
            answers[username], took[username] = [], []
            for i in range(7):
                started = time.monotonic()
                answer = await token(http, username, f"wrong {i}")
                took[username].append(time.monotonic() - started)
                answers[username].append((answer.status_code, answer.json()))
            checks[username] = len(verifies) - before
        web_known = [(await web_sign_in(http, "alex", "wrong")).status_code for _ in range(6)]
        web_unknown = [(await web_sign_in(http, "nobody-else", "x")).status_code for _ in range(6)]
    assert [code for code, _ in answers["sam"]] == [401] * 5 + [429] * 2
    assert answers["sam"] == answers["nobody-here"]  # same statuses, same bodies
    assert checks == {"sam": 5, "nobody-here": 5}  # an unknown name checks a dummy hash
    # Similar timing: each refused guess costs one Argon2 verify, known or not.
    known, unknown = statistics.median(took["sam"][:5]), statistics.median(took["nobody-here"][:5])
    assert unknown > known / 3 and known > unknown / 3
    assert web_known == web_unknown == [401] * 5 + [429]


async def test_guesses_from_one_address_are_limited_across_usernames(
    shared: Shared, tmp_path: Path, verifies: list[float]
) -> None:
    app = replica(shared.store, tmp_path, FNO_SIGN_IN_CLIENT_LIMIT="4", **shared.env)
    async with client(app, "198.51.100.7") as sprayer, client(app, "203.0.113.9") as colleague:
        sprayed = [(await token(sprayer, f"user{i}", "password1")).status_code for i in range(6)]
        elsewhere = await token(colleague, "sam", PASSWORDS["sam"])
    assert sprayed == [401] * 4 + [429] * 2
    assert len(verifies) == 5  # four guesses, then the colleague's own sign-in
    assert elsewhere.status_code == 200, elsewhere.text


async def test_a_success_frees_its_attempt_and_forgets_the_usernames_failures(
    store: CaseStore, tmp_path: Path
) -> None:
    app = replica(store, tmp_path)
    async with client(app) as http:
        codes = [(await token(http, "sue", "wrong")).status_code for _ in range(4)]
        codes += [(await token(http, "sue", PASSWORDS["sue"])).status_code for _ in range(6)]
        codes += [(await token(http, "sue", "wrong")).status_code for _ in range(5)]
        locked = await token(http, "sue", PASSWORDS["sue"])
    assert codes == [401] * 4 + [200] * 6 + [401] * 5
    assert locked.status_code == 429


def test_counters_reserve_all_keys_or_none_and_forget_an_old_window(store: CaseStore) -> None:
    counters = SignInCounters(store.engine)
    now = 1_000_000.0
    assert all(counters.reserve([("u1", 2), ("ip", 3)], 60, now) for _ in range(2))
    assert not counters.reserve([("u1", 2), ("ip", 3)], 60, now)  # u1 full (in flight)
    assert counters.reserve([("u2", 2), ("ip", 3)], 60, now)  # ip's third
    assert not counters.reserve([("u3", 2), ("ip", 3)], 60, now)  # ip full: u3 not taken
    counters.settle(["u2", "ip"], failed=False, forget=["u2"])  # a success frees its place
    assert counters.reserve([("u3", 2), ("ip", 3)], 60, now)
    counters.settle(["u1", "ip"], failed=True)
    counters.settle(["u1", "ip"], failed=True)
    assert not counters.reserve([("u1", 2)], 60, now + 59)  # two failures: still full
    assert counters.reserve([("u1", 2)], 60, now + 61)  # a new window
    counters._swept = 0.0
    counters.reserve([("u4", 1)], 60, now + 1000)  # sweeps the expired rows
    from sqlalchemy import text

    with store.engine.connect() as conn:
        keys = {k for (k,) in conn.execute(text("select key from sign_in_counter"))}
    assert keys == {"u4"}


# --- sessions that end --------------------------------------------------------------------
def _cookie(http: httpx.AsyncClient) -> str:
    value = http.cookies.get(COOKIE)
    assert value, "no session cookie"
    return value


async def test_a_signed_out_cookie_is_refused_by_every_replica(
    shared: Shared, tmp_path: Path
) -> None:
    one = replica(shared.store, tmp_path, **shared.env)
    two = replica(shared.store, tmp_path, **shared.env)
    async with client(one) as http:
        signed = await web_sign_in(http, "sam", PASSWORDS["sam"])
        kept = _cookie(http)
        inbox = await http.get("/web/account")
        account = await http.get("/web/account")
        out = await http.post("/web/logout", data={"csrf_token": csrf_of(account.text)})
    async with client(two) as copy:
        copy.cookies.set(COOKIE, kept)
        after = await copy.get("/web/account")
    web_app = next(r.app for r in one.routes if getattr(r, "path", "") == "/web")  # type: ignore[attr-defined]
    decoder = session_authenticator(web_app.state.web.config)
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/decode",
        "headers": [(b"cookie", f"{COOKIE}={kept}".encode())],
    }
    assert signed.status_code == 303 and inbox.status_code == 200
    assert out.status_code == 303
    assert after.status_code == 303 and "/web/login" in after.headers["location"]
    assert await decoder(Request(scope)) is None  # nor at the codec server


async def test_a_password_change_ends_every_session_of_that_user(
    shared: Shared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = replica(shared.store, tmp_path, **shared.env)
    two = replica(shared.store, tmp_path, **shared.env)
    async with client(one) as laptop, client(two) as phone, client(one) as other:
        for http, username in ((laptop, "sam"), (phone, "sam"), (other, "sue")):
            assert (await web_sign_in(http, username, PASSWORDS[username])).status_code == 303
        before = [(await h.get("/web/account")).status_code for h in (laptop, phone, other)]
        monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
        changed = users_main(
            ["--file", str(tmp_path / "users.json"), "add", "sam", "--name", "Sam Jones",
             "--role", "caseworker", "--password-stdin", "--replace"]
        )  # fmt: skip
        after = [(await h.get("/web/account")).status_code for h in (laptop, phone, other)]
        again = await web_sign_in(laptop, "sam", "a brand new password")
        back = await laptop.get("/web/account")
    rows = shared.sessions
    assert before == [200, 200, 200] and changed == 0
    assert after == [303, 303, 200]  # both of sam's sessions ended; sue's did not
    assert again.status_code == 303 and back.status_code == 200
    assert rows.count("sam") == 1  # the ended sessions are gone from the store


def test_sessions_end_in_the_registry_and_expire(store: CaseStore) -> None:
    sessions = Sessions(SECRET, lifetime_seconds=3600, registry=SessionStore(store.engine))
    session = sessions.new("sam", credential=sessions.credential("$argon2id$hash-1"))
    assert sessions.holds(session, "sam", sessions.credential("$argon2id$hash-1"))
    assert not sessions.holds(session, "sue", sessions.credential("$argon2id$hash-1"))
    # A mismatch ended it (a session is never carried over to someone or something else).
    assert not sessions.holds(session, "sam", sessions.credential("$argon2id$hash-1"))
    old = sessions.new("ike")
    old["since"] = int(time.time()) - 7200
    short = Sessions(SECRET, lifetime_seconds=3600, registry=SessionStore(store.engine))
    short.begin(old, "ike", None)  # began two hours ago: past its lifetime
    assert not short.holds(old, "ike", None)
    assert SessionStore(store.engine).end_all("ike") == 2
    assert "sid" not in sessions.new()  # anonymous sessions are not kept


# --- the cookie ---------------------------------------------------------------------------
def test_the_cookie_is_secure_with_the_host_prefix_outside_local_mode(tmp_path: Path) -> None:
    production = {k: v for k, v in process_env(tmp_path).items() if k != "FNO_LOCAL_MODE"}
    deployed = web_config_from_env(production)
    local = web_config_from_env(production | {"FNO_LOCAL_MODE": "1"})
    plain_http = web_config_from_env(production | {"FNO_WEB_SECURE_COOKIE": "0"})
    forced = web_config_from_env(production | {"FNO_LOCAL_MODE": "1", "FNO_WEB_SECURE_COOKIE": "1"})
    assert deployed and local and plain_http and forced
    assert (deployed.sessions.secure, deployed.sessions.cookie) == (True, SECURE_COOKIE)
    assert (local.sessions.secure, local.sessions.cookie) == (False, COOKIE)
    assert (plain_http.sessions.secure, plain_http.sessions.cookie) == (False, COOKIE)
    assert forced.sessions.cookie == SECURE_COOKIE
    response = Response()
    deployed.sessions.write(response, deployed.sessions.new())
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SECURE_COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/" in header
    with pytest.raises(WebConfigError):
        web_config_from_env(production | {"FNO_WEB_SECURE_COOKIE": "maybe"})
    with pytest.raises(WebConfigError):
        web_config_from_env(production | {"FNO_SIGN_IN_LIMIT": "1e9"})
    with pytest.raises(WebConfigError):
        web_config_from_env(production | {"FNO_SIGN_IN_REDIS_URL": "127.0.0.1:6379"})


async def test_a_secure_cookie_signs_in_over_https(store: CaseStore, tmp_path: Path) -> None:
    env = {"FNO_WEB_SECURE_COOKIE": "1"}  # as behind HTTPS, whatever the mode
    app = replica(store, tmp_path, **env)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as http:
        signed = await web_sign_in(http, "sam", PASSWORDS["sam"])
        inbox = await http.get("/web/account")
    assert signed.status_code == 303
    assert signed.headers["set-cookie"].startswith(f"{SECURE_COOKIE}=")
    assert inbox.status_code == 200


def test_a_provider_session_is_kept_by_the_server_and_ends_at_sign_out(
    store: CaseStore,
) -> None:
    from typing import cast

    from identity.principal import Principal
    from tests.support_web import web_config
    from web.config import signed_in_as, use_store
    from web.oidc import remember

    config = web_config()
    use_store(config, store.engine)
    config.provider = cast(Any, object())  # people sign in with an identity provider
    session = config.sessions.new()
    remember(session, Principal(subject="idp:casey", name="Casey Jo", role="caseworker"))
    unkept = dict(session)  # proved but never written: no session on the server
    config.sessions.write(Response(), session)  # the callback's answer keeps it
    found = signed_in_as(config, session)
    config.sessions.end(session)  # sign-out
    assert found is not None and found[0] == "idp:casey"
    assert signed_in_as(config, session) is None
    assert signed_in_as(config, unkept) is None


async def test_the_users_command_signs_a_user_out_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "home").mkdir()
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'home' / 'casework.db'}")
    app = replica(store, tmp_path)
    monkeypatch.setenv("FNO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FNO_DATABASE_URL", raising=False)
    async with client(app) as laptop, client(app) as colleague:
        await web_sign_in(laptop, "sam", PASSWORDS["sam"])
        await web_sign_in(colleague, "sue", PASSWORDS["sue"])
        ended = users_main(["--file", str(tmp_path / "users.json"), "sign-out", "sam"])
        out = capsys.readouterr().out
        after = [(await h.get("/web/account")).status_code for h in (laptop, colleague)]
    store.engine.dispose()
    assert ended == 0 and "1 web session(s) of sam ended" in out
    assert after == [303, 200]


def test_redis_counters_and_sessions_keep_the_same_rules(redis_url: str) -> None:
    counters = RedisSignInCounters(redis_url, prefix=f"fno:sign-in:{uuid.uuid4().hex}:")
    now = time.time()
    assert all(counters.reserve([("u1", 2), ("ip", 3)], 1.0, now) for _ in range(2))
    assert not counters.reserve([("u1", 2), ("ip", 3)], 1.0, now)
    assert counters.reserve([("u2", 2), ("ip", 3)], 1.0, now)
    assert not counters.reserve([("u3", 2), ("ip", 3)], 1.0, now)  # ip full: u3 not taken
    counters.settle(["u2", "ip"], failed=False, forget=["u2"])
    assert counters.reserve([("u3", 2), ("ip", 3)], 1.0, now)
    assert counters.redis.hgetall(counters.prefix + "u3") == {b"p": b"1"}
    time.sleep(1.1)  # the window is the keys' time to live
    assert counters.reserve([("u1", 2)], 1.0, time.time())
    registry = RedisSessionStore(redis_url)
    registry.begin("s-1", "kim", "fp", time.time() + 60)
    registry.begin("s-2", "kim", None, time.time() + 60)
    registry.begin("s-3", "kim", None, time.time() - 1)  # over already
    assert registry.find("s-1") == ("kim", "fp") and registry.find("s-3") is None
    registry.end("s-1")
    assert registry.find("s-1") is None and registry.count("kim") == 1
    assert registry.end_all("kim") == 1 and registry.find("s-2") is None
