"""The case trusts only the front door (issue 18), on the time-skipping server, with a
worker that checks assertions as ``worker.py``'s does (``processes.front_door``).

Each attack of the issue is tried and does no harm: a raw ``decide`` update without
the front door's assertion, or with one made for another case, request or contents,
or signed with another key, is refused and the case is unchanged; a forged start
fails before any step; the Director's approval from whoever submitted "deportation
not pursued" is refused by the case; unencrypted payloads are refused without failing
a workflow task. Cases recorded before the front door replay and finish on it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowIdReusePolicy
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import (
    Client,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
)
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.exceptions import ApplicationError

from models.case import (
    CASEWORK_WORKFLOW,
    ENCOUNTER_WORKFLOW,
    CaseworkInput,
    EncounterInput,
    Outcome,
    Stage,
)
from models.decisions import DecisionRefusal, DecisionRequest
from models.notification import NOTIFICATION_WORKFLOW, NotificationInput
from processes.front_door import REFUSED, START_REFUSED, START_TRUSTED, FrontDoorWorker
from processes.worker import make_worker
from runtime.codec import FORGED_TYPE, UNENCRYPTED
from runtime.codec_keys import CodecKeys
from runtime.config import connect
from runtime.front_door import (
    CASE_PROCESS,
    HEADER,
    Actor,
    AssertionRefused,
    FrontDoor,
    FrontDoorConfigError,
    acting_as,
    ensure_local_key,
    front_door_keys,
    read,
    require_front_door_keys,
    sign,
    unsigned_starts_trusted_before,
)
from runtime.front_door import main as front_door_cli
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    CODEC_KEYS,
    CONVERTER,
    FACTORS,
    NOT_DETAINED,
    allocate,
    awaiting_kind,
    casework_awaiting,
    codec_env,
    custody_event,
    decide,
    decision,
    deport_fields,
    eventually,
    gatekeeper_accepts,
    harness,
    key_of,
    patient_policy,
    state_of,
    through_checklist,
    until,
)
from tests.support_front_door import (
    FRONT_DOOR_KEYS,
    checking,
    front_door_env,
    replayer,
)
from workflows import WORKFLOWS
from workflows.encounter import EncounterWorkflow

ROOT = Path(__file__).resolve().parent.parent
SAM = ("local:sam", "Sam Jones", "caseworker")
DANA = ("local:dana", "Dana Reyes", "director")
TESTS_SAM = [("tests:Sam Jones", "Sam Jones")]  # Sam as tests.support.decide proves him


def anonymous(actor: str, role: str, reason: str, **d: Any) -> DecisionRequest:
    """A decision that carries no stable identity (as before the front door filled it)."""
    return decision(actor, role, reason, **d).model_copy(update={"actor_id": None})


def as_person(who: tuple[str, str, str], reason: str, **d: Any) -> DecisionRequest:
    actor_id, actor, role = who
    return decision(actor, role, reason, **d).model_copy(update={"actor_id": actor_id})


async def decide_as(handle: WorkflowHandle[Any, Any], who: tuple[str, str, str], req: Any) -> Any:
    """A decision through the front door: signed for the person it names."""
    with acting_as(*who):
        return await decide(handle, req)


def client_like(h: Any, *, interceptors: list[Any], converter: Any = CONVERTER) -> Client:
    """Another client of the test's server: its own converter and interceptors."""
    return Client(
        h.client.service_client,
        namespace=h.client.namespace,
        data_converter=converter,
        interceptors=interceptors,
    )


def refusal(raised: pytest.ExceptionInfo[Any]) -> ApplicationError:
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def event_types(handle: WorkflowHandle[Any, Any]) -> list[int]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def markers(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The patch IDs a case's history records (Core's ``core_patch`` markers; not the
    markers of local activities)."""
    found = []
    for e in (await handle.fetch_history()).events:
        details = e.marker_recorded_event_attributes.details
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and "patch-data" in details:
            for payload in details["patch-data"].payloads:
                found.append(json.loads(payload.data)["id"])
    return found


async def front_door_markers(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The front door's patch IDs a case's history records (not other changes')."""
    return [m for m in await markers(handle) if m in (START_TRUSTED, START_REFUSED)]


