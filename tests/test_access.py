"""The access log (DPA 2018 s.62): every kind of access leaves exactly one entry with
its actor and justification; a read without a purpose is refused; supervisors audit,
from the library, the ``fno`` command and over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from access.decisions import send_decision
from access.errors import AccessRefused
from access.reading import audit, read_case
from activities.steps import CaseActivities
from identity.principal import Principal
from models.case import Outcome, Stage
from models.steps import EncounterOpened
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import allocate, api_client, bearer, custody_event, decision, harness, until

SUPERVISOR = Principal(subject="local:sue", name="Sue Park", role="supervisor")
SAM = Principal(subject="local:sam", name="Sam Jones", role="caseworker")


async def romanian_case(h):
    """The seed-001 shape, up to a caseworker's first decision."""
    event = custody_event(nationality="RO", force="derbyshire")
    reply = ReplySpec(
        after_days=1,
        convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
        immigration_certificate_after_days=3,
    )
    h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=None))
    encounter = await h.start(event)
    state = await until(encounter, lambda s: s.casework_id is not None, skip=h.env)
    casework = h.client.get_workflow_handle(state.casework_id)
    await until(casework, lambda s: "subject_located" in s.awaiting, skip=h.env)
    return event, encounter, casework


async def test_each_kind_of_access_is_logged_once_with_actor_and_justification(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event, encounter, casework = await romanian_case(h)
        await read_case(h.client, h.store, casework.id, SAM, "prepare detention review")
        located = decision(
            "Sam Jones",
            "caseworker",
            "arrested on warrant",
            kind="subject_located",
            case_owner="Sam Jones",
        )
        await send_decision(
            h.client, casework.id, SAM, located.model_copy(update={"actor_id": SAM.subject})
        )
        await allocate(casework, SAM.name, owner_id=SAM.subject, skip=h.env)  # issue 21
        # issue 21: the located checklist's first decision (the PNC print compared first)
        await until(casework, lambda s: "offending_history_review" in s.awaiting, skip=h.env)
        entries = h.store.access_log(encounter.id) + h.store.access_log(casework.id)
    kinds = Counter(e.action for e in entries)
    assert kinds == {
        "collection": 3,  # the custody event, the certificate, the immigration certificate
        "disclosure": 2,  # identity data to Romania, twice (criminal, then immigration)
        # CID case record, calendar event, the country's further details (no sentence was
        # given) merged into the certificate
        "alteration": 3,
        # Sam's read, and the case process's reads of the certificates (to record them on
        # the PNC, to check them there, to create the CID case, to compare the PNC print).
        "consultation": 5,
        "decision": 2,  # located, then a CC manager's allocation (issue 21)
        "erasure": 1,  # the non-disclosable certificate
    }
    by_action = {  # (not the CC manager's allocation: issue 21)
        e.action: e
        for e in entries
        if not (e.action == "consultation" and e.role == "system") and e.role != "cc_manager"
    }
    process_reads = [e for e in entries if e.action == "consultation" and e.role == "system"]
    assert len(process_reads) == 4 and all(e.document_id for e in process_reads)
    assert (by_action["consultation"].actor, by_action["consultation"].justification) == (
        "Sam Jones",
        "prepare detention review",
    )
    assert by_action["consultation"].subject == "local:sam"  # the proven person
    assert (by_action["decision"].actor, by_action["decision"].role) == ("Sam Jones", "caseworker")
    assert by_action["decision"].justification == "subject_located: arrested on warrant"
    collected = [e for e in entries if e.action == "collection"]
    assert collected[0].actor == event.requesting_officer.name
    # The erasure is of the non-disclosable certificate, the one the store emptied.
    erased = h.store.document(by_action["erasure"].document_id)
    assert erased is not None and erased.content is None and erased.destroyed_at is not None
    assert all(e.actor and e.justification for e in entries)


async def test_a_read_without_a_purpose_is_refused_and_not_logged(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event)
        await handle.result()
        with pytest.raises(AccessRefused):
            await read_case(h.client, h.store, handle.id, SAM, "  ")
        consultations = [e for e in h.store.access_log(handle.id) if e.action == "consultation"]
    assert consultations == []


def test_a_retried_activity_leaves_one_record(tmp_path):
    from activities.gateways import Gateways
    from store.cases import CaseStore

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'store.db'}")
    acts = CaseActivities(
        Gateways(acro=1, police=1, pnc=1, cid=1, nbtc=1, ice=1, correspondence=1), store
    )
    opened = EncounterOpened(
        case_id="encounter-kent-K1",
        idempotency_key="encounter-kent-K1/r",
        force="kent",
        custody_reference="K1",
        reason="arrest",
        nationality="PL",
        subject_key="abc",
        officer="PC Grant",
        opened_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    # Registered without a subject (as encounters recorded before the lookup): no
    # Temporal client is needed, nothing is looked up.
    assert asyncio.run(acts.register_encounter(opened)) is None
    assert asyncio.run(acts.register_encounter(opened)) is None  # the retry after a lost answer
    assert store.encounter("encounter-kent-K1") is not None
    assert [e.action for e in store.access_log("encounter-kent-K1")] == ["collection"]


def test_audit_is_for_supervisors_by_case_or_by_actor_since_a_date(tmp_path):
    from store.cases import CaseStore

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'store.db'}")
    store.log(
        actor="Sam Jones",
        role="caseworker",
        action="consultation",
        case_id="c-1",
        justification="review",
    )
    store.log(
        actor="Ann Lee",
        role="caseworker",
        action="consultation",
        case_id="c-2",
        justification="review",
    )
    with pytest.raises(AccessRefused):
        audit(store, SAM, case_id="c-1")
    assert [e.actor for e in audit(store, SUPERVISOR, case_id="c-1")] == ["Sam Jones"]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert [e.case_id for e in audit(store, SUPERVISOR, actor="Ann Lee", since=yesterday)] == [
        "c-2"
    ]
    assert audit(store, SUPERVISOR, actor="Ann Lee", since=yesterday + timedelta(days=2)) == []


