"""Test helpers: custody events, worlds, a worker over a simulator, waiting on stages,
and who calls the HTTP API (people's tokens from the tests' local issuer, systems'
credentials)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from access.intake import start_case
from access.kinds import kind_of
from activities.gateways import Gateways
from activities.steps import CaseActivities
from identity.clients import ClientsFile, SystemClients, add_client, dump_clients
from identity.config import Identity
from identity.issuer import LocalIssuer
from identity.principal import Principal
from models.case import CaseView, EncounterInput, casework_id_for
from models.decisions import DecisionRequest, DecisionResult
from models.event import CustodyEvent
from models.policy import Policy
from models.replies import REPLY_POST_PREFIX
from runtime.codec import CodecKeys, EncryptionCodec, data_converter
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.front_door import acting_as, current_actor
from sim.world import Simulator
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec, WorldFile
from store.cases import CaseStore, make_engine
from tests.support_front_door import checking
from web.auth import Directory, User, UsersFile, hash_password, write_users_file
from workflows import WORKFLOWS
from workflows.encounter import EncounterWorkflow

HISTORIES = Path(__file__).parent / "histories"

# The tests' own payload encryption key, made afresh for each run (never a file in the
# repository). conftest.py puts it in the environment, so processes the tests start
# (worker.py, fno) use it too.
CODEC_KEYS = CodecKeys.generate()
CONVERTER = data_converter(CODEC_KEYS)


# Who calls the in-process HTTP API (``api_client``): one local issuer for the run (its
# signing key in a folder of its own, never the developer's .fno/), over ``USERS`` (for
# the password grant), and the systems of ``CLIENTS`` (``system_key`` adds one).
ISSUER_URL = "http://fno.test"
USERS = UsersFile()
CLIENTS = ClientsFile()


@cache
def local_issuer() -> LocalIssuer:
    """The tests' local issuer (the same for the whole run)."""
    home = Path(tempfile.mkdtemp(prefix="fno-test-issuer-"))
    return LocalIssuer(home, Directory.of(USERS), url=ISSUER_URL)


def api_identity() -> Identity:
    """The identity configuration of the in-process API: the tests' issuer and systems."""
    issuer = local_issuer()
    return Identity(issuer.verifier(), SystemClients.of(CLIENTS), issuer)


def subject_of(name: str) -> str:
    return "local:" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "someone")


def principal(role: str, name: str = "Sam Jones", force: str | None = None) -> Principal:
    """A person as the tests' issuer proves them (subject from the name)."""
    return Principal(subject=subject_of(name), name=name, role=role, force=force)


def token(
    role: str,
    name: str = "Sam Jones",
    force: str | None = None,
    *,
    lifetime: timedelta | None = None,
) -> str:
    """A bearer token from the tests' issuer (``lifetime`` negative: already expired)."""
    return local_issuer().mint(principal(role, name, force), lifetime)


def bearer(
    role: str, name: str = "Sam Jones", force: str | None = None, **headers: str
) -> dict[str, str]:
    """Headers of a request by this person (``headers``: more, e.g. X_Reason="why" gives
    ``X-Reason``)."""
    extra = {k.replace("_", "-"): v for k, v in headers.items()}
    return {"Authorization": f"Bearer {token(role, name, force)}"} | extra


def add_user(username: str, name: str, role: str, password: str) -> None:
    """A user of the tests' users file (the local issuer's password grant)."""
    USERS.users[username] = User(name=name, role=role, password_hash=hash_password(password))


def system_key(
    client_id: str | None = None,
    *,
    scopes: Collection[str] = ("custody-events",),
    forces: Collection[str] = ("*",),
    name: str | None = None,
    purpose: str | None = None,
) -> dict[str, str]:
    """A new system client of the tests' clients table; the headers it sends."""
    client_id = client_id or f"sys-{uuid.uuid4().hex[:12]}"
    credential = add_client(
        CLIENTS,
        client_id,
        name=name or f"system {client_id}",
        scopes=list(scopes),
        forces=list(forces),
        purpose=purpose,
    )
    return {"Authorization": f"Bearer {credential}"}