LOCATED = ("ICE confirmed address", {"kind": "subject_located", "case_owner": "Sam Jones"})


# --- decisions ---------------------------------------------------------------------------


async def test_a_raw_update_without_the_front_door_is_refused_and_the_case_unchanged(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        casework = await casework_awaiting(h, "subject_located")
        before = (await state_of(casework)).model_dump()
        req = as_person(SAM, LOCATED[0], **LOCATED[1])
        # `temporal workflow update execute --name decide`: a client with the codec key
        # but not the front door's.
        raw = client_like(h, interceptors=[]).get_workflow_handle(casework.id)
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await raw.execute_update("decide", req)
        assert refusal(raised).type == REFUSED
        # A client holding the key, but declaring a person it did not prove.
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await casework.execute_update("decide", req)  # signed as the harness, naming Sam
        assert refusal(raised).type == REFUSED
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide_as(casework, SAM, req.model_copy(update={"actor_id": "local:alex"}))
        assert refusal(raised).type == REFUSED
        assert (await state_of(casework)).model_dump() == before
        # Through the front door, the same decision is taken.
        await decide_as(casework, SAM, req)
        state = await until(casework, lambda s: s.located, what="located", skip=h.env)
        [entry] = [e for e in state.timeline if e.kind == "decision"]
        assert entry.data["actor_id"] == "local:sam"


class _Header(ClientInterceptor):
    """A client that sends a header it was given: one captured elsewhere, or forged."""

    def __init__(self, payload: Payload) -> None:
        self.payload = payload

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        payload = self.payload

        class _Out(OutboundInterceptor):
            async def start_workflow_update(
                self, input: StartWorkflowUpdateInput
            ) -> WorkflowUpdateHandle[Any]:
                input.headers = {**input.headers, HEADER: payload}
                return await self.next.start_workflow_update(input)

        return _Out(next)


@pytest.mark.parametrize(
    "forgery", ["another case", "another request", "altered contents", "another key"]
)
async def test_an_assertion_made_for_something_else_is_refused(ts_env, tmp_path, forgery):
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        casework = await casework_awaiting(h, "subject_located")
        before = (await state_of(casework)).model_dump()
        req = as_person(SAM, LOCATED[0], **LOCATED[1])
        signed_for: dict[str, Any] = {
            "workflow_id": casework.id,
            "op": "update",
            "target": "decide",
            "args": [req],
            "update_id": "decision-1",
        }
        keys = FRONT_DOOR_KEYS
        if forgery == "another case":
            signed_for["workflow_id"] = "casework-someone-else"
        elif forgery == "another request":
            signed_for["update_id"] = "decision-0"
        elif forgery == "altered contents":  # signed as the caseworker, sent as Director
            req = req.model_copy(update={"role": "director"})
        else:
            keys = CodecKeys.generate("attacker")
        header = sign(keys, Actor(*SAM), **signed_for)
        sender = client_like(h, interceptors=[_Header(header)])
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await sender.get_workflow_handle(casework.id).execute_update(
                "decide", req, id="decision-1"
            )
        assert refusal(raised).type == REFUSED
        assert (await state_of(casework)).model_dump() == before


# --- separation of duties ------------------------------------------------------------------


async def test_the_director_approval_from_the_author_of_not_pursued_is_refused(ts_env, tmp_path):
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        casework = await casework_awaiting(h, "subject_located")
        await decide_as(casework, SAM, as_person(SAM, LOCATED[0], **LOCATED[1]))
        # issue 21: allocated to Sam (the checklist's helper decides as tests:Sam Jones)
        await allocate(casework, SAM[1], owner_id=SAM[0], stand_ins=TESTS_SAM, skip=h.env)
        await through_checklist(h, casework)
        await until(casework, lambda s: "detention" in s.awaiting, what="detention", skip=h.env)
        await decide_as(casework, SAM, as_person(SAM, "low risk", **NOT_DETAINED))
        await until(casework, lambda s: "serve_stage1" in s.awaiting, what="Stage 1", skip=h.env)
        await decide_as(
            casework, SAM, as_person(SAM, "serve", kind="serve_stage1", means="in_person")
        )
        await until(casework, lambda s: "deportation" in s.awaiting, what="window", skip=h.env)
        reasons = {"submission_reasons": "weak case: not appropriate", **FACTORS}
        await decide_as(
            casework,
            SAM,
            as_person(SAM, "weak case", kind="deportation", decision="not_pursued", **reasons),
        )
        state = await until(
            casework, lambda s: "director_approval" in s.awaiting, what="Director", skip=h.env
        )
        assert (state.not_pursued_by, state.not_pursued_by_id) == ("Sam Jones", "local:sam")
        before = state.model_dump()
        # Sam, proven by the front door, holding the Director's role too.
        sam_as_director = ("local:sam", "Sam Jones", "director")
        approval = {"kind": "director_approval", "approve": True}
        attempts = [
            (sam_as_director, as_person(sam_as_director, "fine by me", **approval)),
            # No stable identity on the request: the same name is the same person.
            (sam_as_director, anonymous("sam jones ", "director", "fine by me", **approval)),
        ]
        for who, req in attempts:
            with (
                acting_as(who[0], req.actor, req.role),
                pytest.raises(WorkflowUpdateFailedError) as raised,
            ):
                await decide(casework, req)
            cause = refusal(raised)
            assert cause.type != REFUSED  # the front door let it in; the case refused it
        assert (await state_of(casework)).model_dump() == before
        await decide_as(casework, DANA, as_person(DANA, "agreed", **approval))
        state = await until(
            casework, lambda s: "admin_removal_referral" in s.awaiting, what="referral", skip=h.env
        )
        assert state.director_approved is True


# --- starts ------------------------------------------------------------------------------------


def start_input(kind: str, case_id: str) -> Any:
    event = custody_event(nationality="PL")
    if kind == ENCOUNTER_WORKFLOW:
        return EncounterInput(event=event, subject_key=key_of(event))
    if kind == CASEWORK_WORKFLOW:
        return CaseworkInput(case_id=case_id, subject_key=key_of(event), nationality="PL")
    return NotificationInput(
        notification_id=case_id,
        conviction_key="c-1",
        country="PL",
        file_sequence=1,
        recorded_at=datetime(2026, 1, 5, tzinfo=UTC),
        conviction_document_id="conviction-c-1",
    )


@pytest.mark.parametrize("kind", [ENCOUNTER_WORKFLOW, CASEWORK_WORKFLOW, NOTIFICATION_WORKFLOW])
async def test_a_forged_start_fails_before_any_step(ts_env, tmp_path, kind):
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        case_id = f"forged-{kind.lower()}"
        inp = start_input(kind, case_id)
        # `temporal workflow start --type …` with the codec key, without the front door.
        raw = client_like(h, interceptors=[])
        handle = await raw.start_workflow(kind, inp, id=case_id, task_queue=h.task_queue)
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()
        cause = refusal(raised)
        assert (cause.type, cause.non_retryable) == (REFUSED, True)
        types = await event_types(handle)
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types
        assert await front_door_markers(handle) == [START_REFUSED]
        # The same start through the front door (signed by the harness) is trusted.
        trusted = await h.client.start_workflow(
            kind, inp, id=f"{case_id}-2", task_queue=h.task_queue
        )
        assert await eventually(lambda: front_door_markers(trusted), what="first task") == [
            START_TRUSTED
        ]
        await trusted.terminate(reason="test over")


async def test_a_forged_start_does_not_block_the_real_custody_event(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.001)}))
        inp = EncounterInput(event=event, subject_key=key_of(event), policy=h.policy)
        # Someone with Temporal access takes the event's case ID first, unsigned.
        raw = client_like(h, interceptors=[])
        forged = await raw.start_workflow(
            ENCOUNTER_WORKFLOW, inp, id=event.case_id(), task_queue=h.task_queue
        )
        h.started.append(forged.id)
        with pytest.raises(WorkflowFailureError):
            await forged.result()
        real = await h.start(event, via_intake=True)  # the custody system's event
        state = await until(real, lambda s: s.stage.name == "CLOSED", skip=ts_env)
        assert state.outcome is not None and state.outcome.name == "NO_TRACE"
        assert await front_door_markers(real) == [START_TRUSTED]


