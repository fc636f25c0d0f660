"""The world as its own service (issue 22): ``python -m sim.service`` and the HTTP
adapters (``adapters``) against it.

- a contract test: every gateway method over the wire gives the in-process
  simulator's answers and effects;
- a side-effecting call repeated with the same ``Idempotency-Key`` does its effect
  once; one without the key is refused (400), one without the credential (401);
- 5xx, slowness and no connection become ``TransientGatewayError``, refusals
  ``PermanentGatewayError``;
- the pusher delivers each due reply, retries after the receiver fails, gives up on a
  4xx refusal, loses no reply across a kill -9 and restart and sends none again, and
  a dropped reply is not sent but ``fetch_reply`` still answers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlmodel import Session, col, select

from activities.deportation_steps import DeportationGateway
from activities.gateways import Gateways, PermanentGatewayError, TransientGatewayError
from adapters.notifications_http import http_notification_gateways
from adapters.world_http import http_gateways
from sim.notifications import NotificationSimulator, NotificationWorld
from sim.tables import SimCertificate, SimEffect
from sim.world import Simulator
from sim.world_file import (
    ConvictionSpec,
    FaultSpec,
    ReplySpec,
    SubjectSpec,
    WorldFile,
    pnc_subject_key,
)
from store.engine import make_engine
from tests.support_world import FakeReceiver, WorldService, start_world_service

SECRET = "fno-local-development-only"  # the tests run in local mode
CREDENTIAL = "world-test-credential"
PUSH_CREDENTIAL = "demo-acro.push-secret"
FAST_PUSH = {"FNO_WORLD_PUSH_INTERVAL": "0.05", "FNO_WORLD_PUSH_BACKOFF": "0.1"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PNC = "17/120401P"
SUBJECT = pnc_subject_key(PNC, SECRET)
REFUSED_PNC = "18/000001R"
REFUSED = pnc_subject_key(REFUSED_PNC, SECRET)


def world_file(after_days: float = 1.0) -> WorldFile:
    replies = {
        "PL": ReplySpec(
            after_days=after_days,
            convictions=[
                ConvictionSpec(offence="THEFT", convicted_on="2006-01-20", sentence=None),
            ],
        ),
        "FR": ReplySpec(after_days=after_days),
        "US": ReplySpec(after_days=None),
    }
    return WorldFile(
        seed=7,
        faults=FaultSpec(rate=0, systems=["pnc"]),
        subjects={
            PNC: SubjectSpec(replies=replies, left_uk=True, departed_on="2017-05-01"),
            REFUSED_PNC: SubjectSpec(refuse={"pnc": ["wanted_marker_added"]}),
        },
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[WorldService]:
    world = start_world_service(
        world_file(), f"sqlite:///{tmp_path / 'world.db'}", 86_400.0, credential=CREDENTIAL
    )
    yield world
    world.stop()


# The contract ------------------------------------------------------------------------------
def _script() -> list[tuple[str, Callable[[Gateways, Any], Any]]]:
    """Every gateway method, in an order that makes each answer something."""
    day = timedelta(days=1)

    def dep(g: Gateways, system: str) -> DeportationGateway:
        return cast(DeportationGateway, getattr(g, system))

    ref = "ACRO-" + __import__("hashlib").sha256(b"k-check").hexdigest()[:12].upper()
    return [
        ("request_check", lambda g, n: g.acro.request_check(
            "k-check", "case-1", SUBJECT, "PL", "criminal_proceedings", T0, {"a": 1})),
        ("request_check FR", lambda g, n: g.acro.request_check(
            "k-check-fr", "case-1", SUBJECT, "FR", "criminal_proceedings", T0, {})),
        ("fetch_reply early", lambda g, n: g.acro.fetch_reply(ref, T0)),
        ("fetch_reply due", lambda g, n: g.acro.fetch_reply(ref, T0 + 2 * day)),
        ("replies_sent", lambda g, n: g.acro.replies_sent(T0, T0 + 3 * day)),
        ("replies_sent none", lambda g, n: g.acro.replies_sent(T0, T0 + day / 2)),
        ("send_chaser", lambda g, n: g.acro.send_chaser("k-chase", ref, 1)),
        ("request_further_details", lambda g, n: g.acro.request_further_details(
            "k-fd", ref, T0 + 2 * day)),
        ("fetch_further_details", lambda g, n: g.acro.fetch_further_details(
            ref + "-FD", T0 + 4 * day)),
        ("send_further_details_chaser", lambda g, n: g.acro.send_further_details_chaser(
            "k-fdc", ref + "-FD", 1)),
        ("request_further_check", lambda g, n: g.acro.request_further_check(
            "k-fc", SUBJECT, T0)),
        ("advise_deportation_not_pursued", lambda g, n: g.acro.advise_deportation_not_pursued(
            "k-adv", SUBJECT)),
        ("advise_acro_appeal_allowed", lambda g, n: dep(g, "acro").advise_acro_appeal_allowed(
            "k-appeal", SUBJECT)),
        ("destroy_certificate", lambda g, n: g.acro.destroy_certificate(ref)),
        ("fetch_reply destroyed", lambda g, n: g.acro.fetch_reply(ref, T0 + 3 * day)),
        ("request_identity_data", lambda g, n: g.police.request_identity_data(
            "k-id", SUBJECT, "io@police.example", ["photo", "prints"])),
        ("contact_investigating_officer", lambda g, n: g.police.contact_investigating_officer(
            "k-io", "case-1", SUBJECT)),
        ("tell_investigating_officer", lambda g, n: g.police.tell_investigating_officer(
            "k-tell", "case-1", SUBJECT)),
        ("record_convictions", lambda g, n: g.pnc.record_convictions(
            "k-rec", SUBJECT, PNC, ["THEFT", "ASSAULT"])),
        ("offences_on_record", lambda g, n: g.pnc.offences_on_record(SUBJECT, ["THEFT"])),
        ("offences_on_record none", lambda g, n: g.pnc.offences_on_record(SUBJECT, [])),
        ("offences_on_record not", lambda g, n: g.pnc.offences_on_record(SUBJECT, ["MURDER"])),
        ("request_pnc_check", lambda g, n: g.pnc.request_pnc_check("k-pnc", SUBJECT)),
        ("add_wanted_marker", lambda g, n: g.pnc.add_wanted_marker("k-wm", SUBJECT)),
        ("remove_wanted_marker", lambda g, n: g.pnc.remove_wanted_marker("k-wmr", SUBJECT)),
        ("pnc_print", lambda g, n: g.pnc.pnc_print("k-print", SUBJECT)),
        ("create_case", lambda g, n: g.cid.create_case("k-cid", SUBJECT, "PL", ["THEFT"])),
        ("create_case again", lambda g, n: g.cid.create_case("k-cid2", SUBJECT, "PL", [])),
        ("add_calendar_event", lambda g, n: g.cid.add_calendar_event(
            "k-cal", "CID-" + SUBJECT[:10].upper(), "review", "open")),
        ("add_note", lambda g, n: g.cid.add_note("k-note", SUBJECT, "a note")),
        ("record_outcome", lambda g, n: g.cid.record_outcome("k-out", SUBJECT, "deported")),
        ("create_paper_file", lambda g, n: g.cid.create_paper_file("k-paper", SUBJECT)),
        ("departure_check", lambda g, n: g.nbtc.departure_check(SUBJECT, T0)),
        ("task_to_locate", lambda g, n: g.ice.task_to_locate("k-ice", SUBJECT, T0)),
        ("tasking_status", lambda g, n: g.ice.tasking_status(
            "ICE-" + __import__("hashlib").sha256(b"k-ice").hexdigest()[:10].upper(),
            T0 + 30 * day)),
        ("request_detention", lambda g, n: g.ice.request_detention("k-det", SUBJECT)),
        ("request_detention_with_evidence", lambda g, n: dep(
            g, "ice").request_detention_with_evidence("k-det2", SUBJECT, "doc-1,doc-2")),
        ("serve_notice", lambda g, n: g.correspondence.serve_notice(
            "k-notice", SUBJECT, "stage1", 20)),
        ("submit_to_director", lambda g, n: g.correspondence.submit_to_director(
            "k-dir", SUBJECT)),
        ("refer_to_removals_casework", lambda g, n: g.correspondence.refer_to_removals_casework(
            "k-rem", SUBJECT)),
        ("notify", lambda g, n: g.correspondence.notify(
            "k-notify", SUBJECT, ["acro", "police"], "removed")),
        ("serve_notice_by", lambda g, n: dep(g, "correspondence").serve_notice_by(
            "k-by", SUBJECT, "stage1", "recorded_post", T0)),
        ("serve_deportation_order", lambda g, n: dep(
            g, "correspondence").serve_deportation_order("k-do", SUBJECT, "in_person", T0)),
        ("submit_to_director_with", lambda g, n: dep(
            g, "correspondence").submit_to_director_with("k-dirw", SUBJECT, "doc-9")),
        ("notify_with_refs", lambda g, n: dep(g, "correspondence").notify_with_refs(
            "k-nref", SUBJECT, ["acro", "ice"], "removed")),
        ("send_notification", lambda g, n: n[0].send_notification(
            "k-ecris", "notif-1-PL", "PL", "ecris", {"x": [1, 2]}, T0)),
        ("fetch_acknowledgement", lambda g, n: n[0].fetch_acknowledgement(
            "ECRIS-" + __import__("hashlib").sha256(b"k-ecris").hexdigest()[:14].upper(),
            T0 + 20 * day)),
        ("send_notification_chaser", lambda g, n: n[0].send_notification_chaser(
            "k-ecris-c", "notif-1-PL", "ECRIS-X", 1)),
        ("request_file_resend", lambda g, n: n[1].request_file_resend(
            "k-resend", 12, T0.date(), "missing")),
    ]  # fmt: skip


def _effects(engine: Any) -> list[tuple[str, str, str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(SimEffect).order_by(col(SimEffect.key))).all()
        return [(r.key, r.system, r.action, r.subject_key, r.result) for r in rows]


def _certificates(engine: Any) -> list[tuple[str, str | None, bool]]:
    with Session(engine) as session:
        rows = session.exec(select(SimCertificate).order_by(col(SimCertificate.request_ref)))
        return [(r.request_ref, r.content, r.destroyed) for r in rows]


def test_every_gateway_method_over_the_wire_answers_as_in_process(tmp_path: Path) -> None:
    here = make_engine(f"sqlite:///{tmp_path / 'here.db'}")
    sim = Simulator(here, world_file(), day_seconds=86_400.0, subject_key_secret=SECRET)
    notif_here = NotificationSimulator(here, NotificationWorld(seed=7), day_seconds=86_400.0)
    there_db = tmp_path / "there.db"
    world = start_world_service(
        world_file(), f"sqlite:///{there_db}", 86_400.0, credential=CREDENTIAL
    )
    try:
        wire = world.gateways()
        notif_wire = http_notification_gateways(world.config())
        local = Gateways.all_from(sim)
        covered = set()
        for name, call in _script():
            expected = call(local, (notif_here, notif_here))
            got = call(wire, notif_wire)
            assert got == expected, name
            covered.add(name.split()[0])
            # a repeat with the same key: as in process (no new effect: compared below)
            again = call(local, (notif_here, notif_here))
            assert call(wire, notif_wire) == again, name
        from sim.wire import methods

        assert {m for _s, m in methods()} <= covered
    finally:
        world.stop()
    there = make_engine(f"sqlite:///{there_db}")
    assert _effects(there) == _effects(here)
    assert _certificates(there) == _certificates(here)


# Idempotency, credentials, refusals ---------------------------------------------------------------
def test_a_repeated_key_does_the_effect_once_and_a_missing_key_is_refused(
    service: WorldService,
) -> None:
    auth = {"Authorization": f"Bearer {CREDENTIAL}"}
    body = {"subject_key": SUBJECT, "notice": "stage1", "response_days": 20}
    url = f"{service.url}/correspondence/serve_notice"
    first = httpx.post(url, json=body, headers=auth | {"Idempotency-Key": "k-1"})
    again = httpx.post(url, json=body, headers=auth | {"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"result": "stage1"}
    assert service.count("notice_served") == 1

    no_key = httpx.post(url, json=body, headers=auth)
    assert no_key.status_code == 400
    assert no_key.json()["error"] == "no_idempotency_key"
    assert service.count("notice_served") == 1

    assert httpx.post(url, json=body, headers={"Idempotency-Key": "k-2"}).status_code == 401
    wrong = {"Authorization": "Bearer nope", "Idempotency-Key": "k-2"}
    assert httpx.post(url, json=body, headers=wrong).status_code == 401
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    bad = httpx.post(url, json={"subject_key": SUBJECT}, headers=auth | {"Idempotency-Key": "k3"})
    assert bad.status_code == 422
    assert service.count("notice_served") == 1

    g = service.gateways()
    refs = {g.pnc.add_wanted_marker("k-wm", SUBJECT) for _ in range(3)}
    assert len(refs) == 1
    assert service.count("wanted_marker_added") == 1


def test_faults_and_refusals_become_gateway_errors(service: WorldService) -> None:
    g = service.gateways(timeout=0.5)
    with pytest.raises(PermanentGatewayError):
        g.pnc.add_wanted_marker("k-refused", REFUSED)  # the world file's refusal: 409
    with pytest.raises(PermanentGatewayError):
        g.acro.fetch_reply("ACRO-NONE", T0)

    service.set_faults(error_rate=1.0)
    with pytest.raises(TransientGatewayError):
        g.cid.add_note("k-note", SUBJECT, "a note")
    assert service.count("cid_note") == 0  # 503 before the work
    service.set_faults(slow_seconds=1.5)
    with pytest.raises(TransientGatewayError):
        g.nbtc.departure_check(SUBJECT, T0)  # the adapter times out first
    service.set_faults()
    assert g.nbtc.departure_check(SUBJECT, T0) == (True, "2017-05-01")

    wrong = http_gateways(service.config().__class__(base_url=service.url, credential="x"))
    with pytest.raises(TransientGatewayError):  # a credential being rotated is not a refusal
        wrong.cid.add_note("k-note", SUBJECT, "a note")

    service.kill()
    with pytest.raises(TransientGatewayError):  # no connection
        g.cid.add_note("k-note", SUBJECT, "a note")


def test_the_world_files_faults_work_over_the_wire(tmp_path: Path) -> None:
    faulty = world_file()
    faulty.faults = FaultSpec(rate=1.0, systems=["pnc"])
    world = start_world_service(faulty, f"sqlite:///{tmp_path / 'w.db'}", 86_400.0)
    try:
        g = world.gateways()
        with pytest.raises(TransientGatewayError):
            g.pnc.request_pnc_check("k", SUBJECT)
        assert g.cid.create_paper_file("k-paper", SUBJECT).startswith("HO-")
    finally:
        world.stop()


# Pushing replies ---------------------------------------------------------------------------------
def _until(what: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not within the deadline")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    r = FakeReceiver(credential=PUSH_CREDENTIAL)
    yield r
    r.close()


def _pushing(tmp_path: Path, receiver: FakeReceiver, after_days: float) -> WorldService:
    return start_world_service(
        world_file(after_days),
        f"sqlite:///{tmp_path / 'world.db'}",
        day_seconds=1.0,
        replies_url=receiver.url,
        credential=CREDENTIAL,
        push_credential=PUSH_CREDENTIAL,
        env=FAST_PUSH,
    )


def _ask(world: WorldService, *countries: str) -> list[str]:
    g = world.gateways()
    now = datetime.now(UTC)
    return [
        g.acro.request_check(f"k-{c}", "case-1", SUBJECT, c, "criminal_proceedings", now, {})
        for c in countries
    ]


def test_the_pusher_delivers_each_due_reply_and_retries(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    world = _pushing(tmp_path, receiver, after_days=0.5)
    try:
        receiver.fail_next = 3  # the product is down for a while
        refs = _ask(world, "PL", "FR", "US")  # the US never replies
        _until(lambda: len(receiver.received) == 2)
        assert sorted(receiver.reply_ids()) == sorted(f"{r}/reply" for r in refs[:2])
        assert receiver.attempts >= 5
        assert all(h["Idempotency-Key"].endswith("/reply") for h in receiver.headers)
        g = world.gateways()
        for reply in receiver.received:
            fetched = g.acro.fetch_reply(reply["request_ref"], datetime.now(UTC))
            assert fetched is not None
            assert fetched.model_dump(mode="json") == reply
        pushes = world.pushes()
        assert pushes["states"] == {"pushed": 2, "never": 1}
        assert pushes["sends"] == 2 and world.count("reply_pushed") == 2
    finally:
        world.stop()


def test_a_refused_push_is_not_retried(tmp_path: Path, receiver: FakeReceiver) -> None:
    world = _pushing(tmp_path, receiver, after_days=0.2)
    try:
        receiver.fail_next, receiver.fail_code = 1, 400
        _ask(world, "PL")
        _until(lambda: world.pushes()["states"].get("refused") == 1)
        time.sleep(0.5)
        assert receiver.attempts == 1 and receiver.received == []
        [row] = world.pushes()["replies"]
        assert row["last_code"] == 400
    finally:
        world.stop()


def test_no_reply_is_lost_or_sent_again_across_a_kill(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    world = _pushing(tmp_path, receiver, after_days=2.0)
    try:
        refs = _ask(world, "PL", "FR")
        _until(lambda: world.pushes()["states"].get("waiting") == 2)
        world.kill()  # kill -9 before the replies are due
        time.sleep(2.2)  # they fall due while the service is down
        assert receiver.received == []
        world.start()
        _until(lambda: len(receiver.received) == 2)
        assert sorted(receiver.reply_ids()) == sorted(f"{r}/reply" for r in refs)
        # Killed again once it has recorded its pushes: nothing sent twice. (Killed
        # between the product's answer and that record, it sends again — at least once,
        # which the product's idempotency on the reply ID absorbs.)
        _until(lambda: world.pushes()["states"].get("pushed") == 2)
        world.restart()
        time.sleep(0.6)
        assert len(receiver.received) == 2
        assert world.pushes()["states"] == {"pushed": 2}
    finally:
        world.stop()


def test_a_dropped_reply_is_not_sent_but_fetch_reply_answers_it(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    world = _pushing(tmp_path, receiver, after_days=0.3)
    try:
        world.set_faults(drop_replies=True)
        [ref] = _ask(world, "PL")
        _until(lambda: world.pushes()["states"].get("dropped") == 1)
        world.restart()  # the faults and the drop are kept
        assert world.pushes()["states"] == {"dropped": 1}
        assert world.count("reply_dropped") == 1
        time.sleep(0.5)
        assert receiver.received == []
        found = world.gateways().acro.fetch_reply(ref, datetime.now(UTC))
        assert found is not None and found.reply_id == f"{ref}/reply"
        assert httpx.get(
            f"{world.url}/_world/faults", headers={"Authorization": f"Bearer {CREDENTIAL}"}
        ).json()["drop_replies"]
    finally:
        world.stop()


class WithReplyTimes:
    """The HTTP ACRO adapter, with the in-process simulator's ``reply_due_at``."""

    def __init__(self, wire: Any, sim: Any) -> None:
        self._wire, self._sim = wire, sim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wire, name)

    def reply_due_at(self, request_ref: str, as_of: datetime) -> datetime | None:
        return self._sim.reply_due_at(request_ref, as_of)  # type: ignore[no-any-return]