def process_identity(
    home: Path, forces: Collection[str] = ("*",)
) -> tuple[dict[str, str], dict[str, str]]:
    """For a ``python -m server.app`` under test: the environment of its identity (the
    local issuer over a users file of its own in ``home``, and one custody system), and
    the headers that custody system sends."""
    users = home / "web-users.json"
    write_users_file(users, UsersFile())
    clients = ClientsFile()
    credential = add_client(
        clients, "custody", name="custody system", scopes=["custody-events"], forces=forces
    )
    env = {
        "FNO_LOCAL_ISSUER": "1",
        "FNO_WEB_USERS_FILE": str(users),
        "FNO_WEB_SECRET": uuid.uuid4().hex * 2,
        "FNO_API_CLIENTS": dump_clients(clients),
    }
    return env, {"Authorization": f"Bearer {credential}"}


def codec_env(keys: CodecKeys = CODEC_KEYS) -> dict[str, str]:
    """Environment variables giving a process ``keys``."""
    return {"FNO_CODEC_KEYS": keys.to_json()}


def _messages_in(descriptor: Any, value: Any) -> list[Message]:
    if descriptor.message_type is None:
        return []
    if descriptor.message_type.GetOptions().map_entry:
        has_messages = descriptor.message_type.fields_by_name["value"].message_type is not None
        return list(value.values()) if has_messages else []
    if descriptor.is_repeated:
        return list(value)
    return [value]


def payloads_in(message: Message, skip: Collection[str] = ()) -> list[Payload]:
    """Every ``Payload`` anywhere inside ``message`` (the objects themselves), except
    under fields named in ``skip``."""
    found: list[Payload] = []
    for descriptor, value in message.ListFields():
        if descriptor.name in skip:
            continue
        for inner in _messages_in(descriptor, value):
            if inner.DESCRIPTOR.full_name == Payload.DESCRIPTOR.full_name:
                found.append(inner)  # type: ignore[arg-type]
            else:
                found.extend(payloads_in(inner, skip))
    return found


def decrypted_history(history: WorkflowHistory, keys: CodecKeys = CODEC_KEYS) -> WorkflowHistory:
    """A copy of ``history`` with every payload decrypted: what an authorised viewer sees,
    and what is recorded for the replay test (so it replays under any key)."""
    codec = EncryptionCodec(keys)
    copy = WorkflowHistory.from_json(history.workflow_id, history.to_json())
    for event in copy.events:
        for payload in payloads_in(event):
            payload.CopyFrom(codec.decrypt(payload))
    return copy


def key_of(event: CustodyEvent) -> str:
    """The subject key the starter gives this event's case (the local secret)."""
    return event.subject.subject_key(LOCAL_SUBJECT_KEY_SECRET)


def custody_event(
    *,
    nationality: str = "PL",
    pnc_id: str | None = None,
    force: str = "hampshire",
    custody_reference: str | None = None,
    other_countries: list[str] | None = None,
    uk_matter: str = "theft",
    **subject: Any,
) -> CustodyEvent:
    fields: dict[str, Any] = {
        "family_name": "Kowalski",
        "given_names": "Adam",
        "date_of_birth": "1983-05-17",
        "nationality": nationality,
        "father_name": "Piotr",
        "mother_name": "Anna",
        "place_of_birth": "Kraków",
        "pnc_id": pnc_id or f"17/{uuid.uuid4().int % 10_000_000}A",
        "other_countries": other_countries or [],
    }
    fields.update(subject)
    return CustodyEvent.model_validate(
        {
            "force": force,
            "custody_reference": custody_reference or f"CU-{uuid.uuid4().hex[:10]}",
            "reason": "arrest",
            "encountered_at": "2017-12-04T10:30:00Z",
            "uk_matter": "theft",
            "subject": fields,
            "requesting_officer": {"name": "PC Test", "email": "pc.test@hampshire.police.uk"},
        }
    )