# --- unencrypted payloads ------------------------------------------------------------------


class Junk(PayloadCodec):
    """Payloads that claim to be encrypted (``binary/encrypted``, with or without a real
    key ID) and hold junk: what anyone with Temporal access can send without the key."""

    def __init__(self, key_id: str | None) -> None:
        self.key_id = key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        meta = {"encoding": b"binary/encrypted"}
        if self.key_id:
            meta["encryption-key-id"] = self.key_id.encode()
        return [Payload(metadata=meta, data=b"junkjunkjunkjunk" * 3) for _ in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def _converter(payloads: str) -> DataConverter:
    """Payloads in clear (no codec), or junk claiming to be encrypted."""
    if payloads == "unencrypted":
        return pydantic_data_converter
    key_id = CODEC_KEYS.current if payloads == "forged-real-key-id" else None
    return DataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=Junk(key_id),
    )


@pytest.mark.parametrize(
    ("payloads", "refused_as"),
    [
        ("unencrypted", UNENCRYPTED),
        ("forged-no-key-id", FORGED_TYPE),
        ("forged-real-key-id", FORGED_TYPE),
    ],
)
async def test_a_payload_not_encrypted_by_the_product_is_refused_without_failing_a_task(
    ts_env, tmp_path, payloads, refused_as
):
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        casework = await casework_awaiting(h, "subject_located")
        before = (await state_of(casework)).model_dump()
        # Through the front door, but without the codec's encryption.
        sender = client_like(
            h, interceptors=[FrontDoor(FRONT_DOOR_KEYS)], converter=_converter(payloads)
        )
        handle = sender.get_workflow_handle(casework.id)
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide_as(handle, SAM, as_person(SAM, LOCATED[0], **LOCATED[1]))
        assert refusal(raised).type == refused_as
        refused = DecisionRefusal(actor="Sam Jones", role="caseworker", kind="x", reason="r")
        with acting_as(*SAM):
            await handle.signal("decision_refused", refused)  # dropped by the worker
            await casework.signal("decision_refused", refused)  # encrypted: taken
        state = await until(
            casework, lambda s: any(e.kind == "refusal" for e in s.timeline), what="signal"
        )
        assert [e.kind for e in state.timeline].count("refusal") == 1
        assert state.stage.name == before["stage"].name
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in await event_types(casework)
        # A start so sent fails at once, whoever signed it.
        case_id = f"{payloads}-start"
        inp = start_input(ENCOUNTER_WORKFLOW, case_id)
        started = await sender.start_workflow(
            ENCOUNTER_WORKFLOW, inp, id=case_id, task_queue=h.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await started.result()
        assert refusal(failed).type == refused_as
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in await event_types(started)


# --- the worker's own starts, replay, and cases older than the front door -------------------


def worker_on(h: Any, client: Client, *, checks: bool) -> Any:
    """A worker on ``client`` (its activities' starts sign as that client does): with
    the front door's checks (today's code) or without (the code before it)."""
    return h.running(client=client, interceptors=[checking()] if checks else [])


@pytest.mark.devserver
async def test_an_old_case_started_without_the_front_door_finishes_on_it(dev_env, tmp_path):
    """On the dev server, in real time: the worker is replaced mid-case as in a
    deployment (on the time-skipping server the case's next task waited for the worker
    that had left)."""
    async with harness(dev_env, tmp_path, policy=patient_policy(), run_worker=False) as h:
        event = custody_event(nationality="PL")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="GBH")])
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=1))
        old_client = client_like(h, interceptors=[])
        # Before the change: no assertion anywhere, a worker that checks none.
        async with worker_on(h, old_client, checks=False):
            encounter = await old_client.start_workflow(
                ENCOUNTER_WORKFLOW,
                EncounterInput(event=event, subject_key=key_of(event), policy=h.policy),
                id=event.case_id(),
                task_queue=h.task_queue,
            )
            h.started.append(event.case_id())
            h.subjects[event.case_id()] = key_of(event)
            state = await until(encounter, lambda s: s.casework_id is not None, what="referral")
            casework = h.client.get_workflow_handle(state.casework_id)
            await until(casework, lambda s: "subject_located" in s.awaiting, what="located")
        # After it: the worker checks, and signs its own starts as the case process.
        worker_client = client_like(h, interceptors=[FrontDoor(FRONT_DOOR_KEYS, CASE_PROCESS)])
        async with worker_on(h, worker_client, checks=True):
            await decide_as(casework, SAM, as_person(SAM, LOCATED[0], **LOCATED[1]))
            await allocate(casework, SAM[1], owner_id=SAM[0], stand_ins=TESTS_SAM)  # issue 21
            await through_checklist(h, casework)
            await until(casework, lambda s: "detention" in s.awaiting, what="detention")
            await decide_as(casework, SAM, as_person(SAM, "risk", kind="detention", detain=True))
            kind, gatekeeper = gatekeeper_accepts()
            await awaiting_kind(h, casework, kind)
            await decide(casework, gatekeeper)
            await until(casework, lambda s: "serve_stage1" in s.awaiting, what="Stage 1")
            serve = {"kind": "serve_stage1", "means": "in_person"}
            await decide_as(casework, SAM, as_person(SAM, "serve", **serve))
            await until(casework, lambda s: "deportation" in s.awaiting, what="window")
            await decide_as(casework, SAM, as_person(SAM, "serious", **deport_fields()))
            await until(casework, lambda s: "serve_deportation_order" in s.awaiting, what="order")
            order = {"kind": "serve_deportation_order", "means": "in_person"}
            await decide_as(casework, SAM, as_person(SAM, "signed", **order))
            await until(casework, lambda s: "deportation_enforced" in s.awaiting, what="removal")
            ice = ("local:hale", "Officer Hale", "ice_officer")
            removed = {"removed_on": "2018-05-10", "removal_reference": "R-1"}
            await decide_as(
                casework,
                ice,
                as_person(ice, "escorted", kind="deportation_enforced", **removed),
            )
            result = await h.client.get_workflow_handle_for(
                EncounterWorkflow.run, encounter.id
            ).result()
            # A new case on the same worker: its referral is signed by the case process.
            later = custody_event(nationality="PL")
            h.world(later, SubjectSpec(replies={"PL": reply}, located_after_days=None))
            new = await h.start(later)
            state = await until(new, lambda s: s.casework_id is not None, what="referral")
            new_casework = h.client.get_workflow_handle(state.casework_id)
            await until(
                new_casework,
                lambda s: s.stage is not Stage.DISCLOSABILITY_CHECK,
                what="casework",
            )
    assert result.outcome is Outcome.DEPORTED
    # Versioning: the old cases recorded no front-door marker and were trusted on replay;
    # the new ones record the live verdict. (Other changes' patch markers aside.)
    assert await front_door_markers(encounter) == [] == await front_door_markers(casework)
    assert (
        await front_door_markers(new) == [START_TRUSTED] == await front_door_markers(new_casework)
    )
    started = (await new_casework.fetch_history()).events[0]
    header = started.workflow_execution_started_event_attributes.header.fields
    assert read(FRONT_DOOR_KEYS, header)["sub"] == CASE_PROCESS.actor_id
    # Both kinds of history replay with the checks — even once the key that signed the
    # new ones is gone: the verdict is the recorded marker.
    rotated = CodecKeys.generate("after-rotation")
    for handle in (encounter, casework, new, new_casework):
        history = await handle.fetch_history()
        replayed = await replayer(CODEC_KEYS, front_door=rotated).replay_workflow(
            history, raise_on_replay_failure=False
        )
        assert replayed.replay_failure is None, (handle.id, replayed.replay_failure)