# A case through the wire, and the configuration ---------------------------------------------------
async def test_a_case_runs_through_the_world_service(ts_env: Any, tmp_path: Path) -> None:
    """A worker whose gateways are the HTTP adapters: the case reaches its outcome, and
    the effects are counted from the world's tables as before (here the same database)."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.steps import CaseActivities
    from models.case import Outcome
    from tests.support import custody_event, harness, key_of, state_of
    from workflows import WORKFLOWS

    event = custody_event(nationality="FR")
    spec = SubjectSpec(
        replies={"FR": ReplySpec(after_days=4, convictions=[ConvictionSpec(offence="THEFT")])}
    )
    assert event.subject.pnc_id is not None
    world = WorldFile(subjects={event.subject.pnc_id: spec})
    async with harness(ts_env, tmp_path, run_worker=False) as h:
        service = start_world_service(
            world, f"sqlite:///{tmp_path / 'casework.db'}", h.policy.day_seconds
        )
        try:
            # The world service pushes in wall-clock time; under time skipping its
            # replies come by the in-process post office, which reads when each is due
            # from the same world tables (everything else over the wire).
            gateways = service.gateways()
            times = Simulator(h.store.engine, world, day_seconds=h.policy.day_seconds)
            gateways.acro = WithReplyTimes(gateways.acro, times)
            activities = CaseActivities(gateways, h.store)
            activities.world_posts_replies = True
            with ThreadPoolExecutor(8) as pool:
                async with Worker(
                    h.client,
                    task_queue=h.task_queue,
                    workflows=WORKFLOWS,
                    activities=activities.all(),
                    activity_executor=pool,
                ):
                    handle = await h.start(event)
                    result = await handle.result()
                    state = await state_of(handle)
        finally:
            service.stop()
    assert result.outcome is Outcome.NOT_SERIOUS
    assert state.checks["FR"].status == "replied"
    assert h.sim.count("check_requested:criminal_proceedings", key_of(event)) == 1
    assert h.sim.count("conviction_recorded", key_of(event)) == 1


def test_the_world_url_chooses_the_http_adapters(tmp_path: Path) -> None:
    from adapters.world_http import AcroHttp
    from processes.activities import build_gateways
    from runtime.config import Settings
    from store.cases import CaseStore

    base = {"FNO_HOME": str(tmp_path), "FNO_LOCAL_MODE": "1"}
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'c.db'}")
    local = build_gateways(Settings.from_env(base), store)
    assert isinstance(local.acro, Simulator)
    wired = Settings.from_env(
        base
        | {
            "FNO_WORLD_URL": "https://acro.example",
            "FNO_WORLD_CREDENTIAL": "s3cret",
            "FNO_WORLD_CA_BUNDLE": "/etc/ssl/ca.pem",
            "FNO_WORLD_TIMEOUT": "4",
        }
    )
    assert wired.world is not None and "s3cret" not in repr(wired)
    gateways = build_gateways(wired, store)
    assert isinstance(gateways.acro, AcroHttp)
    http = gateways.acro.http
    assert http.config.ca_bundle == "/etc/ssl/ca.pem" and http.config.timeout == 4.0
    assert http.config.credential == "s3cret"


def test_make_run_gives_the_world_a_demo_acro_client(tmp_path: Path) -> None:
    import json

    from identity.clients import SystemClients
    from local.prepare import API_CLIENTS_FILE, DEMO_CLIENTS_FILE, prepare_identity

    env, demo = prepare_identity(tmp_path, {}, 8000)
    acro = SystemClients.from_env(env).authenticate(demo["demo-acro"])
    assert acro is not None and acro.scopes == ("acro-replies",)
    # A home made before the ACRO client: it is added, the others kept.
    clients = json.loads((tmp_path / API_CLIENTS_FILE).read_text())
    del clients["demo-acro"]
    (tmp_path / API_CLIENTS_FILE).write_text(json.dumps(clients))
    shown = json.loads((tmp_path / DEMO_CLIENTS_FILE).read_text())
    del shown["demo-acro"]
    (tmp_path / DEMO_CLIENTS_FILE).write_text(json.dumps(shown))
    _, again = prepare_identity(tmp_path, {}, 8000)
    assert again["demo-custody"] == demo["demo-custody"]
    assert SystemClients.from_env(env).authenticate(again["demo-acro"]) is not None


def test_the_adapters_speak_tls_with_a_client_certificate(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.support_world import tls_files

    tls = tls_files(tmp_path)
    world = start_world_service(
        world_file(), f"sqlite:///{tmp_path / 'w.db'}", 86_400.0, credential=CREDENTIAL, tls=tls
    )
    try:
        assert world.url.startswith("https://")
        config = world.config()
        assert http_gateways(config).cid.create_paper_file("k-tls", SUBJECT).startswith("HO-")
        no_client_cert = replace(config, client_cert=None, client_key=None)
        with pytest.raises(TransientGatewayError):
            http_gateways(no_client_cert).cid.create_paper_file("k-tls2", SUBJECT)
        not_our_ca = replace(config, ca_bundle=None)  # the system's CAs do not know it
        with pytest.raises(TransientGatewayError):
            http_gateways(not_our_ca).cid.create_paper_file("k-tls3", SUBJECT)
        assert world.count("paper_file_created") == 1
    finally:
        world.stop()


def test_a_push_waits_at_least_the_products_retry_after(tmp_path: Path) -> None:
    from sim.pusher import PushConfig, Pusher
    from sim.tables import SimPush
    from sim.wire_faults import WireFaults, ensure_tables

    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    sim = Simulator(engine, world_file(), day_seconds=1.0, subject_key_secret=SECRET)
    ensure_tables(engine)
    now = datetime.now(UTC)
    config = PushConfig(url="http://product.invalid", backoff_first=0.5, backoff_max=60)
    pusher = Pusher(sim, config, WireFaults, clock=lambda: now)
    ref = sim.request_check("k", "case-1", SUBJECT, "PL", "criminal_proceedings", now, {})
    pusher.track(ref)

    def waited() -> float:
        with Session(engine) as session:
            row = session.get(SimPush, ref)
            assert row is not None and row.state == "waiting" and row.next_at is not None
            return (row.next_at.replace(tzinfo=UTC) - now).total_seconds()

    pusher._retry_later(ref, 503, retry_after=30)
    assert waited() == pytest.approx(30)  # not the first backoff's 0.5 s
    pusher._retry_later(ref, 503)
    assert waited() == pytest.approx(1.0)  # doubled from 0.5, no Retry-After
    pusher._retry_later(ref, 503, retry_after=90)
    assert waited() == pytest.approx(60)  # at most backoff_max