@dataclass
class Harness:
    env: WorkflowEnvironment | None
    client: Client
    task_queue: str
    sim: Simulator
    store: CaseStore
    policy: Policy
    started: list[str] = field(default_factory=list)
    subjects: dict[str, str] = field(default_factory=dict)
    # issue 22: the in-process world drops the replies to these requests (the safety
    # net finds them); set before ``running``.
    reply_drop: Callable[[str], bool] | None = None

    async def end_leftovers(self) -> None:
        """Terminate this test's cases still running: on the time-skipping server a
        case whose timer fires with no worker left would stop the clock for later
        tests."""
        for case_id in self.started:
            for workflow_id in (case_id, casework_id_for(self.subjects.get(case_id, ""))):
                handle = self.client.get_workflow_handle(workflow_id)
                try:
                    await handle.terminate(reason="test over")
                except Exception:  # already closed, or never started
                    pass
        # The in-process world's post office (issue 22): its deliveries still asleep.
        for request_ref in self.store.acro_request_refs():
            handle = self.client.get_workflow_handle(f"{REPLY_POST_PREFIX}{request_ref}")
            try:
                await handle.terminate(reason="test over")
            except Exception:  # delivered already, or never posted
                pass

    async def record_histories(self) -> None:
        """Save this test's closed cases' histories for the replay test (see README)."""
        test = os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].split(" ")[0]
        ids = list(self.started)
        for case_id in self.started:
            state = await state_of(self.client.get_workflow_handle(case_id))
            if state.casework_id and state.casework_id not in ids:
                ids.append(state.casework_id)
        for n, workflow_id in enumerate(ids):
            history = await self.client.get_workflow_handle(workflow_id).fetch_history()
            kind = kind_of(workflow_id).name
            path = HISTORIES / f"{test.removeprefix('test_')}-{n}-{kind}.json"
            # Decrypted: the tests' key lives for one run only.
            path.write_text(decrypted_history(history).to_json())

    def world(self, event: CustodyEvent, spec: SubjectSpec) -> None:
        """Say what the world does for this event's subject."""
        self.sim._subjects[key_of(event)] = spec

    def activities(self, gateways: Gateways) -> CaseActivities:
        acts = CaseActivities(gateways, self.store)
        acts.drop_reply = self.reply_drop
        return acts

    @asynccontextmanager
    async def running(
        self,
        *,
        client: Client | None = None,
        interceptors: list[Any] | None = None,
        workflow_runner: Any = None,
    ) -> AsyncIterator[Worker]:
        """A worker for this harness's task queue, as ``worker.py`` builds one: it checks
        the front door's assertion on every start and decision (``interceptors``, when
        given, instead). ``client``: another client of the server (its activities'
        starts sign as that client does). ``workflow_runner``: the worker's sandbox
        (by default the SDK's, every module sandboxed)."""
        gateways = Gateways.all_from(self.sim)
        runner = {"workflow_runner": workflow_runner} if workflow_runner is not None else {}
        with ThreadPoolExecutor(16) as pool:
            async with Worker(
                client or self.client,
                task_queue=self.task_queue,
                workflows=WORKFLOWS,
                activities=self.activities(gateways).all(),
                activity_executor=pool,
                interceptors=[checking()] if interceptors is None else interceptors,
                **runner,
            ) as worker:
                yield worker

    async def start(
        self, event: CustodyEvent, *, via_intake: bool = False
    ) -> WorkflowHandle[Any, Any]:
        """Start the event's case: straight through the client (as cases were before
        intake set search attributes at the start), or ``via_intake`` as the starter
        and the HTTP intake do."""
        self.started.append(event.case_id())
        self.subjects[event.case_id()] = key_of(event)
        if via_intake:
            started = await start_case(
                self.client, event, task_queue=self.task_queue, policy=self.policy
            )
            assert started.status == "started", started
            return self.client.get_workflow_handle_for(EncounterWorkflow.run, event.case_id())
        return await self.client.start_workflow(
            EncounterWorkflow.run,
            EncounterInput(event=event, subject_key=key_of(event), policy=self.policy),
            id=event.case_id(),
            task_queue=self.task_queue,
        )


@asynccontextmanager
async def harness(
    env: WorkflowEnvironment,
    tmp_path: Path,
    *,
    policy: Policy | None = None,
    world: WorldFile | None = None,
    database_url: str | None = None,
    run_worker: bool = True,
) -> AsyncIterator[Harness]:
    """A simulator and case store on a fresh database, and (by default) a worker on a
    fresh task queue for the test's cases."""
    url = database_url or f"sqlite:///{tmp_path / 'casework.db'}"
    engine = make_engine(url)
    policy = policy or Policy()
    sim = Simulator(engine, world or WorldFile(), day_seconds=policy.day_seconds)
    h = Harness(
        env if env.supports_time_skipping else None,
        env.client,
        f"tq-{uuid.uuid4()}",
        sim,
        CaseStore.migrated(url),
        policy,
    )
    try:
        if run_worker:
            async with h.running():
                yield h
                if os.environ.get("FNO_RECORD_HISTORIES") and h.started:
                    await h.record_histories()
        else:
            yield h
        await h.end_leftovers()
    finally:
        engine.dispose()
        h.store.engine.dispose()


