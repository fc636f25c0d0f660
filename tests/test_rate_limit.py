"""Rate limits per proven caller (``access.rate_limit``, ``api.deps``): over the limit a
request is a 429 with ``Retry-After`` and a JSON body saying how long to wait, counted
by the caller's subject (another person is not held up), decisions tighter than reads;
in memory for one process, in Redis shared by several API replicas."""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from access.rate_limit import RateLimitConfigError, RateLimited, RateLimits, Scope, shared
from server.app import create_app
from tests.support import api_identity, bearer, harness

REDIS_URL = os.environ.get("FNO_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _redis_reachable() -> bool:
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


def _need_redis() -> None:
    if not _redis_reachable():
        if os.environ.get("FNO_TEST_REDIS_URL"):  # asked for (.ci/run, when it runs one)
            pytest.fail(f"Redis is not reachable at {REDIS_URL} (FNO_TEST_REDIS_URL)")
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (FNO_TEST_REDIS_URL)")


def _someone() -> str:
    return f"local:t-{uuid.uuid4().hex[:12]}"


def _env(**limits: str) -> dict[str, str]:
    return {f"FNO_RATE_LIMIT_{k.upper()}": v for k, v in limits.items()}


def test_a_caller_over_the_limit_is_told_when_to_come_back_and_others_are_not_held_up():
    limits = RateLimits.from_env(_env(decisions="3/minute", reads="none"))
    sam, ann = _someone(), _someone()
    for _ in range(3):
        limits.hit(Scope.DECISION, sam)
    with pytest.raises(RateLimited) as over:
        limits.hit(Scope.DECISION, sam)
    limits.hit(Scope.DECISION, ann)  # counted by subject
    limits.hit(Scope.READ, sam)  # reads: no limit set
    assert over.value.scope is Scope.DECISION
    assert 1 <= over.value.retry_after <= 60
    assert "3 per minute" in over.value.detail and "Wait" in over.value.detail


def test_the_defaults_hold_decisions_tighter_than_reads():
    limits = RateLimits.from_env({})
    reads, decisions = limits.limits[Scope.READ], limits.limits[Scope.DECISION]
    per_minute = {item.GRANULARITY.name: item.amount for item in reads}
    tighter = {item.GRANULARITY.name: item.amount for item in decisions}
    assert set(per_minute) == set(tighter) == {"minute", "hour"}
    assert all(tighter[w] < per_minute[w] for w in tighter)
    assert limits.limits[Scope.SYSTEM] == []  # systems: the proxy's limits


@pytest.mark.parametrize(
    ("variable", "value"),
    [("FNO_RATE_LIMIT_READS", "lots"), ("FNO_RATE_LIMIT_STORAGE", "bogus://x")],
)
def test_a_setting_that_cannot_be_read_is_refused_naming_it(variable, value):
    with pytest.raises(RateLimitConfigError) as bad:
        RateLimits.from_env({variable: value})
    assert variable in str(bad.value)


def test_replicas_share_their_counts_in_redis_not_in_memory():
    _need_redis()
    env = _env(decisions="4/minute") | {"FNO_RATE_LIMIT_STORAGE": REDIS_URL}
    one, two = RateLimits.from_env(env), RateLimits.from_env(env)  # two API processes
    sam = _someone()
    for replica in (one, two, one, two):
        replica.hit(Scope.DECISION, sam)
    with pytest.raises(RateLimited):
        two.hit(Scope.DECISION, sam)
    with pytest.raises(RateLimited):
        one.hit(Scope.DECISION, sam)
    # In memory each process counts alone: four on each.
    apart = [RateLimits.from_env(_env(decisions="4/minute")) for _ in range(2)]
    ann = _someone()
    for replica in apart:
        for _ in range(4):
            replica.hit(Scope.DECISION, ann)


def test_a_redis_that_does_not_answer_lets_requests_through():
    env = _env(reads="1/minute") | {"FNO_RATE_LIMIT_STORAGE": "redis://127.0.0.1:1"}
    limits = RateLimits.from_env(env)
    sam = _someone()
    for _ in range(3):
        limits.hit(Scope.READ, sam)  # no error: the guard steps aside, and logs it


@asynccontextmanager
async def _api(client, store, limits: RateLimits | None = None):
    async def connect():
        return client

    app = create_app(connect, store, identity=api_identity())
    if limits is not None:
        app.state.rate_limits = limits
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fno") as http,
    ):
        yield http


