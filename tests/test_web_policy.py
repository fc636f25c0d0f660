"""The web app under the need-to-know policy (``access.policy``), on the real dev server
with a worker: a police officer sees their own force's encounter without certificates,
and nothing else — not another force's encounter, not a casework case, not the figures;
an ICE officer sees the casework case and decides on it, never an encounter."""

from __future__ import annotations

import uuid

import pytest

from sim.world_file import ReplySpec, SubjectSpec
from tests.support import custody_event, decisions_of, harness, patient_policy, state_of
from tests.support_web import (
    browserless,
    casework_awaiting_located,
    csrf_of,
    sign_in,
    web_config,
)
from tests.test_web import cases_counted, eventually

pytestmark = pytest.mark.devserver


async def test_a_police_officer_sees_only_their_forces_encounter_and_without_certificates(
    dev_env, tmp_path
):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        event = custody_event(nationality="PL", force=force)
        casework_id = await casework_awaiting_located(h, event)  # a GBH conviction
        other = custody_event(nationality="DE", force=f"{force}-north")
        h.world(other, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        await h.start(other)
        config = web_config(police_force=force)
        async with browserless(h.client, h.store, config=config) as http:
            await sign_in(http, "sam")
            caseworkers = await http.get(f"/web/cases/{event.case_id()}")
        async with browserless(h.client, h.store, config=config) as http:
            await sign_in(http, "pat")
            home = await http.get("/web/")
            own = await http.get(f"/web/cases/{event.case_id()}")
            theirs = await http.get(f"/web/cases/{other.case_id()}")
            casework = await http.get(f"/web/cases/{casework_id}")
            listed = await eventually(http, f"/web/cases?force={force}", event.case_id())
            everything = await http.get("/web/cases")
            another_force = await http.get("/web/cases", params={"force": f"{force}-north"})
            dashboard = await http.get("/web/dashboard")
            refused = await http.post(
                f"/web/cases/{casework_id}/decisions",
                data={
                    "kind": "subject_located",
                    "f.case_owner": "Pat Quinn",
                    "reason": "I should not",
                    "csrf_token": csrf_of(own.text),
                },
            )
        reads = [
            (e.actor, e.subject, e.case_id)
            for e in h.store.access_log(event.case_id())
            + h.store.access_log(other.case_id())
            + h.store.access_log(casework_id)
            if e.action == "consultation"
            and e.document_id is None
            and not e.justification.startswith("case list")  # names in lists (issue 21)
        ]
        # The certificate shown to the caseworker is read from the case store, logged
        # under them; the officer's redacted view reads none.
        certificate_reads = [
            (e.actor, e.case_id)
            for e in h.store.access_log(event.case_id())
            if e.action == "consultation" and e.document_id and e.role != "system"
        ]

    assert home.headers["location"] == "/web/inbox"
    # The caseworker's view names the offence; the officer's does not, and says so.
    assert caseworkers.status_code == 200 and "GBH" in caseworkers.text
    assert own.status_code == 200 and 'id="redacted"' in own.text and "GBH" not in own.text
    assert casework_id not in own.text  # nothing of the Criminal Casework case
    assert "Open in the Temporal Web UI" not in own.text  # it would show ciphertext
    assert theirs.status_code == 403 and casework.status_code == 403
    assert event.case_id() in listed.text and cases_counted(listed.text) == 1
    assert cases_counted(everything.text) == 1 and other.case_id() not in everything.text
    assert cases_counted(another_force.text) == 0
    assert dashboard.status_code == 403 and refused.status_code == 403
    assert sorted(reads) == sorted(
        [
            ("Sam Jones", "local:sam", event.case_id()),
            ("Pat Quinn", "local:pat", event.case_id()),
        ]
    )
    assert certificate_reads == [("Sam Jones", event.case_id())]


async def test_an_ice_officer_decides_on_the_casework_case_and_sees_no_encounter(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        event = custody_event(nationality="PL", force=force)
        casework_id = await casework_awaiting_located(h, event)
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "ike")
            inbox = await eventually(http, "/web/inbox", casework_id)
            page = await http.get(f"/web/cases/{casework_id}")
            encounter = await http.get(f"/web/cases/{event.case_id()}")
            decided = await http.post(
                f"/web/cases/{casework_id}/decisions",
                data={
                    "kind": "subject_located",
                    "f.case_owner": "Ike Bello",
                    "f.pending_prosecution": "none",
                    "reason": "found at the address",
                    "csrf_token": csrf_of(page.text),
                },
            )
        state = await state_of(h.client.get_workflow_handle(casework_id))
    assert casework_id in inbox.text and event.case_id() not in inbox.text
    assert page.status_code == 200 and 'id="decide-subject_located"' in page.text
    assert encounter.status_code == 403
    assert decided.status_code == 303
    [located] = decisions_of(state, "subject_located")
    assert (located.actor, located.role) == ("Ike Bello", "ice_officer")