async def test_http_reads_need_a_reason_and_the_policy_and_audit_needs_a_supervisor(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")  # of the Hampshire force
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event)
        await handle.result()

        async with api_client(h.client, h.store) as web:
            sam = bearer("caseworker", "Sam Jones")
            refused = await web.get(f"/cases/{handle.id}", headers=sam)
            read = await web.get(f"/cases/{handle.id}", headers=sam | {"X-Reason": "review"})
            missing = await web.get("/cases/encounter-kent-NOPE", headers=sam | {"X-Reason": "x"})
            officer = bearer("police_officer", "PC Mizen", force="hampshire", X_Reason="custody")
            redacted = await web.get(f"/cases/{handle.id}", headers=officer)
            elsewhere = bearer("police_officer", "PC Grant", force="kent", X_Reason="curious")
            other_force = await web.get(f"/cases/{handle.id}", headers=elsewhere)
            audit_refused = await web.get("/audit", params={"case_id": handle.id}, headers=sam)
            audited = await web.get(
                "/audit", params={"case_id": handle.id}, headers=bearer("supervisor", "Sue Park")
            )
            decision_refused = await web.post(
                f"/cases/{handle.id}/decisions",
                headers=sam,
                json={
                    "reason": "test",
                    "decision": {"kind": "identity_data_supplied", "place_of_birth": "Bonn"},
                },
            )
    assert refused.status_code == 403 and refused.json()["detail"]
    assert read.status_code == 200 and Outcome(read.json()["outcome"]) is Outcome.NO_TRACE
    assert missing.status_code == 404
    assert redacted.status_code == 200 and redacted.json()["redacted"]
    assert other_force.status_code == 403
    assert audit_refused.status_code == 403
    assert audited.status_code == 200
    reads = [e for e in audited.json() if e["action"] == "consultation"]
    assert [(e["actor"], e["justification"]) for e in reads] == [
        ("Sam Jones", "review"),
        ("PC Mizen", "custody"),
    ]
    assert all(e["subject"] for e in reads)  # the proven person's stable identity
    # Refused by the case, which is closed: 409 with its reason.
    assert decision_refused.status_code == 409, decision_refused.json()
    assert decision_refused.json()["detail"] and Stage(read.json()["stage"]) is Stage.CLOSED


async def test_a_certificates_convictions_are_read_from_the_store_on_request(ts_env, tmp_path):
    """The case holds a claim check of its certificate; ``?convictions=true`` reads the
    convictions from the case store for a person who may see them, each read logged."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        reply = ReplySpec(after_days=0.01, convictions=[ConvictionSpec(offence="THEFT")])
        h.world(event, SubjectSpec(replies={"PL": reply}))
        handle = await h.start(event)
        await handle.result()
        async with api_client(h.client, h.store) as web:
            sam = bearer("caseworker", "Sam Jones", X_Reason="review")
            plain = await web.get(f"/cases/{handle.id}", headers=sam)
            full = await web.get(f"/cases/{handle.id}", params={"convictions": "true"}, headers=sam)
            officer = bearer("police_officer", "PC Mizen", force="hampshire", X_Reason="custody")
            redacted = await web.get(
                f"/cases/{handle.id}", params={"convictions": "true"}, headers=officer
            )
        reads = [e for e in h.store.access_log(handle.id) if e.action == "consultation"]
    document_id = plain.json()["checks"]["PL"]["certificate"]["document_id"]
    assert plain.status_code == 200 and "THEFT" not in plain.text
    assert "convictions" not in plain.json()
    assert [c["offence"] for c in full.json()["convictions"][document_id]] == ["THEFT"]
    assert redacted.status_code == 200 and redacted.json()["convictions"] == {}
    people = [(e.actor, e.document_id) for e in reads if e.role != "system"]
    assert people.count(("Sam Jones", document_id)) == 1
    assert not [e for e in reads if e.actor == "PC Mizen" and e.document_id]