async def state_of(handle: WorkflowHandle[Any, Any]) -> Any:
    """The case's whole state, typed (encounter or casework by its ID)."""
    return await handle.query(kind_of(handle.id).state_query)


async def until(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[Any], bool],
    *,
    what: str = "condition",
    within: float = 60.0,
    skip: WorkflowEnvironment | None = None,
    step: timedelta = timedelta(days=1),
) -> Any:
    """Poll the case's state until ``predicate`` holds.

    With ``skip`` (a time-skipping environment), the server's clock is moved on by
    ``step`` between polls — the case's timers fire, nothing sleeps in real time. The
    server does not move its clock while an activity or workflow task is running.
    """
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while True:
        try:
            last = await state_of(handle)
            if predicate(last):
                return last
        except AssertionError:
            raise
        except Exception:  # query before the first workflow task completes
            pass
        if asyncio.get_running_loop().time() > deadline:
            stage = getattr(last, "stage", None)
            raise AssertionError(f"timed out waiting for {what}; stage is {stage}")
        if skip is not None:
            await skip.sleep(step)
        else:
            await asyncio.sleep(0.05)


async def eventually(
    check: Callable[[], Any], *, within: float = 30.0, what: str = "condition"
) -> Any:
    """Call ``check`` (async) until it returns something true, and return that; fail
    after ``within`` seconds (the visibility store catches up within moments)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


@asynccontextmanager
async def api_client(
    client: Client, store: CaseStore, **app: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API (``server.app.create_app`` with ``app``'s arguments; by default the
    tests' identity: ``bearer``, ``system_key``) in-process on ``client`` and ``store``,
    its lifespan running, behind an httpx client."""
    from server.app import create_app

    async def connect() -> Client:
        return client

    app.setdefault("identity", api_identity())
    api = create_app(connect, store, **app)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://fno") as http,
    ):
        yield http


async def until_stage(handle: WorkflowHandle[Any, Any], stage: Any, **kw: Any) -> Any:
    return await until(handle, lambda s: s.stage == stage, what=f"stage {stage.name}", **kw)


def decision(actor: str, role: str, reason: str, **decision: Any) -> DecisionRequest:
    """A decision by ``actor`` (identity ``tests:<actor>``, as ``decide`` proves it)."""
    return DecisionRequest.model_validate(
        {
            "actor": actor,
            "actor_id": f"tests:{actor}",
            "role": role,
            "reason": reason,
            "decision": decision,
        }
    )


async def decide(handle: WorkflowHandle[Any, Any], req: DecisionRequest) -> DecisionResult:
    """``req`` sent through the front door: as whoever ``acting_as`` names, or else as
    its own decider (the assertion vouches for the actor and role it names)."""
    if current_actor() is not None:
        return await handle.execute_update("decide", req, result_type=DecisionResult)
    with acting_as(req.actor_id or f"tests:{req.actor}", req.actor, req.role):
        return await handle.execute_update("decide", req, result_type=DecisionResult)


def texts(state: CaseView) -> list[str]:
    return [e.text for e in state.timeline]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def days_between(a: datetime | None, b: datetime | None) -> float:
    assert a is not None and b is not None
    return (b - a) / timedelta(days=1)


def effect_results(sim: Simulator, action: str, subject_key: str) -> list[str]:
    """What the simulated system answered for each ``action`` it did for the subject
    (for ``notice_served``: the notice served), one per act."""
    from sqlmodel import Session, select

    from sim.tables import SimEffect

    with Session(sim.engine) as session:
        query = select(SimEffect).where(
            SimEffect.action == action, SimEffect.subject_key == subject_key
        )
        return [e.result for e in session.exec(query)]


def decisions_of(state: CaseView, kind: str | None = None) -> list[Any]:
    """The decision entries of the case's timeline (of ``kind`` only, if given), oldest
    first: each with its ``data["decision"]``, who, role, when and why."""
    return [
        e
        for e in state.timeline
        if e.kind == "decision" and (kind is None or e.data["decision"]["kind"] == kind)
    ]