# --- the key -------------------------------------------------------------------------------


def test_the_key_is_configured_like_the_codec_keys(tmp_path):
    text = FRONT_DOOR_KEYS.to_json()
    path = tmp_path / "key.json"
    path.write_text(text)
    assert front_door_keys({"FNO_FRONT_DOOR_KEY": text}) == FRONT_DOOR_KEYS
    assert front_door_keys({"FNO_FRONT_DOOR_KEY_FILE": str(path)}) == FRONT_DOOR_KEYS
    assert front_door_keys({"FNO_HOME": str(tmp_path)}) is None  # none: unsigned clients
    for bad in (
        {"FNO_FRONT_DOOR_KEY": text, "FNO_FRONT_DOOR_KEY_FILE": str(path)},
        {"FNO_FRONT_DOOR_KEY": "not json"},
        {"FNO_FRONT_DOOR_KEY": '{"keys": {"k": "c2hvcnQ="}}'},  # 5 bytes
        {"FNO_FRONT_DOOR_KEY_FILE": str(tmp_path / "missing.json")},
    ):
        with pytest.raises(FrontDoorConfigError):
            front_door_keys(bad)
    with pytest.raises(FrontDoorConfigError):
        require_front_door_keys({"FNO_HOME": str(tmp_path)})  # the worker will not start


