"""Personal data encrypted in Temporal: the payload codec and its keys, what the server
really holds, key rotation under a running case, and the codec server — on the real dev
server, with real workers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from api.codec_server import ALLOW_ENCODE_ENV, WITHHELD_HEADER, create_codec_app
from identity.principal import Principal
from local.prepare import child_env, prepare_codec
from models.case import Outcome
from models.policy import compressed_policy
from runtime.codec import (
    CodecConfigError,
    CodecKeys,
    EncryptionCodec,
    TamperedPayloadError,
    UnknownKeyError,
    data_converter,
    is_encrypted,
    write_keys_file,
)
from runtime.codec import main as codec_cli
from runtime.embedded import start_dev_server, stop_process, temporal_cli_path
from server.app import create_app
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    CODEC_KEYS,
    CONVERTER,
    NOT_DETAINED,
    api_client,
    custody_event,
    decide,
    decision,
    decrypted_history,
    deport_fields,
    harness,
    instruct_stage1,
    locate,
    patient_policy,
    payloads_in,
    serve_order_when_asked,
    through_checklist,
    until,
)
from tests.support_front_door import checking, front_door_env, signing
from workflows import WORKFLOWS

ROOT = Path(__file__).resolve().parent.parent
SUBJECT = {
    "family_name": "Zawadzka",
    "given_names": "Halszka Maria",
    "date_of_birth": "1971-03-09",
    "place_of_birth": "Przemyśl",
    "father_name": "Bogumił",
    "mother_name": "Jadwiga",
}
CONVICTION = ConvictionSpec(offence="ARMED_ROBBERY", convicted_on="2008-03-11", sentence="5 years")
OFFENCE_TEXTS = ["ARMED_ROBBERY", "Armed robbery", "2008-03-11"]
UI_ORIGIN = "http://localhost:8233"


def json_payload(value: Any) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


# --- the codec ----------------------------------------------------------------------


async def test_round_trip_hides_the_content_and_names_key_and_case():
    codec = EncryptionCodec(CodecKeys.generate("k-2026"), "encounter-kent-CU-1")
    plain = [json_payload({"family_name": "Nowak", "date_of_birth": "1979-02-11"}), Payload()]
    sealed = await codec.encode(plain)
    again = await codec.encode(plain)
    for p in sealed:
        assert p.metadata["encoding"] == b"binary/encrypted"
        assert p.metadata["encryption-key-id"] == b"k-2026"
        assert p.metadata["encryption-cipher"] == b"AES-256-GCM"
        assert p.metadata["fno-case-id"] == b"encounter-kent-CU-1"
    assert b"Nowak" not in sealed[0].SerializeToString()
    assert b"1979" not in sealed[0].SerializeToString()
    assert sealed[0].data != again[0].data  # a fresh nonce each time
    assert await codec.decode(sealed) == plain


async def test_a_payload_under_an_unknown_key_fails_with_a_clear_error():
    sealed = await EncryptionCodec(CodecKeys.generate("old-key")).encode([json_payload("x")])
    with pytest.raises(UnknownKeyError, match=r"'old-key'.*FNO_CODEC_KEYS"):
        await EncryptionCodec(CodecKeys.generate("new-key")).decode(sealed)


@pytest.mark.parametrize("tamper", ["ciphertext", "nonce", "case id", "key id", "truncated"])
async def test_tampered_payloads_fail_authentication(tamper: str):
    keys = CodecKeys.generate("k1").with_new_key("k2")
    codec = EncryptionCodec(keys, "encounter-kent-CU-1")
    [sealed] = await codec.encode([json_payload("Zawadzka")])
    data = bytearray(sealed.data)
    if tamper == "ciphertext":
        data[-20] ^= 0x01
    elif tamper == "nonce":
        data[0] ^= 0x80
    elif tamper == "truncated":
        data = data[:20]
    sealed.data = bytes(data)
    if tamper == "case id":  # the access log's case must be the true one
        sealed.metadata["fno-case-id"] = b"encounter-kent-OTHER"
    elif tamper == "key id":
        sealed.metadata["encryption-key-id"] = b"k1"
    with pytest.raises(TamperedPayloadError, match=r"k[12]"):
        await codec.decode([sealed])


async def test_a_different_key_under_the_same_id_is_refused():
    [sealed] = await EncryptionCodec(CodecKeys.generate("k1")).encode([json_payload("x")])
    with pytest.raises(TamperedPayloadError, match="'k1'"):  # names the key to check
        await EncryptionCodec(CodecKeys.generate("k1")).decode([sealed])


async def test_plain_payloads_pass_through_decoding_untouched():
    plain = [json_payload({"written": "before encryption"}), Payload(metadata={"x": b"y"})]
    assert await EncryptionCodec(CodecKeys.generate()).decode(plain) == plain


async def test_rotation_new_payloads_use_the_current_key_old_ones_still_decode():
    old = CodecKeys.generate("2026-01")
    rotated = old.with_new_key("2026-11")
    assert rotated.current == "2026-11" and set(rotated.keys) == {"2026-01", "2026-11"}
    before = await EncryptionCodec(old).encode([json_payload("a")])
    after = await EncryptionCodec(rotated).encode([json_payload("b")])
    assert after[0].metadata["encryption-key-id"] == b"2026-11"
    assert await EncryptionCodec(rotated).decode(before + after) == [
        json_payload("a"),
        json_payload("b"),
    ]


async def test_failure_messages_and_stack_traces_are_encrypted():
    failure = Failure()
    try:
        raise ApplicationError("Refused for Halszka Zawadzka, born 1971-03-09")
    except ApplicationError as err:
        await CONVERTER.encode_failure(err, failure)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert is_encrypted(failure.encoded_attributes)
    assert b"Zawadzka" not in failure.SerializeToString()
    decoded = await CONVERTER.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == "Refused for Halszka Zawadzka, born 1971-03-09"


# --- keys: configuration, start-up refusals, rotation command -------------------------


def test_keys_from_the_environment_a_file_or_the_local_file(tmp_path: Path):
    keys = CodecKeys.generate("a").with_new_key("b")
    assert CodecKeys.from_env({"FNO_CODEC_KEYS": keys.to_json()}) == keys
    assert CodecKeys.from_env(
        {"FNO_CODEC_KEYS": keys.to_json(), "FNO_CODEC_CURRENT_KEY_ID": "a"}
    ) == CodecKeys(current="a", keys=keys.keys)
    write_keys_file(tmp_path / "keys.json", keys)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert CodecKeys.from_env({"FNO_CODEC_KEYS_FILE": str(tmp_path / "keys.json")}) == keys
    # Nothing configured: in local mode, the local file under FNO_HOME, if `make run`
    # made one (outside local mode it is refused: tests/test_secrets.py).
    write_keys_file(tmp_path / "home" / "codec-keys.json", keys)
    local = {"FNO_LOCAL_MODE": "1"}
    assert CodecKeys.from_env(local | {"FNO_HOME": str(tmp_path / "home")}) == keys
    # One key needs no "current"; URL-safe base64 is accepted.
    key = base64.urlsafe_b64encode(b"\xfb" * 32).decode()
    one = CodecKeys.from_json(json.dumps({"keys": {"only": key}}), source="test")
    assert one.current == "only" and one.keys["only"] == b"\xfb" * 32


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # Each refusal names what to set or fix: the variable, the field, the key ID,
        # the size a key must have, the file (its wording is not asserted).
        ({}, "FNO_CODEC_KEYS_FILE"),
        ({"FNO_CODEC_KEYS": "{not json"}, "FNO_CODEC_KEYS"),
        ({"FNO_CODEC_KEYS": '{"a": "b"}'}, '"keys"'),
        ({"FNO_CODEC_KEYS": '{"keys": {"a": "not base64!"}}'}, "'a'"),
        (
            {"FNO_CODEC_KEYS": json.dumps({"keys": {"a": base64.b64encode(b"k" * 16).decode()}})},
            r"'a'.*\b32\b",
        ),
        ({"FNO_CODEC_KEYS": json.dumps({"keys": {}})}, "FNO_CODEC_KEYS"),
        ({"FNO_CODEC_CURRENT_KEY_ID": "zzz"}, "'zzz'"),
        ({"FNO_CODEC_KEYS_FILE": "/nonexistent/keys.json"}, "/nonexistent/keys.json"),
        ({"FNO_CODEC_KEYS_FILE": "/x", "FNO_CODEC_KEYS": "{}"}, "FNO_CODEC_KEYS_FILE"),
    ],
)
def test_missing_or_wrong_keys_are_refused_with_what_to_do(tmp_path, env, message):
    if env.get("FNO_CODEC_CURRENT_KEY_ID"):
        env = env | {"FNO_CODEC_KEYS": CodecKeys.generate("a").to_json()}
    with pytest.raises(CodecConfigError, match=message):
        CodecKeys.from_env({"FNO_HOME": str(tmp_path)} | env)


def test_several_keys_need_a_current_one():
    doc = json.loads(CodecKeys.generate("a").with_new_key("b").to_json())
    del doc["current"]
    with pytest.raises(CodecConfigError, match="FNO_CODEC_CURRENT_KEY_ID"):
        CodecKeys.from_env({"FNO_CODEC_KEYS": json.dumps(doc)})
    assert CodecKeys.from_env(
        {"FNO_CODEC_KEYS": json.dumps(doc), "FNO_CODEC_CURRENT_KEY_ID": "b"}
    ).current == ("b")


def test_the_rotate_command_adds_a_current_key_and_keeps_the_old(tmp_path, capsys):
    path = tmp_path / "keys.json"
    assert codec_cli(["rotate", "--file", str(path), "--key-id", "first"]) == 0
    assert codec_cli(["rotate", "--file", str(path), "--key-id", "second"]) == 0
    keys = CodecKeys.from_env({"FNO_CODEC_KEYS_FILE": str(path)})
    assert keys.current == "second" and set(keys.keys) == {"first", "second"}
    assert codec_cli(["rotate", "--file", str(path), "--key-id", "second"]) == 2
    assert "'second'" in capsys.readouterr().err
    assert CodecKeys.from_env({"FNO_CODEC_KEYS_FILE": str(path)}) == keys  # unchanged


def _bare_env(tmp_path: Path, **more: str) -> dict[str, str]:
    """A local-mode process environment with no key configured (and no local key
    file): even there, no key is made up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FNO_", "TEMPORAL_"))}
    return (
        env
        | {"FNO_HOME": str(tmp_path / "nowhere"), "FNO_LOG_FORMAT": "json", "FNO_LOCAL_MODE": "1"}
        | more
    )


