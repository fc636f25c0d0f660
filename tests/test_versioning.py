"""A case started on the code of the release before issue 20 finishes on today's.

The release before is taken from the repository itself (``git archive`` of
``BEFORE``): its ``worker.py`` and ``starter.py`` run as processes from that tree, on
the same virtualenv, against a real dev server and one case store — migrated by the old
code, then by the new, as an operator upgrades. The case is started by the old starter
and worked by the old worker until Criminal Casework has tasked ICE (the wait whose
logic issue 20 changed, behind ``workflow.patched``); the old worker is stopped, the new
one started, and the case goes on to its outcome on the new code, with the
caseworker's decisions sent through today's front door. Both histories then replay on
today's code.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from access.decisions import DecisionRefused, request_for, send_decision
from identity.principal import Principal
from models.case import CaseResult, CaseworkState, Outcome, Stage
from runtime.embedded import start_dev_server, stop_process
from store.cases import CaseStore
from tests.support import CODEC_KEYS, CONVERTER, worker_env
from tests.support_chaos import Workers, free_port
from tests.support_front_door import replayer, signing
from tests.test_front_door import markers
from workflows.changes import (
    ALLOCATION,
    ENFORCEMENT_DEADLINE,
    LOCATED_CHECKLIST,
    LOCATED_OWNER_DEADLINE,
    REPLIES_PUSHED,
    STAGE1_TO_REMOVAL,
)

ROOT = Path(__file__).resolve().parent.parent
# main before issue 20: the last commit whose workflows ran cases without its changes.
BEFORE = "82cf12b"
DAY = 1.0  # seconds of a simulated day

# The Polish seed case as the release before knew it (no whereabouts on the event).
EVENT = {
    "force": "hampshire",
    "custody_reference": "HC-OLD-CODE-1",
    "reason": "arrest",
    "encountered_at": "2017-12-04T10:30:00Z",
    "uk_matter": "theft (Winchester)",
    "subject": {
        "family_name": "Nowak",
        "given_names": "Tomasz",
        "date_of_birth": "1979-02-11",
        "nationality": "PL",
        "father_name": "Jerzy",
        "mother_name": "Halina",
        "place_of_birth": "Lodz",
        "pnc_id": "17/990401P",
    },
    "requesting_officer": {"name": "PC Mizen", "email": "pc.mizen@hampshire.police.uk"},
}
WORLD = {
    "seed": 7,
    "subjects": {
        "17/990401P": {
            "replies": {
                "PL": {
                    "after_days": 1,
                    "convictions": [
                        {
                            "offence": "ARMED_ROBBERY",
                            "convicted_on": "2008-03-11",
                            "sentence": "5 years",
                        }
                    ],
                    "certificate_purpose": "immigration_deportation",
                }
            },
            "left_uk": False,
            "located_after_days": 20,
        }
    },
}

SAM = Principal(subject="local:sam", name="Sam Jones", role="caseworker")
HALE = Principal(subject="local:hale", name="Officer Hale", role="ice_officer")
DEPORT_NEEDED = {
    "address_known": True,
    "in_country_right_of_appeal": False,
    "foreign_convictions": "as certified",
    "uk_convictions": "as on the PNC",
    "outstanding_uk_activity": "none",
}
GATE = Principal(subject="local:dee", name="Dee Gate", role="detention_gatekeeper")
CORA = Principal(subject="local:cora", name="Cora Lind", role="cc_manager")
# What the caseworker decides when the case awaits each kind (whatever the code's order).
ANSWERS: dict[str, tuple[Principal, dict[str, Any]]] = {
    "subject_located": (SAM, {"kind": "subject_located", "case_owner": "Sam Jones"}),
    # issue 21: on the new code a CC manager allocates the located case.
    "allocate_case": (
        CORA,
        {"kind": "allocate_case", "owner_id": "local:sam", "owner_name": "Sam Jones", "team": "T1"},
    ),
    # issue 21 (h1): the located checklist, and the Detention Gatekeeper
    "offending_history_review": (
        SAM,
        {"kind": "offending_history_review", "offended_abroad_since": False},
    ),
    "investigating_officer_answer": (
        SAM,
        {
            "kind": "investigating_officer_answer",
            "officer_reference": "IO-1",
            "information_held": False,
            "redocumentation": "none_held",
        },
    ),
    "pending_prosecution": (SAM, {"kind": "pending_prosecution", "charges": 0}),
    "detention": (SAM, {"kind": "detention", "detain": True}),
    "detention_gatekeeper": (GATE, {"kind": "detention_gatekeeper", "accept": True}),
    # issue 21: Stage 1 and the order on instruction; the decisions' needed fields.
    "serve_stage1": (SAM, {"kind": "serve_stage1", "means": "in_person", "sufficient_time": True}),
    "deportation": (SAM, {"kind": "deportation", "decision": "deport", **DEPORT_NEEDED}),
    "serve_deportation_order": (SAM, {"kind": "serve_deportation_order", "means": "in_person"}),
    "deportation_enforced": (
        HALE,
        {"kind": "deportation_enforced", "removed_on": "2018-05-10", "removal_reference": "R-1"},
    ),
}


def old_tree(into: Path, before: str = BEFORE) -> Path:
    """The product as it was at ``before`` (its migrations, workflows, worker)."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to take the release before from the repository")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", before], capture_output=True, check=False
    )
    if archive.returncode != 0:
        pytest.skip(f"commit {before} is not in this clone: {archive.stderr.decode()[:200]}")
    into.mkdir()
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_old(tree: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


async def stage_of(handle: WorkflowHandle[Any, Any]) -> Stage | None:
    try:
        return (await handle.query("state")).stage  # type: ignore[no-any-return]
    except Exception:
        return None  # not started yet, or no worker to answer for a moment


async def until_stage_name(handle: WorkflowHandle[Any, Any], name: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = await raw_state(handle)
        if raw is not None and raw.get("stage") == Stage[name].value:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{handle.id} did not reach {name} within {within:g}s")


async def until_polled(handle: WorkflowHandle[Any, Any], within: float) -> None:
    """Until every check of the encounter has been asked and polled at least once."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = await raw_state(handle)
        checks = (raw or {}).get("checks") or {}
        if checks and all(c.get("request_ref") and c.get("polls", 0) >= 1 for c in checks.values()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{handle.id} was not polled within {within:g}s")


async def raw_state(handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    """The state as JSON, whichever code's model answers."""
    try:
        value = await handle.query("state", result_type=dict)
    except Exception:
        return None
    return value  # type: ignore[no-any-return]


# Issue 21: the release before it (issue 20's last commit), the case paused where a CC
# manager's allocation, the checklist and Stage 1 on instruction are all still ahead.
BEFORE_21 = "13b4df7"
# Issue 22: the release before it, the encounter left polling ACRO for the country's
# reply (the wait whose logic issue 22 changed: replies are pushed in now).
BEFORE_22 = "d606a28"
RELEASES = {
    # release, where the old worker leaves the case, the event's whereabouts
    "before issue 20": (BEFORE, "ICE_TASKING", None),
    "before issue 21": (BEFORE_21, "LOCATED_AWAITING_OWNER", "address_known"),
    "before issue 22": (BEFORE_22, "encounter:AWAITING_COUNTRY_REPLY", None),
}
REPLY_AFTER_DAYS = {"before issue 22": 8}  # a reply still to come when the code changes


@pytest.mark.devserver
@pytest.mark.parametrize("release", list(RELEASES))
async def test_a_case_started_on_the_release_before_finishes_on_this_one(tmp_path, release):
    before, pause, whereabouts = RELEASES[release]
    old = old_tree(tmp_path / "old", before)
    home = tmp_path / "home"
    home.mkdir()
    db_url = f"sqlite:///{tmp_path / 'casework.db'}"
    world_file = tmp_path / "world.json"
    world = json.loads(json.dumps(WORLD))
    if release in REPLY_AFTER_DAYS:
        world["subjects"]["17/990401P"]["replies"]["PL"]["after_days"] = REPLY_AFTER_DAYS[release]
    world_file.write_text(json.dumps(world))
    events = tmp_path / "events.jsonl"
    event = EVENT | ({"whereabouts": whereabouts} if whereabouts else {})
    events.write_text(json.dumps(event) + "\n")
    port, ui_port = free_port(), free_port()
    task_queue = f"versioning-{uuid.uuid4()}"
    env = worker_env(f"localhost:{port}", home, db_url, world_file, DAY, task_queue)
    run_old(old, env, "-m", "store.migrate", "upgrade")  # the schema of the old release
    server = start_dev_server(home, port, ui_port)
    old_workers = Workers(env, tmp_path)
    new_workers = Workers(env, tmp_path / "new")
    (tmp_path / "new").mkdir()
    try:
        client = await Client.connect(
            f"localhost:{port}", data_converter=CONVERTER, interceptors=[signing()]
        )
        # The old release: its worker, and its starter taking the custody event.
        old_workers.start(old)
        await old_workers.ready()
        run_old(old, env, "starter.py", str(events))
        encounter = client.get_workflow_handle("encounter-hampshire-HC-OLD-CODE-1")
        if pause.startswith("encounter:"):  # the upgrade while the encounter waits
            await until_stage_name(encounter, pause.removeprefix("encounter:"), within=90)
            await until_polled(encounter, within=90)  # asked, and polled once, on old code
            old_workers.stop()
            CaseStore.migrated(db_url).engine.dispose()
            new_workers.start()
            await new_workers.ready()
        deadline = time.monotonic() + 90
        casework_id = None
        while casework_id is None and time.monotonic() < deadline:
            raw = await raw_state(encounter)
            casework_id = raw and raw.get("casework_id")
            await asyncio.sleep(0.3)
        assert casework_id, "the old code did not refer the case to Criminal Casework"
        casework = client.get_workflow_handle(casework_id)
        if not pause.startswith("encounter:"):
            await until_stage_name(casework, pause, within=90)
            old_workers.stop()

            # The upgrade: the store migrated by the new code, then the new worker.
            CaseStore.migrated(db_url).engine.dispose()
            new_workers.start()
            await new_workers.ready()
        await finish_on_new_code(client, casework)
        typed = client.get_workflow_handle(encounter.id, result_type=CaseResult)
        encounter_result = await asyncio.wait_for(typed.result(), 60)
        assert encounter_result.outcome is Outcome.DEPORTED
        described = await casework.describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED
        histories = [await encounter.fetch_history(), await casework.fetch_history()]
        taken = await markers(casework)
        taken_by_encounter = await markers(encounter)
    finally:
        old_workers.stop()
        new_workers.stop()
        stop_process(server, "dev server")
    # The new code took its new paths from where the old code had left the case: once
    # ICE found the subject the allocation had a deadline, and so had the enforcement
    # (their patch markers). Issue 21: past Stage 1 on instruction (its marker), whose
    # enforcement always has its deadline, the older enforcement patch is not asked.
    assert LOCATED_OWNER_DEADLINE in taken and STAGE1_TO_REMOVAL in taken, taken
    assert ENFORCEMENT_DEADLINE not in taken, taken
    assert LOCATED_CHECKLIST in taken, taken
    if pause.startswith("encounter:"):
        # The check asked on the old code was polled to its reply on the new (no
        # push marker); the casework case it led to began on the new code.
        assert REPLIES_PUSHED not in taken_by_encounter, taken_by_encounter
        assert ALLOCATION in taken, taken
    elif pause == "LOCATED_AWAITING_OWNER":
        # Waiting for the old allocation when the code changed: it stays on that path
        # (the located report names the owner), then takes every later change.
        assert ALLOCATION not in taken, taken
    else:
        assert ALLOCATION in taken, taken
    for history in histories:
        result = await replayer(CODEC_KEYS).replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def finish_on_new_code(client: Client, casework: WorkflowHandle[Any, Any]) -> None:
    """Answer what the case awaits until it closes (on today's code and models)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = await casework.query("state", result_type=CaseworkState)
        if state.stage is Stage.CLOSED:
            assert state.outcome.name == "DEPORTED", state.outcome
            return
        for kind in state.awaiting:
            if kind not in ANSWERS or state.stage is Stage.ICE_TASKING:
                continue  # ICE is to find the subject: its answer goes on the new path
            person, decision = ANSWERS[kind]
            reason = "as the case file shows"
            try:
                await send_decision(
                    client, casework.id, person, request_for(person, reason, decision)
                )
            except DecisionRefused:
                pass  # taken meanwhile, or not yet: looked at again
            break
        await asyncio.sleep(0.3)
    raise AssertionError(f"{casework.id} did not close on the new code: {datetime.now(UTC)}")
