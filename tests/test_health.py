"""Liveness and readiness that mean something (issue 23): the worker's
(``processes.health`` on ``FNO_HEALTH_ADDRESS``) and the HTTP API's ``/ready``.

The worker is ready when it polls, Temporal answers, the case store is at this
release's schema and its outside systems answer; each failing check is named by its
code. A worker whose Temporal server has gone is alive (a restart would not help) and
not ready (no traffic for it).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.cases import CaseStore
from store.engine import make_engine
from tests.support import api_client, harness
from tests.support_chaos import DevServer, Workers, free_port, process_env

pytestmark = [pytest.mark.devserver]


async def answer(port: int, path: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(f"http://127.0.0.1:{port}{path}")
    return r.status_code, r.json()


async def until_answer(port: int, path: str, want, *, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        try:
            code, body = await answer(port, path)
            last = (code, body)
            if want(code, body):
                return body
        except httpx.TransportError as err:
            last = type(err).__name__
        await asyncio.sleep(0.3)
    raise AssertionError(f"{path} never answered as wanted; last: {last}")


def worker_env(tmp_path: Path, port: int, health: int, **extra: str) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    CaseStore.migrated(db_url)
    return process_env(
        home, port, db_url, "health", FNO_HEALTH_ADDRESS=f"127.0.0.1:{health}", **extra
    )


async def test_the_worker_is_ready_then_alive_but_not_ready_without_temporal(tmp_path):
    port, health = free_port(), free_port()
    server = DevServer(tmp_path / "server", port, free_port())
    workers = Workers(worker_env(tmp_path, port, health), tmp_path)
    try:
        workers.start()
        await workers.ready()
        ready = await until_answer(health, "/ready", lambda code, _: code == 200)
        live = await answer(health, "/live")
        server.stop()  # Temporal goes away under the running worker
        gone = await until_answer(
            health,
            "/ready",
            lambda code, body: code == 503 and "temporal_unreachable" in body.get("why", []),
        )
        still_live = await answer(health, "/live")
    finally:
        workers.stop()
        server.stop()  # again after a failure: a stopped server is left as it is
    assert ready == {"status": "ready"}
    assert live == (200, {"status": "alive"})
    assert gone["why"] == ["temporal_unreachable"]  # the store and the rest are fine
    assert still_live[0] == 200


async def test_the_worker_names_an_unreachable_world_and_an_old_case_store(tmp_path):
    port, health = free_port(), free_port()
    server = DevServer(tmp_path / "server", port, free_port())
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = worker_env(tmp_path, port, health, FNO_WORLD_URL=nowhere)
    workers = Workers(env, tmp_path)
    try:
        workers.start()
        await workers.ready()
        unreachable = await until_answer(
            health, "/ready", lambda code, body: "world_unreachable" in body.get("why", [])
        )
        # The schema moved on under it (as a new release's migration would leave it).
        engine = make_engine(env["FNO_DATABASE_URL"])
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        both = await until_answer(
            health, "/ready", lambda code, body: "case_store_out_of_date" in body.get("why", [])
        )
        code, _ = await answer(health, "/ready")
    finally:
        workers.stop()
        server.stop()
    assert unreachable["why"] == ["world_unreachable"]
    assert sorted(both["why"]) == ["case_store_out_of_date", "world_unreachable"]
    assert code == 503


async def test_the_api_is_not_ready_on_a_case_store_behind_its_schema(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        async with api_client(h.client, h.store) as api:
            ready = await api.get("/ready")
        with h.store.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        async with api_client(h.client, h.store) as api:
            behind = await api.get("/ready")
    assert ready.status_code == 200
    assert behind.status_code == 503