def patient_policy(day_seconds: float = 0.2, *, long_days: int = 5_000) -> Policy:
    """A compressed policy for tests on a real server whose steps take real time (a
    process started, a page loaded, a worker restarted): what such a test waits *for*
    keeps its compressed length (replies, the Stage 1 window), while every wait it must
    not see end lasts ``long_days`` (at 0.2 s a day, about 17 minutes): the officer's
    time to supply identity data, the EU reply's deadline and chasers, the daily reply
    polls, ICE tasking and its weekly status polls — during a poll a case awaits no
    decision, so a decision sent then is refused, and with 28 days of tasking polled
    weekly at 0.2 s a day that happened every 1.4 s, whatever the test's own pace."""
    return Policy(
        name=f"patient compressed ({day_seconds:g}s days)",
        day_seconds=day_seconds,
        missing_data_working_days=long_days,
        eu_reply_working_days=long_days,
        reply_poll_days=long_days,
        ice_tasking_days=long_days,
        ice_status_poll_days=long_days,
    )


def worker_env(
    address: str, home: Path, database_url: str, world_file: Path, day: float, task_queue: str
) -> dict[str, str]:
    """The environment of a ``worker.py`` process under test: the test's server, store,
    world and task queue, a compressed policy, no stuck scan or reconciliation."""
    return os.environ | {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "FNO_HOME": str(home),
        "FNO_DATABASE_URL": database_url,
        "FNO_WORLD_FILE": str(world_file),
        "FNO_POLICY": f"compressed:{day}",
        "FNO_TASK_QUEUE": task_queue,
        "FNO_STUCK_SCAN_MINUTES": "0",
        "FNO_RECONCILE_SCHEDULE": "off",
        "FNO_LOG_FORMAT": "json",
    }


async def casework_awaiting(
    h: Any, kind: str, *, reply: ReplySpec | None = None, located_after_days: int | None = 1
) -> WorkflowHandle[Any, Any]:
    """Start a Polish case (through the harness's signed client) and move on until its
    casework case awaits ``kind``: by default a GBH conviction and a subject located
    after a day; ``reply`` for another answer from Poland, ``located_after_days=None``
    for a subject never found."""
    event = custody_event(nationality="PL")
    reply = reply or ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="GBH")])
    h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=located_after_days))
    encounter = await h.start(event)
    state = await until(encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env)
    casework = h.client.get_workflow_handle(state.casework_id)
    await until(casework, lambda s: kind in s.awaiting, what=kind, skip=h.env)
    return casework


