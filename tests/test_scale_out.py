"""Workers that scale out (issue 23): three ``worker.py`` processes on one task queue,
one killed with SIGKILL while the cases run. The other two carry every case to its
planned outcome, each side effect of the outside world happens exactly once, and the
case store records each case once — nothing lost or done twice for the worker that
went.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from temporalio.client import Client

from access.intake import start_all
from models.policy import compressed_policy
from store.cases import CaseStore
from tests.support import CONVERTER
from tests.support_chaos import (
    DAY,
    DevServer,
    Plan,
    Progress,
    Workers,
    expected_records,
    free_port,
    log_lines,
    process_env,
    side_effects,
    store_records,
)
from tests.support_front_door import signing

pytestmark = [pytest.mark.devserver]


async def test_several_workers_share_the_cases_and_lose_none_when_one_is_killed(tmp_path):
    n = 60
    plan = Plan.make(n, fault_rate=0.0, timeout_rate=0.0)
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    store = CaseStore.migrated(db_url)
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "world.json").write_text(json.dumps(plan.world))
    env = process_env(
        home,
        port,
        db_url,
        "scale",
        FNO_WORLD_FILE=str(tmp_path / "world.json"),
        FNO_POLICY=f"compressed:{DAY}",
    )
    server = DevServer(home, port, free_port())
    fleet = [Workers(env, tmp_path / f"w{i}") for i in range(3)]
    stop = asyncio.Event()
    try:
        for w in fleet:
            w.logs_dir.mkdir()
            w.start()
        for w in fleet:
            await w.ready()
        client = await Client.connect(
            f"localhost:{port}", data_converter=CONVERTER, interceptors=[signing()]
        )
        survivor = fleet[1]
        progress = Progress(client, plan, survivor)
        polling = asyncio.create_task(progress.run(stop))
        started = await start_all(
            client,
            plan.jsonl(plan.events),
            task_queue=env["FNO_TASK_QUEUE"],
            policy=compressed_policy(DAY),
        )
        assert [r.status for r in started] == ["started"] * n
        await asyncio.sleep(2)  # every worker at work on the cases
        fleet[0].kill()
        finished = await progress.wait_all_closed(time.monotonic() + 240)
        stop.set()
        await polling
        open_cases = [] if finished else await progress.still_open()
        worked = [log_lines(w.logs, '"activity": "') for w in fleet]
    finally:
        stop.set()
        for w in fleet[1:]:
            w.stop()
        server.stop()

    assert finished, open_cases[:10]
    assert fleet[0].kills == 1
    assert all(w.alive() is False for w in fleet)
    assert progress.done == plan.expected
    assert side_effects(store.engine, plan.world) == plan.expected_effects()
    assert store_records(store.engine, plan) == expected_records(plan)
    # The two left shared the work (each took activities), the killed one had begun.
    assert worked[1] > 0 and worked[2] > 0 and worked[0] > 0, worked