def test_make_run_creates_a_local_key_readable_by_its_owner_only(tmp_path):
    assert ensure_local_key(tmp_path, {})
    assert (tmp_path / "front-door-key").stat().st_mode & 0o777 == 0o600
    # Found in FNO_HOME in local mode only (outside it: tests/test_secrets.py).
    assert front_door_keys({"FNO_HOME": str(tmp_path), "FNO_LOCAL_MODE": "1"}) is not None
    assert not ensure_local_key(tmp_path, {})  # kept across runs
    other = tmp_path / "configured"
    assert not ensure_local_key(other, {"FNO_FRONT_DOOR_KEY": FRONT_DOOR_KEYS.to_json()})
    assert not other.exists()


def test_a_rotated_key_verifies_what_the_old_one_signed(tmp_path):
    path = tmp_path / "front-door.json"
    assert front_door_cli(["rotate", "--file", str(path)]) == 0
    old = CodecKeys.from_json(path.read_text(), source="test")
    assert front_door_cli(["rotate", "--file", str(path)]) == 0
    both = CodecKeys.from_json(path.read_text(), source="test")
    assert set(both.keys) > set(old.keys) and both.current not in old.keys
    args: dict[str, Any] = {"workflow_id": "w", "op": "start", "target": ENCOUNTER_WORKFLOW}
    signed_before = {HEADER: sign(old, Actor(*SAM), args=[], **args)}
    assert read(both, signed_before)["sub"] == SAM[0]  # in flight during the rotation
    signed_after = {HEADER: sign(both, Actor(*SAM), args=[], **args)}
    with pytest.raises(AssertionRefused):
        read(old, signed_after)  # a worker not yet given the new key refuses