def json_log_lines(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a process's log output (``FNO_LOG_FORMAT=json``), in order;
    anything else (a banner, a traceback, a cut-off line) is skipped."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


# --- issue 21 (h2): Stage 1 on instruction to removal ------------------------------------
CASEWORKER = ("Sam Jones", "caseworker")
ICE_OFFICER = ("Officer Hale", "ice_officer")
# The three factors the decision records (DeportationDecision's needed fields).
FACTORS: dict[str, Any] = {
    "foreign_convictions": "armed robbery, Poland 2008",
    "uk_convictions": "theft, Winchester 2017",
    "outstanding_uk_activity": "none known",
}


async def awaiting(h: Any, handle: WorkflowHandle[Any, Any], kind: str, **kw: Any) -> Any:
    """Move the clock on until the case accepts a ``kind`` decision."""
    return await until(handle, lambda s: kind in s.awaiting, what=kind, skip=h.env, **kw)


async def to_stage1(
    h: Any, casework: WorkflowHandle[Any, Any], *, detain: bool = True, serving: bool = False
) -> Any:
    """From ``subject_located`` awaited (``casework_awaiting``): located, the detention
    decision, until the case owner is asked to instruct the Stage 1 notice."""
    await awaiting(h, casework, "subject_located")
    await decide(casework, decision(*CASEWORKER, "ICE confirmed address", kind="subject_located"))
    await through_checklist(h, casework)
    await awaiting(h, casework, "detention")
    fields: dict[str, Any] = {"detain": True} if detain else dict(NOT_DETAINED)
    fields.pop("kind", None)
    await decide(
        casework,
        decision(
            *CASEWORKER,
            "risk of absconding",
            kind="detention",
            serving_prison_sentence=serving,
            **fields,
        ),
    )
    if detain:
        await awaiting(h, casework, "detention_gatekeeper")
        await decide(casework, gatekeeper_accepts()[1])
    return await awaiting(h, casework, "serve_stage1")


async def through_stage1(
    h: Any,
    casework: WorkflowHandle[Any, Any],
    *,
    means: str = "in_person",
    sufficient_time: bool | None = None,
    representations: int = 0,
) -> Any:
    """The case owner instructs the Stage 1 notice (``means``; ``sufficient_time`` for a
    subject serving a sentence); ``representations`` are recorded in the window; on
    until the deportation decision is awaited. Returns that state."""
    serve: dict[str, Any] = {"means": means}
    if sufficient_time is not None:
        serve["sufficient_time"] = sufficient_time
    await decide(casework, decision(*CASEWORKER, "serve now", kind="serve_stage1", **serve))
    for n in range(representations):
        await awaiting(h, casework, "representations")
        await decide(
            casework,
            decision(
                *CASEWORKER,
                f"letter {n + 1} from the representative",
                kind="representations",
                received_on=str(datetime.now(UTC).date()),
            ),
        )
    return await awaiting(h, casework, "deportation")


async def deport_and_remove(
    h: Any,
    casework: WorkflowHandle[Any, Any],
    *,
    right_of_appeal: bool = False,
    address_known: bool = True,
    appeal: str | None = None,
    removal_reference: str = "REM-0001",
) -> Any:
    """Decide to deport (the factors), serve the order, the appeal (``appeal``:
    "dismissed", "allowed", or None for none lodged) where there is a right of appeal,
    then ICE reports the removal. Returns the final state."""
    await decide(
        casework,
        decision(
            *CASEWORKER,
            "serious offending; no barriers",
            kind="deportation",
            decision="deport",
            address_known=address_known,
            in_country_right_of_appeal=right_of_appeal,
            **FACTORS,
        ),
    )
    await awaiting(h, casework, "serve_deportation_order")
    await decide(
        casework,
        decision(*CASEWORKER, "order signed", kind="serve_deportation_order", means="via_prison"),
    )
    if right_of_appeal and appeal is not None:
        await awaiting(h, casework, "appeal_lodged")
        await decide(
            casework,
            decision(
                *CASEWORKER,
                "notice of appeal received",
                kind="appeal_lodged",
                lodged_on="2018-01-02",
                appeal_reference="HU/00001/2018",
            ),
        )
        await awaiting(h, casework, "appeal_determined")
        await decide(
            casework,
            decision(
                *CASEWORKER,
                "tribunal determination",
                kind="appeal_determined",
                result=appeal,
                determined_on="2018-03-01",
            ),
        )
        if appeal == "allowed":
            return await until(casework, lambda s: s.outcome is not None, what="closed")
    await awaiting(h, casework, "deportation_enforced")
    await decide(
        casework,
        decision(
            *ICE_OFFICER,
            "escorted removal",
            kind="deportation_enforced",
            removed_on="2018-01-01",
            removal_reference=removal_reference,
        ),
    )
    return await until(casework, lambda s: s.outcome is not None, what="closed")


def deport_fields(**override: Any) -> dict[str, Any]:
    """A decision to deport with the fields the issue-21 path needs (the three factors,
    the address known, no in-country right of appeal); ``override`` changes them."""
    return {
        "kind": "deportation",
        "decision": "deport",
        "address_known": True,
        "in_country_right_of_appeal": False,
        **FACTORS,
        **override,
    }


async def instruct_stage1(
    h: Any, casework: WorkflowHandle[Any, Any], *, skip: bool = True, **serve: Any
) -> None:
    """The case owner instructs the Stage 1 notice once the case asks (``serve``: the
    ``serve_stage1`` fields; served in person unless said)."""
    serve.setdefault("means", "in_person")
    await until(
        casework,
        lambda s: "serve_stage1" in s.awaiting,
        what="serve_stage1",
        skip=h.env if skip else None,
    )
    await decide(casework, decision(*CASEWORKER, "serve the notice", kind="serve_stage1", **serve))


async def serve_order_when_asked(
    h: Any, casework: WorkflowHandle[Any, Any], *, skip: bool = True
) -> None:
    """The deportation order served on the caseworker's instruction, once asked."""
    await until(
        casework,
        lambda s: "serve_deportation_order" in s.awaiting,
        what="serve_deportation_order",
        skip=h.env if skip else None,
    )
    await decide(
        casework,
        decision(*CASEWORKER, "order signed", kind="serve_deportation_order", means="in_person"),
    )


# issue 21 (h1): the located checklist and detention through the Detention Gatekeeper
CASE_OWNER = ("Sam Jones", "caseworker")
GATEKEEPER = ("Dee Gate", "detention_gatekeeper")
# A decision not to detain, with the non-detained management a new case needs.
NOT_DETAINED: dict[str, Any] = {
    "kind": "detention",
    "detain": False,
    "not_detained_reason": "unsuitable_medical",
    "reporting_conditions": "Reports weekly at the local reporting centre",
    "review_on": "2030-01-15",
}


async def awaiting_kind(h: Any, handle: WorkflowHandle[Any, Any], kind: str) -> Any:
    """Move the clock on until the case accepts a ``kind`` decision."""
    return await until(handle, lambda s: kind in s.awaiting, what=f"{kind} decision", skip=h.env)


async def through_checklist(
    h: Any,
    casework: WorkflowHandle[Any, Any],
    *,
    by: tuple[str, str] = CASE_OWNER,
    offended_abroad_since: bool = False,
    charges: int = 0,
    police_proceeding: bool | None = None,
    acquittal_likely: bool | None = None,
    proceed_with_deportation: bool | None = None,
    prosecution_outcome: str | None = None,
) -> Any:
    """Pass the located checklist of a located case (DOMAIN.md step 8) with these
    answers — by default: no offending abroad since, no pending prosecutions; the
    police proceeding, ``proceed_with_deportation`` and then ``prosecution_outcome``
    answer actions 7. Returns the state once the checklist is done (detention next).
    A case still to be allocated is allocated to ``by`` first (a CC manager's)."""
    first = await until(
        casework,
        lambda s: bool({"allocate_case", "offending_history_review"} & set(s.awaiting)),
        what="allocation or the checklist",
        skip=h.env,
    )
    if "allocate_case" in first.awaiting:
        await allocate(casework, by[0], skip=h.env)
    await awaiting_kind(h, casework, "offending_history_review")
    await decide(
        casework,
        decision(
            *by,
            "PNC print checked against the referral",
            kind="offending_history_review",
            offended_abroad_since=offended_abroad_since,
        ),
    )
    await awaiting_kind(h, casework, "investigating_officer_answer")
    await decide(
        casework,
        decision(
            *by,
            "the officer rang back",
            kind="investigating_officer_answer",
            officer_reference="IO-REF-1",
            information_held=False,
            redocumentation="none_held",
        ),
    )
    await awaiting_kind(h, casework, "pending_prosecution")
    answer: dict[str, Any] = {"kind": "pending_prosecution", "charges": charges}
    if police_proceeding is not None:
        answer["police_proceeding"] = police_proceeding
    if acquittal_likely is not None:
        answer["acquittal_likely"] = acquittal_likely
    await decide(casework, decision(*by, "clarified with the police", **answer))
    if charges and police_proceeding and not acquittal_likely:
        await awaiting_kind(h, casework, "prosecution_consideration")
        proceed = bool(proceed_with_deportation)
        await decide(
            casework,
            decision(
                *by,
                "nature, seriousness and timescales considered",
                kind="prosecution_consideration",
                proceed_with_deportation=proceed,
            ),
        )
        if not proceed:
            await awaiting_kind(h, casework, "prosecution_outcome")
            await decide(
                casework,
                decision(
                    *by,
                    "the court's result",
                    kind="prosecution_outcome",
                    outcome=prosecution_outcome or "dropped",
                ),
            )
    return await until(
        casework,
        lambda s: s.stage.name not in CHECKLIST_STAGES,
        what="the checklist done",
        skip=h.env,
    )


CHECKLIST_STAGES = {
    "LOCATED_ACTIONS",
    "OFFENDING_HISTORY_REVIEW",
    "INVESTIGATING_OFFICER",
    "PENDING_PROSECUTION",
    "PROSECUTION_CONSIDERATION",
    "AWAITING_PROSECUTION",
}


async def detained_through_gatekeeper(
    h: Any, casework: WorkflowHandle[Any, Any], *, accept: bool = True, why: str = "flight risk"
) -> Any:
    """The case owner proposes detention; the Detention Gatekeeper answers ``accept``."""
    await awaiting_kind(h, casework, "detention")
    await decide(casework, decision(*CASE_OWNER, why, kind="detention", detain=True))
    await awaiting_kind(h, casework, "detention_gatekeeper")
    return await decide(
        casework,
        decision(
            *GATEKEEPER,
            "criteria met" if accept else "criteria not met",
            kind="detention_gatekeeper",
            accept=accept,
        ),
    )


def checklist_decisions(by: tuple[str, str] = CASE_OWNER) -> list[tuple[str, DecisionRequest]]:
    """The checklist's decisions with ``through_checklist``'s default answers, each with
    the kind it answers, for tests that send whatever a case awaits in turn."""
    return [
        (
            "offending_history_review",
            decision(
                *by,
                "PNC print checked",
                kind="offending_history_review",
                offended_abroad_since=False,
            ),
        ),
        (
            "investigating_officer_answer",
            decision(
                *by,
                "the officer rang back",
                kind="investigating_officer_answer",
                officer_reference="IO-REF-1",
                information_held=False,
                redocumentation="none_held",
            ),
        ),
        (
            "pending_prosecution",
            decision(*by, "none pending", kind="pending_prosecution", charges=0),
        ),
    ]


def gatekeeper_accepts() -> tuple[str, DecisionRequest]:
    return (
        "detention_gatekeeper",
        decision(*GATEKEEPER, "criteria met", kind="detention_gatekeeper", accept=True),
    )


CC_MANAGER = ("Cora Lind", "cc_manager")


async def allocate(
    handle: WorkflowHandle[Any, Any],
    owner: str = "Sam Jones",
    *,
    owner_id: str | None = None,
    team: str = "CC Team 1",
    stand_ins: Collection[tuple[str, str]] = (),
    skip: Any = None,
) -> DecisionResult:
    """Issue 21: a CC manager allocates the located case to ``owner`` (identity
    ``owner_id``, by default ``tests:<owner>`` as ``decide`` proves it) in ``team``, with
    ``stand_ins`` (id, name). Waits until the case awaits the allocation (``skip``: the
    time-skipping environment, moved on meanwhile)."""
    await until(handle, lambda s: "allocate_case" in s.awaiting, what="allocation", skip=skip)
    req = DecisionRequest.model_validate(
        {
            "actor": CC_MANAGER[0],
            "actor_id": f"tests:{CC_MANAGER[0]}",
            "role": CC_MANAGER[1],
            "reason": "allocated to a case owner",
            "decision": {
                "kind": "allocate_case",
                "owner_id": owner_id or f"tests:{owner}",
                "owner_name": owner,
                "team": team,
                "stand_ins": [{"id": i, "name": n} for i, n in stand_ins],
            },
        }
    )
    return await decide(handle, req)


async def locate(
    handle: WorkflowHandle[Any, Any], req: DecisionRequest, *, skip: Any = None
) -> DecisionResult:
    """What a ``subject_located`` naming a case owner did before issue 21, now: the
    subject reported located where the case awaits that (ICE tasking, the review), then
    a CC manager's allocation to the owner it named (else to its sender), the sender and
    the tests' caseworker (Sam Jones) as stand-ins."""
    offered = await until(
        handle,
        lambda s: bool({"subject_located", "allocate_case"} & set(s.awaiting)),
        what="located or allocation",
        skip=skip,
    )
    data = req.decision.model_dump(exclude_none=True)
    owner = data.pop("case_owner", None) or req.actor
    data.pop("pending_prosecution", None)
    if "allocate_case" not in offered.awaiting:
        located = req.model_copy(update={"decision": type(req.decision).model_validate(data)})
        await decide(handle, located)
    # The tests' caseworker and the sender stand in: they decide next, as before.
    stand_ins = [(f"tests:{n}", n) for n in sorted({req.actor, "Sam Jones"} - {owner})]
    return await allocate(handle, owner, stand_ins=stand_ins, skip=skip)


def worker_start_refused(home: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``worker.py`` started with ``settings`` (local mode, no reachable Temporal), run
    to its exit: a bad setting must refuse the start before it connects."""
    env = os.environ | {
        "FNO_HOME": str(home),
        "FNO_LOCAL_MODE": "1",
        "FNO_LOG_FORMAT": "json",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        **settings,
    }
    return subprocess.run(
        [sys.executable, str(Path(__file__).parent.parent / "worker.py")],
        env=env,
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