@pytest.mark.parametrize(
    "command",
    [["worker.py"], ["starter.py", "examples/custody_events.jsonl"]],
    ids=["worker", "starter"],
)
def test_processes_refuse_to_start_without_keys(tmp_path, command):
    # The front-door key given: the worker checks it first (tests/test_front_door.py).
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=_bare_env(tmp_path) | front_door_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "FNO_CODEC_KEYS_FILE" in run.stderr


def test_the_http_api_refuses_to_start_with_a_malformed_key(tmp_path):
    bad = json.dumps({"keys": {"a": base64.b64encode(b"short").decode()}})
    run = subprocess.run(
        [sys.executable, "-m", "server.app"],
        cwd=ROOT,
        env=_bare_env(tmp_path, FNO_CODEC_KEYS=bad, FNO_HTTP_PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "'a'" in run.stderr  # the key at fault, named


class TokenRefused(Exception):
    """What a token verifier raises (``identity.tokens.TokenError``'s shape)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def test_the_codec_server_takes_the_verifiers_answer_and_encodes_only_when_allowed(
    tmp_path, monkeypatch
):
    from store.cases import CaseStore

    def verify(token: str) -> Any:
        if token == "no-role":
            raise TokenRefused(403, "a valid token with no usable role")
        if token == "nobody":
            return None  # not a Principal: proves nobody
        if token == "sue":
            return Principal(subject="local:sue", name="Sue Park", role="supervisor")
        if token == "sam":
            return Principal(subject="local:sam", name="Sam Jones", role="caseworker")
        raise TokenRefused(401, "bad signature")

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    body = {"payloads": [MessageToDict(json_payload({"a": 1}))]}
    ns = {"X-Namespace": "default"}
    monkeypatch.delenv(ALLOW_ENCODE_ENV, raising=False)
    codec = EncryptionCodec(CODEC_KEYS)
    by_default = create_codec_app(codec, store, namespace="default", verifier=verify)
    monkeypatch.setenv(ALLOW_ENCODE_ENV, "1")
    allowed = create_codec_app(codec, store, namespace="default", verifier=verify)
    answers: dict[str, int] = {}
    for name, app in (("default", by_default), ("allowed", allowed)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://codec"
        ) as http:
            for token in ("no-role", "nobody", "forged", "sue"):
                bearer = {"Authorization": f"Bearer {token}"}
                decoded = await http.post("/decode", json=body, headers=ns | bearer)
                answers[f"{name} decode {token}"] = decoded.status_code
            anonymous = await http.post("/encode", json=body, headers=ns)
            as_sue = ns | {"Authorization": "Bearer sue"}
            encoded = await http.post("/encode", json=body, headers=as_sue)
            as_sam = ns | {"Authorization": "Bearer sam"}
            by_caseworker = await http.post("/encode", json=body, headers=as_sam)
            answers[f"{name} encode anonymous"] = anonymous.status_code
            answers[f"{name} encode sue"] = encoded.status_code
            answers[f"{name} encode sam"] = by_caseworker.status_code
    store.engine.dispose()
    assert answers == {
        "default decode no-role": 403,
        "default decode nobody": 401,
        "default decode forged": 401,
        "default decode sue": 403,  # no purpose stated, none by default: refused
        "default encode anonymous": 403,  # off, whoever asks
        "default encode sue": 403,
        "default encode sam": 403,
        "allowed decode no-role": 403,
        "allowed decode nobody": 401,
        "allowed decode forged": 401,
        "allowed decode sue": 403,
        "allowed encode anonymous": 401,
        "allowed encode sue": 200,
        "allowed encode sam": 403,  # on, but not for a caseworker (policy: ENCODE)
    }


# --- the run command's local story ----------------------------------------------------


def test_the_run_command_makes_local_keys_once_and_wires_them(tmp_path):
    home = tmp_path / "fno"
    home.mkdir()
    prepare_codec(home, {})
    local = {"FNO_LOCAL_MODE": "1", "FNO_HOME": str(home)}  # as child_env gives it
    keys = CodecKeys.from_env(local)
    assert stat.S_IMODE((home / "codec-keys.json").stat().st_mode) == 0o600
    prepare_codec(home, {})  # a second run keeps them: earlier cases stay readable
    assert CodecKeys.from_env(local) == keys

    env = child_env(home, 17233, base={"PATH": "/bin"}, ui_port=18233)
    assert env["FNO_CODEC_KEYS_FILE"] == str(home / "codec-keys.json")
    assert stat.S_IMODE((home / "front-door-key").stat().st_mode) == 0o600
    assert not (home / "codec-tokens.json").exists()  # decoding needs a proven person
    assert "http://localhost:18233" in env["FNO_CODEC_CORS_ORIGINS"].split(",")
    # A deployment's own configuration is kept as it is.
    own = child_env(home, 1, base={"FNO_CODEC_KEYS": "{}"})
    assert "FNO_CODEC_KEYS_FILE" not in own
    with pytest.raises(CodecConfigError):
        prepare_codec(home, {"FNO_CODEC_KEYS": '{"keys": {}}'})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.devserver
def test_the_web_ui_is_wired_to_the_codec_server(tmp_path):
    port, ui_port = _free_port(), _free_port()
    server = start_dev_server(tmp_path, port, ui_port, codec_endpoint="http://localhost:8000/codec")
    try:
        settings = httpx.get(f"http://localhost:{ui_port}/api/v1/settings", timeout=10).json()
    finally:
        stop_process(server, "dev server", timeout=15)
    assert settings["Codec"]["Endpoint"] == "http://localhost:8000/codec"


# --- what the Temporal server holds ---------------------------------------------------


async def plain_client(env: Any) -> Client:
    """A client WITHOUT the codec: what the server (or anyone reading it) sees."""
    return await Client.connect(
        env.client.service_client.config.target_host, namespace=env.client.namespace
    )


def raw_bytes(history: WorkflowHistory) -> bytes:
    return b"".join(event.SerializeToString() for event in history.events)


def outside_search_attributes(history: WorkflowHistory) -> list[Payload]:
    """Every payload of the history except search attributes (plain by design: they
    hold no personal data, and the server must index them), the front door's signed
    assertion in the headers (who acts and a digest: ``runtime.front_door``) and the
    version markers (a patch ID). Of a local activity's marker (issue 22: the
    encounter's chasers and close), its result (``result``), not Core's own JSON of
    sequence number, attempt and times (``data``)."""
    found: list[Payload] = []
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            continue
        if marker.marker_name == "core_local_activity":
            found.extend(marker.details["result"].payloads if "result" in marker.details else [])
            continue
        found.extend(payloads_in(e, skip={"search_attributes", "header"}))
    return found


def header_names(history: WorkflowHistory) -> set[str]:
    """The names of every Temporal header the history holds."""
    names: set[str] = set()
    for event in history.events:
        for descriptor, value in event.ListFields():
            attrs = value if descriptor.message_type else None
            header = getattr(attrs, "header", None) if attrs is not None else None
            if header is not None:
                names |= set(header.fields.keys())
    return names


@pytest.mark.devserver
async def test_the_server_holds_no_personal_data_and_the_history_decodes_and_replays(
    dev_env, tmp_path
):
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2)) as h:
        event = custody_event(nationality="PL", **SUBJECT)
        reply = ReplySpec(
            after_days=1, convictions=[CONVICTION], certificate_purpose="immigration_deportation"
        )
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=None))
        encounter = await h.start(event)
        state = await until(encounter, lambda s: s.casework_id is not None, what="referral")
        casework = h.client.get_workflow_handle(state.casework_id)
        await until(casework, lambda s: "subject_located" in s.awaiting, what="casework")
        server_side = await plain_client(dev_env)
        histories = [
            await server_side.get_workflow_handle(wid).fetch_history()
            for wid in (encounter.id, casework.id)
        ]
    secrets_of_the_case = [*SUBJECT.values(), event.subject.pnc_id or "", *OFFENCE_TEXTS]
    for history in histories:
        raw, text = raw_bytes(history), history.to_json()
        for secret in secrets_of_the_case:
            assert secret.encode() not in raw, secret
            assert secret not in text, secret
        payloads = outside_search_attributes(history)
        assert len(payloads) > 5
        assert all(is_encrypted(p) for p in payloads), [
            dict(p.metadata) for p in payloads if not is_encrypted(p)
        ]
        kinds = {e.event_type for e in history.events}
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds

    # With the key, the same histories decode (the data is there, only encrypted) ...
    decoded = b"".join(raw_bytes(decrypted_history(h_)) for h_ in histories)
    for secret in SUBJECT.values():
        assert secret.encode() in decoded, secret
    # ... but no offence: the case holds a claim check of its certificate, not its content.
    assert b"ARMED_ROBBERY" not in decoded
    # ... and replay against today's workflow code.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER, interceptors=[checking()])
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
    # Without it, they do not.
    stranger = Replayer(workflows=WORKFLOWS, data_converter=data_converter(CodecKeys.generate()))
    result = await stranger.replay_workflow(histories[0], raise_on_replay_failure=False)
    assert result.replay_failure is not None


@pytest.mark.devserver
async def test_a_failing_steps_error_is_encrypted_on_the_server(dev_env, tmp_path):
    from sim.world_file import FaultSpec, WorldFile

    world = WorldFile(faults=FaultSpec(rate=1.0, systems=["acro"]))
    async with harness(dev_env, tmp_path, world=world) as h:
        handle = await h.start(custody_event(nationality="DE", **SUBJECT))
        server_side = await plain_client(dev_env)
        pending: Any = None
        for _ in range(60):
            described = await server_side.get_workflow_handle(handle.id).describe()
            pending = next(
                (
                    a
                    for a in described.raw_description.pending_activities
                    if a.HasField("last_failure")
                ),
                None,
            )
            if pending is not None:
                break
            await asyncio.sleep(0.25)
    assert pending is not None
    assert pending.last_failure.message == "Encoded failure"
    assert is_encrypted(pending.last_failure.encoded_attributes)
    error = await CONVERTER.decode_failure(pending.last_failure)
    assert isinstance(error, ApplicationError) and error.message == "simulated acro outage"


# --- key rotation under a running case -----------------------------------------------


@pytest.mark.devserver
@pytest.mark.parametrize("before", ["old key", "no encryption"])
async def test_a_key_rotated_mid_case_and_the_case_completes(dev_env, tmp_path, before):
    """``old key``: a new current key is added mid-case. ``no encryption``: a case
    started before encryption was turned on carries on under it."""
    target = dev_env.client.service_client.config.target_host
    namespace = dev_env.client.namespace
    first = CodecKeys.generate("rotation-1")
    rotated = first.with_new_key("rotation-2")

    async def client_with(keys: CodecKeys | None) -> Client:
        # A case begun in clear carries on only with the switch for such payloads.
        converter = (
            pydantic_data_converter
            if keys is None
            else data_converter(keys, accept_unencrypted=before == "no encryption")
        )
        return await Client.connect(
            target, namespace=namespace, data_converter=converter, interceptors=[signing()]
        )

    def cw(reason: str, **d: Any) -> Any:
        return decision("Sam Jones", "caseworker", reason, **d)

    # Patient: the worker restarts between the referral and the first decision, and with
    # the statutory ICE tasking at 0.2 s a day a weekly status poll (no decision awaited
    # meanwhile) fell due every 1.4 s.
    async with harness(dev_env, tmp_path, policy=patient_policy(), run_worker=False) as h:
        h.client = await client_with(first if before == "old key" else None)
        event = custody_event(nationality="PL", **SUBJECT)
        reply = ReplySpec(
            after_days=1, convictions=[CONVICTION], certificate_purpose="immigration_deportation"
        )
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=None))
        async with h.running():
            encounter = await h.start(event)
            state = await until(encounter, lambda s: s.casework_id is not None, what="referral")
            casework_id = state.casework_id
            await until(
                h.client.get_workflow_handle(casework_id),
                lambda s: "subject_located" in s.awaiting,
                what="casework waiting",
            )
        # Rotation: a new current key; the worker and every client restart with both.
        h.client = await client_with(rotated)
        encounter = h.client.get_workflow_handle(encounter.id)
        casework = h.client.get_workflow_handle(casework_id)
        async with h.running():
            await locate(casework, cw("ICE found him", kind="subject_located", case_owner="Sam"))
            await through_checklist(h, casework)
            await until(casework, lambda s: "detention" in s.awaiting, what="detention")
            await decide(casework, cw("risk of absconding", **NOT_DETAINED))
            await instruct_stage1(h, casework, skip=False)  # issue 21
            await until(casework, lambda s: "deportation" in s.awaiting, what="deportation")
            await decide(casework, cw("serious offending", **deport_fields()))
            await serve_order_when_asked(h, casework, skip=False)
            await until(casework, lambda s: "deportation_enforced" in s.awaiting, what="removal")
            await decide(
                casework,
                decision(
                    "Officer Hale",
                    "ice_officer",
                    "escorted removal",
                    kind="deportation_enforced",
                    removed_on="2018-05-10",
                    removal_reference="REM-1",
                ),
            )
            result = await asyncio.wait_for(encounter.result(), 60)  # untyped: a dict
        server_side = await plain_client(dev_env)
        key_ids = set()
        for wid in (encounter.id, casework_id):
            history = await server_side.get_workflow_handle(wid).fetch_history()
            key_ids |= {
                p.metadata.get("encryption-key-id", b"(plain)").decode()
                for p in outside_search_attributes(history)
            }
        # A process given only the old key cannot read what the new key wrote, and says so.
        with pytest.raises(UnknownKeyError, match="rotation-2"):
            await (await client_with(first)).get_workflow_handle(encounter.id).result()
    assert result["outcome"] == Outcome.DEPORTED.value
    assert key_ids == {"rotation-1" if before == "old key" else "(plain)", "rotation-2"}


# --- the codec server ---------------------------------------------------------------

SUPERVISOR_TOKEN = "sup-" + "s" * 28
UI_TOKEN = "ui-" + "u" * 29


PEOPLE = {
    SUPERVISOR_TOKEN: Principal(subject="local:sue", name="Sue Park", role="supervisor"),
    UI_TOKEN: Principal(
        subject="local:sam", name="Sam Jones", role="caseworker", reason="case review in the UI"
    ),
}


def verify(token: str) -> Principal:
    """A stand-in for ``identity.tokens.TokenVerifier.verify``: raises for a bad token."""
    if token not in PEOPLE:
        raise PermissionError("unknown token")
    return PEOPLE[token]


def codec_server(store: Any, namespace: str, *, allow_encode: bool = False) -> Any:
    return create_codec_app(
        EncryptionCodec(CODEC_KEYS),
        store,
        namespace=namespace,
        verifier=verify,
        cors_origins=[UI_ORIGIN],
        allow_encode=allow_encode,
    )


def texts_of(response: httpx.Response) -> bytes:
    return b"".join(base64.b64decode(p.get("data", "")) for p in response.json()["payloads"])


@pytest.mark.devserver
async def test_the_codec_server_decodes_for_token_holders_only_and_logs_each_decode(
    dev_env, tmp_path
):
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2)) as h:
        event = custody_event(nationality="DE", **SUBJECT)
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event)
        await handle.result()
        history = await (await plain_client(dev_env)).get_workflow_handle(handle.id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        body = MessageToDict(started.input)  # as the Web UI sends it
        ns = {"X-Namespace": dev_env.client.namespace}

        codec = codec_server(h.store, ns["X-Namespace"], allow_encode=True)
        async with api_client(h.client, h.store, codec_server=codec) as web:
            sup = {"Authorization": f"Bearer {SUPERVISOR_TOKEN}"}
            anonymous = await web.post("/codec/decode", json=body, headers=ns)
            wrong = await web.post(
                "/codec/decode", json=body, headers=ns | {"Authorization": f"Bearer {'x' * 32}"}
            )
            # A token in the URL is no credential: the route is gone.
            in_path = await web.post(f"/codec/{UI_TOKEN}/decode", json=body, headers=ns)
            no_purpose = await web.post("/codec/decode", json=body, headers=ns | sup)
            other_namespace = await web.post(
                "/codec/decode",
                json=body,
                headers=sup | {"X-Namespace": "elsewhere", "X-Reason": "audit"},
            )
            no_namespace = await web.post(
                "/codec/decode", json=body, headers=sup | {"X-Reason": "audit"}
            )
            decoded = await web.post(
                "/codec/decode",
                json=body,
                headers=ns | sup | {"X-Reason": "audit of case handling"},
            )
            # The token's default purpose applies.
            by_ui = await web.post(
                "/codec/decode", json=body, headers=ns | {"Authorization": f"Bearer {UI_TOKEN}"}
            )
            encode_refused = await web.post("/codec/encode", json=decoded.json(), headers=ns)
            encoded = await web.post("/codec/encode", json=decoded.json(), headers=ns | sup)
            preflight = await web.options(
                "/codec/decode",
                headers={
                    "Origin": UI_ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,x-namespace",
                },
            )
            foreign = await web.options(
                "/codec/decode",
                headers={
                    "Origin": "http://elsewhere.example",
                    "Access-Control-Request-Method": "POST",
                },
            )
    for refused, status in [
        (anonymous, 401),
        (wrong, 401),
        (in_path, 404),
        (no_purpose, 403),
        (other_namespace, 403),
        (no_namespace, 400),
        (encode_refused, 401),
    ]:
        assert refused.status_code == status, (refused.status_code, refused.text)
        assert "Zawadzka" not in refused.text
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"

    assert decoded.status_code == 200 and by_ui.status_code == 200
    assert decoded.headers[WITHHELD_HEADER] == "0"
    assert b"Zawadzka" in texts_of(decoded) and b"1971-03-09" in texts_of(decoded)
    assert texts_of(by_ui) == texts_of(decoded)
    assert encoded.status_code == 200
    reencoded = encoded.json()["payloads"]
    assert all(
        base64.b64decode(p["metadata"]["encoding"]) == b"binary/encrypted" for p in reencoded
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-namespace" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers

    # One consultation per decode that decrypted something (none for the refused ones),
    # each with who, role and the purpose stated or the token's default.
    logged = [
        e
        for e in h.store.access_log(handle.id)
        if e.action == "consultation" and e.role != "system"
    ]
    assert [(e.actor, e.role, e.subject) for e in logged] == [
        ("Sue Park", "supervisor", "local:sue"),
        ("Sam Jones", "caseworker", "local:sam"),
    ]
    assert logged[0].justification.startswith("audit of case handling")
    assert logged[1].justification.startswith("case review in the UI")


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` on a real HTTP port (uvicorn), for clients outside this process."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.devserver
async def test_the_temporal_cli_shows_a_history_decoded_through_the_codec_server(dev_env, tmp_path):
    """The same protocol the Web UI speaks, from Temporal's own client."""
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2)) as h:
        event = custody_event(nationality="DE", **SUBJECT)
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event)
        await handle.result()

        async def connect() -> Client:
            return h.client

        namespace = dev_env.client.namespace
        app = create_app(connect, h.store, codec_server=codec_server(h.store, namespace))
        async with serving(app) as url:

            async def show(*codec: str) -> tuple[int, str]:
                proc = await asyncio.create_subprocess_exec(
                    str(temporal_cli_path()),
                    "workflow",
                    "show",
                    "-w",
                    handle.id,
                    "--address",
                    dev_env.client.service_client.config.target_host,
                    "--namespace",
                    namespace,
                    "-o",
                    "json",
                    *codec,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                out, _ = await proc.communicate()
                return proc.returncode or 0, out.decode()

            endpoint = ["--codec-endpoint", f"{url}/codec", "--command-timeout", "5s"]
            code_without, without = await show(*endpoint)
            code, with_token = await show(
                *endpoint,
                "--codec-auth",
                f"Bearer {SUPERVISOR_TOKEN}",
                "--codec-header",
                "X-Reason=review from the terminal",
            )

    def started_input(output: str) -> bytes:
        first = json.loads(output)["events"][0]["workflowExecutionStartedEventAttributes"]
        return b"".join(base64.b64decode(p["data"]) for p in first["input"]["payloads"])

    # Refused: the CLI gives up (or shows the ciphertext).
    assert "Zawadzka" not in without
    assert code_without != 0 or b"Zawadzka" not in started_input(without)
    assert code == 0, with_token
    assert b"Zawadzka" in started_input(with_token)
    assert [
        e.justification
        for e in h.store.access_log(handle.id)
        if e.action == "consultation" and e.role != "system" and e.actor == "Sue Park"
    ]