def test_a_worker_of_the_case_workflows_needs_the_key():
    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError):
        make_worker(None, "tq", WORKFLOWS, [], pool)  # type: ignore[arg-type]


async def test_connect_signs_when_a_key_is_configured(ts_env, tmp_path):
    env = {
        "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
        # Not the checkout's .fno: after a `make run` there, its local key would sign.
        "FNO_HOME": str(tmp_path),
        **codec_env(),
    }
    unsigned = await connect(env)
    signed = await connect(env | front_door_env(), acting_for=CASE_PROCESS)
    assert not [i for i in unsigned.config()["interceptors"] if isinstance(i, FrontDoor)]
    [door] = [i for i in signed.config()["interceptors"] if isinstance(i, FrontDoor)]
    assert door.keys == FRONT_DOOR_KEYS and door.default == CASE_PROCESS


@pytest.mark.parametrize(
    "command",
    [["worker.py"], ["starter.py", "examples/custody_events.jsonl"]],
    ids=["worker", "starter"],
)
def test_the_worker_and_the_starter_refuse_to_start_without_the_key(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FNO_", "TEMPORAL_"))}
    env |= codec_env() | {"FNO_HOME": str(tmp_path / "nowhere"), "FNO_LOG_FORMAT": "json"}
    env["FNO_LOCAL_MODE"] = "1"  # even there, no key is made up (other secrets: test_secrets)
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "FNO_FRONT_DOOR_KEY" in run.stderr  # the setting to give, named


@pytest.mark.parametrize("recorded", ["before the upgrade", "after it"])
async def test_an_unsigned_start_from_before_the_upgrade_is_trusted(ts_env, tmp_path, recorded):
    """FNO_FRONT_DOOR_SINCE: a case the old intake started while no worker ran (its ID,
    one per custody event, is never reused) is taken by the new worker."""
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="PL")
        h.world(event, SubjectSpec(replies={}, located_after_days=None))
        raw = client_like(h, interceptors=[])  # the intake before the front door
        handle = await raw.start_workflow(
            ENCOUNTER_WORKFLOW,
            EncounterInput(event=event, subject_key=key_of(event), policy=h.policy),
            id=event.case_id(),
            task_queue=h.task_queue,
        )
        h.started.append(handle.id)
        started_at = (await handle.describe()).start_time
        assert started_at is not None
        since = (
            started_at + timedelta(seconds=1)
            if recorded == "before the upgrade"
            else (started_at - timedelta(seconds=1))
        )
        upgraded = FrontDoorWorker(FRONT_DOOR_KEYS, trust_unsigned_before=since)
        async with h.running(interceptors=[upgraded]):
            found = await eventually(lambda: front_door_markers(handle), what="first task")
    assert found == ([START_TRUSTED] if recorded == "before the upgrade" else [START_REFUSED])


