"""Corrections of a custody event over HTTP (``POST /custody-events/{case_id}/
amendments``), through the real ASGI stack and a real worker: the encounter's event
changes, the access log has one alteration (field names, no values) however often the
same amendment is sent, and bad input gets a 4xx that says what is wrong."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from access.intake import Intake
from models.case import Stage
from models.located import AMEND_EVENT_UPDATE, AmendmentResult, EventAmendment, EventCorrection
from models.person_match import person_keys
from models.policy import Policy
from processes.front_door import REFUSED
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.front_door import acting_as
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from store.person_index import PersonIndex
from tests.support import api_client, custody_event, harness, state_of, system_key, until
from tests.test_front_door import client_like
from workflows.activation_order import DEFERRED

KEY = system_key(name="Kent custody system", scopes=["custody-events"], forces=["*"])
CORRECTION = {
    "amendment_id": "fp-2017-12-05-1",
    "subject": {
        "family_name": "Kowalsky",
        "date_of_birth": "1983-06-17",
        "aliases": ["Adam KOWALSKI"],
    },
    "whereabouts": "remanded",
}


def web(h):
    intake = Intake(
        task_queue=h.task_queue, policy=Policy(), subject_key_secret=LOCAL_SUBJECT_KEY_SECRET
    )
    return api_client(h.client, h.store, intake=intake)


def amendments_of(case_id: str) -> str:
    return f"/custody-events/{case_id}/amendments"


@pytest.mark.devserver
async def test_an_amendment_changes_the_event_once_and_is_logged_as_an_alteration(
    dev_env, tmp_path
):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path) as h, web(h) as http:
        event = custody_event(force=force, nationality="DE")
        body = json.loads(event.model_dump_json())
        started = await http.post("/custody-events", json=body, headers=KEY)
        assert started.status_code == 201, started.text
        case_id = started.json()["case_id"]
        handle = h.client.get_workflow_handle(case_id)
        h.started.append(case_id)

        first = await http.post(amendments_of(case_id), json=CORRECTION, headers=KEY)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "applied"
        assert sorted(first.json()["changed"]) == [
            "subject.aliases",
            "subject.date_of_birth",
            "subject.family_name",
            "whereabouts",
        ]
        again = await http.post(amendments_of(case_id), json=CORRECTION, headers=KEY)
        assert again.status_code == 200 and again.json()["status"] == "already_applied"

        state = await until(
            handle, lambda s: s.amendments_applied == ["fp-2017-12-05-1"], what="amended"
        )
        # Bad amendments: the field named, nothing changed.
        future = {"amendment_id": "x-1", "subject": {"date_of_birth": "2999-01-01"}}
        bad = await http.post(amendments_of(case_id), json=future, headers=KEY)
        unknown = await http.post(
            amendments_of(case_id),
            json={"amendment_id": "x-2", "subject": {"shoe": 9}},
            headers=KEY,
        )
        empty = await http.post(amendments_of(case_id), json={"amendment_id": "x-3"}, headers=KEY)
        pnc = {"amendment_id": "x-4", "subject": {"pnc_id": "nope"}}
        bad_pnc = await http.post(amendments_of(case_id), json=pnc, headers=KEY)
        not_json = await http.post(amendments_of(case_id), content=b"{oops", headers=KEY)
        missing = await http.post(amendments_of(f"{case_id}X"), json=CORRECTION, headers=KEY)
        nonsense = await http.post(amendments_of("../etc"), json=CORRECTION, headers=KEY)
        essex = system_key(scopes=["custody-events"], forces=["essex"])
        other_force = await http.post(amendments_of(case_id), json=CORRECTION, headers=essex)
        nobody = await http.post(amendments_of(case_id), json=CORRECTION)
        after = await state_of(handle)

        await handle.terminate(reason="test: the case is closed")
        closed = await http.post(
            amendments_of(case_id), json=CORRECTION | {"amendment_id": "late"}, headers=KEY
        )
        log = h.store.access_log(case_id)

    subject = state.event.subject
    assert (subject.family_name, subject.date_of_birth.isoformat()) == ("Kowalsky", "1983-06-17")
    assert subject.aliases == ["Adam KOWALSKI"] and subject.given_names == "Adam"
    assert state.event.whereabouts == "remanded"
    corrected = [e for e in state.timeline if "amendment_id" in e.data]
    assert [(e.kind, e.actor, e.role) for e in corrected] == [
        ("step", "Kent custody system", "system")
    ]
    assert "Kowalsky" not in corrected[0].text and "1983" not in corrected[0].text

    assert bad.status_code == 422
    assert [e["loc"] for e in bad.json()["detail"]] == [["body", "subject", "date_of_birth"]]
    assert unknown.status_code == 422
    assert [e["loc"] for e in unknown.json()["detail"]] == [["body", "subject", "shoe"]]
    assert empty.status_code == 422 and empty.json()["detail"]
    assert bad_pnc.status_code == 422
    assert [e["loc"] for e in bad_pnc.json()["detail"]] == [["body", "subject", "pnc_id"]]
    assert not_json.status_code == 422
    assert missing.status_code == nonsense.status_code == 404
    assert "case_id" in missing.json()["detail"]
    assert other_force.status_code == 403
    assert nobody.status_code == 401
    assert after.amendments_applied == ["fp-2017-12-05-1"]
    assert after.event.subject.family_name == "Kowalsky"
    assert closed.status_code == 409 and closed.json()["why"] == "case_closed"

    alterations = [e for e in log if e.action == "alteration"]
    assert len(alterations) == 1
    assert alterations[0].role == "system" and alterations[0].subject.startswith("client:")
    assert "subject.family_name" in alterations[0].justification
    assert "Kowalsky" not in alterations[0].justification
    assert "1983" not in alterations[0].justification


async def test_an_amendment_of_a_referred_case_indexes_the_corrected_name(ts_env, tmp_path):
    nationality = "PT"
    async with harness(ts_env, tmp_path) as h, web(h) as http:
        event = custody_event(nationality=nationality, custody_reference="AM-1")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        h.world(event, SubjectSpec(replies={nationality: reply}, located_after_days=None))
        encounter = await h.start(event)
        state = await until(
            encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
        await until(
            h.client.get_workflow_handle(state.casework_id),
            lambda s: s.stage is Stage.ICE_TASKING,
            what="ICE tasking",
            skip=h.env,
        )
        answer = await http.post(amendments_of(encounter.id), json=CORRECTION, headers=KEY)
        assert answer.status_code == 200, answer.text
        corrected = (await state_of(encounter)).event.subject
    index = PersonIndex(h.store.engine)
    new_keys = [k for k in person_keys(corrected, LOCAL_SUBJECT_KEY_SECRET) if k[0] == "name"]
    assert all(index.cases_of([k]) == [state.casework_id] for k in new_keys)


async def test_a_correction_sent_round_the_front_door_is_refused(ts_env, tmp_path):
    """The worker checks a correction as it checks a decision: a raw ``amend_event``
    update (no assertion) and one signed for a person are refused; nothing changes."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=400)}))
        handle = await h.start(event)
        await until(handle, lambda s: s.stage is Stage.AWAITING_COUNTRY_REPLY, skip=ts_env)
        amendment = EventAmendment(
            correction=EventCorrection.model_validate(CORRECTION),
            by="Kent custody system",
            by_id="client:kent",
        )
        raw = client_like(h, interceptors=[])
        unsigned = await refusal_of(raw.get_workflow_handle(handle.id), amendment)
        with acting_as("local:sam", "Sam Jones", "caseworker"):
            personal = await refusal_of(
                handle, amendment.model_copy(update={"by": "Sam Jones", "by_id": "local:sam"})
            )
        state = await state_of(handle)
    assert unsigned.type == REFUSED and personal.type == REFUSED
    assert state.event.subject.family_name == event.subject.family_name
    assert state.amendments_applied == []


async def refusal_of(handle, amendment: EventAmendment) -> ApplicationError:
    """The case's refusal of ``amendment``; sent again when only deferred (a workflow
    task that also took a timer: ``workflows.activation_order``)."""
    for _ in range(50):
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await handle.execute_update(AMEND_EVENT_UPDATE, amendment, result_type=AmendmentResult)
        cause = raised.value.cause
        assert isinstance(cause, ApplicationError)
        if cause.type != DEFERRED:
            return cause
        await asyncio.sleep(0.05)
    raise AssertionError("deferred every time")
