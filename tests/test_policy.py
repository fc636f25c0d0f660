"""Need-to-know (``access.policy``): the policy as a table — every role × kind of case ×
same or other force × read and decide — and the policy at work through real Temporal:
a police officer refused a casework case and its payloads at the codec server, reading
their own force's encounter without certificates and refused another force's; a
supervisor who reads but decides nothing; the access log naming the proven person."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.client import Client

from access.decisions import request_for, send_decision
from access.errors import DecisionRefused, NotPermitted
from access.kinds import KIND_NAMES
from access.listing import CaseFilter, count_cases, list_cases
from access.policy import (
    Access,
    Capability,
    RedactedEncounter,
    case_ref,
    decisions_for,
    force_in_id,
    may,
    may_decide,
    may_decode,
    read_access,
    readable_kinds,
    redact,
    require_read,
)
from access.reading import audit, read_case
from api.codec_server import WITHHELD_HEADER, create_codec_app
from identity.principal import Principal
from models.case import (
    CertificateRef,
    ConvictionSummary,
    CountryCheck,
    EncounterState,
    Role,
    TimelineEntry,
)
from models.decisions import ROLES_FOR
from models.decisions_casework import NEW_ROLES_FOR
from models.policy import Policy, compressed_policy
from runtime.codec import EncryptionCodec, is_encrypted
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    CODEC_KEYS,
    api_identity,
    custody_event,
    decisions_of,
    eventually,
    harness,
    payloads_in,
    state_of,
    token,
    until,
)

ROLES: tuple[str, ...] = get_args(Role)
FORCE, OTHER = "kent", "essex"
R, F, _ = Access.REDACTED, Access.FULL, Access.NONE

# What each role reads: encounter, casework, notification — of its own force (a
# police officer reads nothing of another force's).
EXPECTED_READ: dict[str, tuple[Access, Access, Access]] = {
    "police_officer": (R, _, _),
    "caseworker": (F, F, F),
    "senior_caseworker": (F, F, F),
    "acro_officer": (F, _, _),
    "ice_officer": (_, F, _),
    "supervisor": (F, F, F),
    "director": (_, F, _),
    "cc_manager": (_, F, _),
    "detention_gatekeeper": (_, F, _),
}
CASEWORK = {
    "subject_located",
    "detention",
    "deportation",
    "admin_removal_referral",
    "deportation_enforced",
    "resume_after_fault",
    "ice_tasking_review",
    "immigration_certificate_outcome",
    # issue 21 (h2): Stage 1 to removal
    "serve_stage1",
    "representations",
    "serve_deportation_order",
    "appeal_lodged",
    "appeal_determined",
    "absconded",
    # issue 21 (h1): the located checklist
    "offending_history_review",
    "investigating_officer_answer",
    "pending_prosecution",
    "prosecution_consideration",
    "prosecution_outcome",
}


def _new(role: str) -> set[str]:
    return {k for k, roles in NEW_ROLES_FOR.items() if role in roles}


EXPECTED_DECIDE: dict[tuple[str, str], set[str]] = {
    ("police_officer", "encounter"): {"identity_data_supplied"},
    ("caseworker", "encounter"): {"identity_data_supplied", "resume_after_fault"},
    ("caseworker", "casework"): CASEWORK | _new("caseworker"),
    ("caseworker", "notification"): {"resume_after_fault"},
    ("senior_caseworker", "encounter"): {"resume_after_fault"},
    ("senior_caseworker", "casework"): CASEWORK
    | {"exclusion_consultation"}
    | _new("senior_caseworker"),
    ("senior_caseworker", "notification"): {"notification_escalation", "resume_after_fault"},
    ("ice_officer", "casework"): {"subject_located", "deportation_enforced"} | _new("ice_officer"),
    ("cc_manager", "casework"): _new("cc_manager"),
    ("detention_gatekeeper", "casework"): _new("detention_gatekeeper"),
    ("director", "casework"): {"director_approval"},
    ("acro_officer", "encounter"): {"triage"},
}
CASE_IDS = {
    "encounter": {FORCE: f"encounter-{FORCE}-CU-7", OTHER: f"encounter-{OTHER}-CU-7"},
    "casework": {FORCE: "casework-0a1b2c3d4e5f", OTHER: "casework-0a1b2c3d4e5f"},
    "notification": {FORCE: "notification-PL-123-2", OTHER: "notification-PL-123-2"},
}


def person(role: str, force: str | None = FORCE, name: str | None = None) -> Principal:
    who = name or role.replace("_", " ").title()
    return Principal(
        subject=f"local:{role}", name=who, role=role, force=force, reason="need to know"
    )


def test_the_table_covers_every_role_and_kind():
    assert set(EXPECTED_READ) == set(ROLES)
    assert set(KIND_NAMES) == set(CASE_IDS)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", sorted(CASE_IDS))
@pytest.mark.parametrize("whose", ["same force", "other force"])
def test_the_policy_as_a_table(role: str, kind: str, whose: str):
    p = person(role)
    ref = case_ref(CASE_IDS[kind][FORCE if whose == "same force" else OTHER])
    expected = EXPECTED_READ[role][KIND_NAMES.index(kind)]
    if role == "police_officer" and whose == "other force":
        expected = Access.NONE
    assert read_access(p, ref) is expected
    decisions = set() if expected is Access.NONE else EXPECTED_DECIDE.get((role, kind), set())
    assert decisions_for(p, ref) == decisions
    for decision_kind in ROLES_FOR:
        assert may_decide(p, ref, decision_kind) is (decision_kind in decisions)
        # The policy never allows what the case would refuse by role.
        if decision_kind in decisions:
            assert role in ROLES_FOR[decision_kind]
    if expected is Access.NONE:
        with pytest.raises(NotPermitted):
            require_read(p, ref)
    # The codec server decrypts only with full access.
    assert may_decode(p, ref.case_id) is (expected is Access.FULL)


def test_systems_and_police_officers_without_a_force_read_nothing():
    system = Principal(
        subject="client:pnc", name="PNC feed", role="system", kind="system", forces=("*",)
    )
    as_supervisor = system.model_copy(update={"role": "supervisor"})
    unforced = person("police_officer", force=None)
    for p in (system, as_supervisor, unforced):
        assert readable_kinds(p) == ()
        for kind in CASE_IDS:
            assert read_access(p, case_ref(CASE_IDS[kind][FORCE])) is Access.NONE
            assert not may_decode(p, CASE_IDS[kind][FORCE])
        assert not any(may(p, c) for c in Capability)
    assert not may_decode(unforced, None) and not may_decode(system, None)
    with pytest.raises(NotPermitted) as refused:
        require_read(unforced, case_ref(CASE_IDS["encounter"][FORCE]))
    assert refused.value.code == "no_force"
    # An unknown role is denied by default.
    assert readable_kinds(person("admin")) == ()


def test_capabilities_and_payloads_of_no_case():
    expected = {
        Capability.AUDIT: {"supervisor", "director"},
        Capability.FIGURES: {"supervisor", "director"},
        Capability.NOTIFICATIONS: {"caseworker", "senior_caseworker", "supervisor"},
        Capability.ACCEPT_ALERTS: {"senior_caseworker"},
        Capability.ENCODE: {"supervisor"},
    }
    for capability, roles in expected.items():
        assert {r for r in ROLES if may(person(r), capability)} == roles
    assert {r for r in ROLES if may_decode(person(r), None)} == {
        "caseworker",
        "senior_caseworker",
        "supervisor",
    }


@pytest.mark.parametrize(
    ("case_id", "force"),
    [
        ("encounter-kent-CU-7", "kent"),
        ("encounter-west-midlands-WM/2026/1", "west-midlands"),
        ("encounter-kent-HC-2017-120401", "kent"),
        ("encounter-kent-2017-1", None),  # force "kent" or "kent-2017": the ID cannot say
        ("encounter-kent-cu7", None),  # a reference is upper case
        ("encounter-kent", None),
        ("casework-kent-CU-7", None),
    ],
)
def test_an_encounters_force_from_its_id(case_id: str, force: str | None):
    assert force_in_id(case_id) == force
    assert case_ref(case_id, force="from-attributes").force == (
        force or ("from-attributes" if case_id.startswith("encounter-") else None)
    )


def test_forces_compare_without_case_or_spaces():
    officer = person("police_officer", force=" Kent ")
    assert read_access(officer, case_ref(CASE_IDS["encounter"][FORCE])) is R


def test_the_redacted_encounter_holds_no_certificate_and_no_offence():
    event = custody_event(force=FORCE, nationality="RO")
    cert = CertificateRef(
        document_id="doc-1",
        country="RO",
        purpose="immigration_deportation",
        convictions=[
            ConvictionSummary(
                offence="MURDER", serious=True, most_serious=True, recordable_on_pnc=False
            )
        ],
        received_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    at = datetime(2026, 1, 3, tzinfo=UTC)
    state = EncounterState(
        case_id=event.case_id(),
        policy=Policy(),
        event=event,
        subject_key="k",
        checks={"RO": CountryCheck(country="RO", channel="ECRIS", eu=True, certificate=cert)},
        casework_id="casework-k",
        referred_countries=["RO"],
        timeline=[
            TimelineEntry(at=at, kind="reply", text="Reply: 1 conviction(s)",
                          data={"country": "RO", "document_id": "doc-1"}),
            TimelineEntry(at=at, kind="step", text="Serious offending (MURDER): referred",
                          data={"casework_id": "casework-k"}),
            TimelineEntry(at=at, kind="step", text="1 overseas offence(s) added to the PNC"),
        ],
    )  # fmt: skip
    seen = redact(state)
    assert isinstance(seen, RedactedEncounter) and isinstance(seen, EncounterState)
    assert seen.redacted == ["certificates", "criminal_casework"]
    assert seen.checks["RO"].certificate is None and seen.casework_id is None
    assert seen.referred_countries == []
    assert "MURDER" not in seen.model_dump_json() and "doc-1" not in seen.model_dump_json()
    assert [e.kind for e in seen.timeline] == ["reply", "step", "step"]
    assert seen.event == state.event and seen.stage == state.stage


# --- through real Temporal ----------------------------------------------------------------
async def referred_case(h: Any, force: str = FORCE) -> tuple[Any, Any, Any]:
    """An encounter of ``force`` whose serious conviction opened a casework case that
    awaits 'subject located'."""
    event = custody_event(nationality="RO", force=force)
    reply = ReplySpec(
        after_days=1,
        convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
        certificate_purpose="immigration_deportation",
    )
    h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=None))
    encounter = await h.start(event)
    state = await until(encounter, lambda s: s.casework_id is not None, skip=h.env)
    casework = h.client.get_workflow_handle(state.casework_id)
    await until(casework, lambda s: "subject_located" in s.awaiting, skip=h.env)
    return event, encounter, casework


async def test_police_officers_read_their_forces_encounter_redacted_and_nothing_else(
    ts_env, tmp_path
):
    officer = person("police_officer", name="PC Okafor")
    elsewhere = person("police_officer", force=OTHER, name="PC Grant")
    async with harness(ts_env, tmp_path) as h:
        event, encounter, casework = await referred_case(h)
        full = await state_of(encounter)
        seen = await read_case(h.client, h.store, encounter.id, officer, "custody record check")
        with pytest.raises(NotPermitted) as other_force:
            await read_case(h.client, h.store, encounter.id, elsewhere, "curious")
        with pytest.raises(NotPermitted) as casework_refused:
            await read_case(h.client, h.store, casework.id, officer, "curious")
        # Decisions: the officer's own force's identity data reaches the case, which
        # decides (it awaits none now); another force's is refused before it is sent.
        supplied = {"kind": "identity_data_supplied", "place_of_birth": "Cluj"}
        with pytest.raises(DecisionRefused):
            await send_decision(
                h.client,
                encounter.id,
                officer,
                request_for(officer, "supplied", supplied),
                refusals=h.store,
            )
        with pytest.raises(NotPermitted):
            await send_decision(
                h.client,
                encounter.id,
                elsewhere,
                request_for(elsewhere, "supplied", supplied),
                refusals=h.store,
            )
        after = await state_of(encounter)
        refused = h.store.refusals(encounter.id).entries
        log = h.store.access_log(encounter.id) + h.store.access_log(casework.id)

    assert isinstance(seen, RedactedEncounter) and seen.stage == full.stage
    assert any(c.certificate for c in full.checks.values())
    assert all(c.certificate is None for c in seen.checks.values())
    # The case itself holds a claim check of the certificate, never its offences.
    assert "MURDER" not in full.model_dump_json() and "MURDER" not in seen.model_dump_json()
    assert seen.casework_id is None and seen.event.case_id() == event.case_id()
    assert other_force.value.code == "other_force"
    assert casework_refused.value.code == "not_permitted"
    # The refusal by the case is in its refusal log (not its history); the policy's
    # refusal, before anything was sent, is not.
    assert [(e.actor, e.role) for e in refused] == [("PC Okafor", "police_officer")]
    assert not [e for e in after.timeline if e.kind == "refusal"]
    # People's reads (the case process's own reads of the certificate are logged too).
    reads = [
        (e.actor, e.subject, e.case_id)
        for e in log
        if e.action == "consultation" and e.role != "system"
    ]
    assert reads == [("PC Okafor", "local:police_officer", encounter.id)]


async def test_a_supervisor_reads_everything_decides_nothing_and_the_log_names_the_person(
    ts_env, tmp_path
):
    sue = person("supervisor", name="Sue Park")
    sam = Principal(subject="idp:4711", name="Sam Jones", role="caseworker")
    async with harness(ts_env, tmp_path) as h:
        _, encounter, casework = await referred_case(h)
        read = await read_case(h.client, h.store, casework.id, sue, "quality review")
        await read_case(h.client, h.store, encounter.id, sue, "quality review")
        located = {"kind": "subject_located", "case_owner": "Sue Park"}
        with pytest.raises(NotPermitted):
            await send_decision(h.client, casework.id, sue, request_for(sue, "found", located))
        unchanged = await state_of(casework)
        # Another person's request is not sent in the supervisor's name either.
        with pytest.raises(NotPermitted) as not_yours:
            await send_decision(h.client, casework.id, sue, request_for(sam, "found", located))
        await read_case(h.client, h.store, casework.id, sam, "prepare the located decision")
        by_subject = audit(h.store, sue, actor="idp:4711")
        by_name = audit(h.store, sue, actor="Sam Jones")
        with pytest.raises(NotPermitted):
            audit(h.store, sam, case_id=casework.id)
    assert read.stage == unchanged.stage and "subject_located" in unchanged.awaiting
    assert not [e for e in unchanged.timeline if e.kind in ("decision", "refusal")]
    assert not_yours.value.code == "not_yours"
    assert [(e.actor, e.role, e.subject) for e in by_subject] == [
        ("Sam Jones", "caseworker", "idp:4711")
    ]
    assert [e.id for e in by_name] == [e.id for e in by_subject]


async def plain_client(env: Any) -> Client:
    """A client without the codec: the payloads as the server holds them."""
    return await Client.connect(
        env.client.service_client.config.target_host, namespace=env.client.namespace
    )


async def test_the_codec_server_decodes_only_the_cases_a_person_may_read_in_full(ts_env, tmp_path):
    # Real tokens of the tests' local issuer, checked by its TokenVerifier.
    tokens = {
        "officer-token": token("police_officer", "PC Okafor", force=FORCE),
        "sam-token": token("caseworker", "Sam Jones"),
        "ice-token": token("ice_officer", "Ike Bello"),
        "expired-token": token("caseworker", "Sam Jones", lifetime=timedelta(seconds=-60)),
        "forged-token": token("supervisor", "Sue Park")[:-4] + "AAAA",
    }
    namespace = ts_env.client.namespace
    async with harness(ts_env, tmp_path) as h:
        _, encounter, casework = await referred_case(h)
        raw = await plain_client(ts_env)
        cases = {}
        for handle in (encounter, casework):
            history = await raw.get_workflow_handle(handle.id).fetch_history()
            found = [p for e in history.events for p in payloads_in(e, skip={"search_attributes"})]
            cases[handle.id] = {"payloads": [MessageToDict(p) for p in found if is_encrypted(p)]}
        both = {
            "payloads": cases[encounter.id]["payloads"][:3] + cases[casework.id]["payloads"][:3]
        }
        app = create_codec_app(
            EncryptionCodec(CODEC_KEYS),
            h.store,
            namespace=namespace,
            verifier=api_identity().people,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://codec"
        ) as http:

            async def decode(name: str, body: dict) -> httpx.Response:
                return await http.post(
                    "/decode",
                    json=body,
                    headers={
                        "Authorization": f"Bearer {tokens[name]}",
                        "X-Namespace": namespace,
                        "X-Reason": "need to know",
                    },
                )

            officer_casework = await decode("officer-token", cases[casework.id])
            officer_encounter = await decode("officer-token", cases[encounter.id])
            sam_casework = await decode("sam-token", cases[casework.id])
            ice_mixed = await decode("ice-token", both)
            sam = {"Authorization": f"Bearer {tokens['sam-token']}", "X-Reason": "review"}
            no_namespace = await http.post("/decode", json=both, headers=sam)
            bad_tokens = [await decode(t, both) for t in ("forged-token", "expired-token")]
            encode = await http.post(
                "/encode", json=sam_casework.json(), headers=sam | {"X-Namespace": namespace}
            )
        log = h.store.access_log(encounter.id) + h.store.access_log(casework.id)

    def encrypted(response: httpx.Response) -> list[bool]:
        return [
            base64.b64decode(p["metadata"]["encoding"]) == b"binary/encrypted"
            for p in response.json()["payloads"]
        ]

    sent = len(cases[casework.id]["payloads"])
    # The police officer: every payload of both cases back still encrypted, as sent.
    for response, case in ((officer_casework, casework.id), (officer_encounter, encounter.id)):
        assert response.status_code == 200
        assert response.json() == cases[case]
        assert int(response.headers[WITHHELD_HEADER]) == len(cases[case]["payloads"])
    # The caseworker decodes the casework case; the ICE officer only its half of a mix.
    assert sam_casework.status_code == 200 and not any(encrypted(sam_casework))
    assert int(sam_casework.headers[WITHHELD_HEADER]) == 0 and sent > 0
    assert encrypted(ice_mixed) == [True] * 3 + [False] * 3
    assert b"MURDER" not in b"".join(
        base64.b64decode(p.get("data", "")) for p in ice_mixed.json()["payloads"][:3]
    )
    assert no_namespace.status_code == 400
    assert [r.status_code for r in bad_tokens] == [401, 401]
    assert encode.status_code == 403  # off unless FNO_CODEC_ALLOW_ENCODE=1
    decodes = [
        (e.actor, e.subject, e.case_id)
        for e in log
        if e.action == "consultation" and e.role != "system"
    ]
    assert sorted(decodes) == sorted(
        [
            ("Sam Jones", "local:sam-jones", casework.id),
            ("Ike Bello", "local:ike-bello", casework.id),
        ]
    )


@pytest.mark.devserver
async def test_listings_hold_only_what_the_principal_may_read(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    other = f"{force}-other"  # a force whose code holds a hyphen: its IDs split one way
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.2), run_worker=False) as h:
        mine = await h.start(custody_event(force=force), via_intake=True)
        theirs = await h.start(custody_event(force=other), via_intake=True)
        now = datetime.now(UTC)
        officer = person("police_officer", force=force)
        by_force = CaseFilter(force=force)
        for_both = [CaseFilter(force=force), CaseFilter(force=other)]

        async def listed(p: Principal) -> set[str]:
            rows: set[str] = set()
            for f in for_both:
                rows |= {r.case_id for r in await list_cases(h.client, p, f, now=now)}
            return rows

        async def settled() -> bool:
            sup = person("supervisor")
            return await listed(sup) == {mine.id, theirs.id}

        await eventually(settled, what="both encounters listed")
        officer_rows = await listed(officer)
        officer_count = await count_cases(h.client, officer, CaseFilter(), now=now)
        ice_rows = await listed(person("ice_officer"))
        acro_rows = await listed(person("acro_officer"))
        with pytest.raises(NotPermitted):
            await list_cases(h.client, person("police_officer", force=None), by_force, now=now)
        with pytest.raises(NotPermitted):
            await list_cases(h.client, officer, by_force, now=now, figures=True)
        figures = await list_cases(
            h.client, person("director"), CaseFilter(force=other), now=now, figures=True
        )
        for handle in (mine, theirs):
            await handle.terminate(reason="test over")
    assert officer_rows == {mine.id} and officer_count == 1
    assert ice_rows == set() and acro_rows == {mine.id, theirs.id}
    assert [r.case_id for r in figures] == [theirs.id]


async def test_a_permitted_decision_passes_a_worker_that_checks_the_front_door(ts_env, tmp_path):
    """``send_decision`` sends as the principal (``acting_as``): a worker that trusts
    only the front door takes it, and the case records the proven person."""
    sam = Principal(subject="idp:4711", name="Sam Jones", role="caseworker")
    async with harness(ts_env, tmp_path, run_worker=False) as h, h.running():
        _, _, casework = await referred_case(h)
        located = {"kind": "subject_located", "case_owner": "Sam Jones"}
        result = await send_decision(h.client, casework.id, sam, request_for(sam, "found", located))
        state = await state_of(casework)
    assert result.accepted
    [entry] = decisions_of(state, "subject_located")
    assert (entry.actor, entry.role) == ("Sam Jones", "caseworker")