ALLOW_DUPLICATE = WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE


async def test_a_start_copied_from_a_closed_cases_history_is_refused(ts_env, tmp_path):
    """The assertion and the encrypted input of a start are in its history: sent again
    later (a new run of a closed case), the start is refused — the assertion was not
    made at the start the server recorded."""
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.001)}))
        # JWT's iat is whole seconds and a busy machine delays the start: a window of
        # a few seconds, still far shorter than the copy's wait below.
        window = timedelta(seconds=4)
        async with h.running(interceptors=[checking(start_window=window)]):
            handle = await h.start(event, via_intake=True)
            await until(handle, lambda s: s.stage.name == "CLOSED", skip=ts_env)
            assert await front_door_markers(handle) == [START_TRUSTED]
            first = (await handle.fetch_history()).events[0]
            started = first.workflow_execution_started_event_attributes
            await asyncio.sleep(window.total_seconds() + 1)  # the wall clock signs
            again = StartWorkflowExecutionRequest(
                namespace=h.client.namespace,
                workflow_id=handle.id,
                workflow_type=started.workflow_type,
                task_queue=started.task_queue,
                input=started.input,
                header=started.header,
                request_id=str(uuid.uuid4()),
                workflow_id_reuse_policy=ALLOW_DUPLICATE,
            )
            await h.client.workflow_service.start_workflow_execution(again)
            rerun = h.client.get_workflow_handle(handle.id)
            with pytest.raises(WorkflowFailureError) as raised:
                await rerun.result()
            assert refusal(raised).type == REFUSED
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in await event_types(rerun)


def test_the_upgrade_time_is_a_time_with_its_zone():
    assert unsigned_starts_trusted_before({}) is None
    since = unsigned_starts_trusted_before({"FNO_FRONT_DOOR_SINCE": "2026-12-01T17:00:00Z"})
    assert since == datetime(2026, 12, 1, 17, tzinfo=UTC)
    for bad in ("yesterday", "2026-12-01T17:00:00"):
        with pytest.raises(FrontDoorConfigError):
            unsigned_starts_trusted_before({"FNO_FRONT_DOOR_SINCE": bad})