async def test_the_api_answers_429_with_retry_after_per_person(dev_env, tmp_path, monkeypatch):
    for name, value in _env(reads="4/minute", decisions="2/minute").items():
        monkeypatch.setenv(name, value)
    sam, ann = f"Sam {uuid.uuid4().hex[:8]}", f"Ann {uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path, run_worker=False) as h, _api(h.client, h.store) as api:
        reads = [(await api.get("/me", headers=bearer("caseworker", sam))) for _ in range(5)]
        others = await api.get("/me", headers=bearer("caseworker", ann))
        body = {"reason": "rate test", "decision": {"kind": "detention", "detain": True}}
        who = bearer("caseworker", ann)
        decisions = [
            await api.post("/cases/casework-nope/decisions", json=body, headers=who)
            for _ in range(3)
        ]
    assert [r.status_code for r in reads] == [200, 200, 200, 200, 429]
    limited = reads[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["content-type"].startswith("application/json")
    assert "Wait" in limited.json()["detail"] and "4 per minute" in limited.json()["detail"]
    assert others.status_code == 200  # Ann is not held up by Sam
    # Decisions: the tighter limit (Ann's reads were 1 + 2, under 4).
    assert [d.status_code for d in decisions] == [404, 404, 429]
    assert "decisions" in decisions[-1].json()["detail"]


async def test_two_api_replicas_share_the_count_in_redis(dev_env, tmp_path):
    _need_redis()
    env = _env(reads="3/minute", decisions="none") | {"FNO_RATE_LIMIT_STORAGE": REDIS_URL}
    sam = bearer("caseworker", f"Sam {uuid.uuid4().hex[:8]}")
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        _api(h.client, h.store, RateLimits.from_env(env)) as one,
        _api(h.client, h.store, RateLimits.from_env(env)) as two,
    ):
        codes = [(await api.get("/me", headers=sam)).status_code for api in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]


def test_the_process_keeps_one_set_of_limits_per_configuration():
    env = _env(reads="7/minute")
    assert shared(env) is shared(dict(env))
    assert shared(env) is not shared(_env(reads="8/minute"))


async def test_the_web_app_holds_decisions_to_the_same_limit(dev_env, tmp_path, monkeypatch):
    from tests.support_web import browserless, csrf_of, sign_in

    # A configuration of its own (the process keeps one count per configuration), so
    # "sam"'s decisions in earlier tests do not count here.
    monkeypatch.setenv("FNO_RATE_LIMIT_DECISIONS", f"1/minute;{uuid.uuid4().int % 1000 + 2}/day")
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        browserless(h.client, h.store) as http,
    ):
        await sign_in(http, "sam")
        form = csrf_of((await http.get("/web/inbox")).text)
        data = {
            "kind": "subject_located",
            "f.case_owner": "Sam Jones",
            "f.pending_prosecution": "none",
            "reason": "found him",
            "csrf_token": form,
            "purpose": "decide",
        }
        answers = [
            await http.post("/web/cases/casework-nope/decisions", data=data) for _ in range(2)
        ]
    assert [a.status_code for a in answers] == [404, 429]
    assert 1 <= int(answers[1].headers["Retry-After"]) <= 60
    assert "Too many decisions" in answers[1].text


@pytest.mark.parametrize(
    "setting",
    [
        {"FNO_RATE_LIMIT_READS": "lots"},
        {"FNO_RATE_LIMIT_STORAGE": "carrier-pigeon://loft"},
        {"FNO_CODEC_CONSULTATION_WINDOW": "1e999"},
    ],
)
def test_a_bad_limit_or_window_stops_the_http_process_at_start(
    setting: dict[str, str], tmp_path: Path
) -> None:
    """A malformed per-caller limit or codec consultation window is a refusal to start
    (``server.app.RefusedToStart``, exit status 2), not a 503 on the first request."""
    from runtime.config import Settings
    from server.app import RefusedToStart, app_from_env
    from store.cases import CaseStore
    from tests.support_web import SECRET, users_file
    from web.auth import write_users_file

    users = tmp_path / "users.json"
    write_users_file(users, users_file())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FNO_OIDC", "FNO_WEB_", "FNO_API_", "FNO_RATE_LIMIT_"))
    }
    env |= {
        "FNO_HOME": str(tmp_path / "home"),
        "FNO_LOCAL_ISSUER": "1",
        "FNO_WEB_USERS_FILE": str(users),
        "FNO_WEB_SECRET": SECRET,
    }
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")

    async def never() -> None:
        raise AssertionError("start-up never reaches Temporal")

    app_from_env(env, Settings.from_env(env), connect_to=never, store=store)  # type: ignore[arg-type]
    with pytest.raises(RefusedToStart) as refused:
        app_from_env(env | setting, Settings.from_env(env), connect_to=never, store=store)  # type: ignore[arg-type]
    assert next(iter(setting)) in str(refused.value)
