"""Criminal Casework's disclosability check per certificate (DOMAIN.md step 5, issue 20),
through a real worker on the time-skipping server with the statutory policy: only the
non-disclosable certificate is destroyed, and nothing of it remains in any workflow's
history or state; the request for immigration purposes is a wait with a due date,
chasers and a caseworker's decision; the CID record takes every disclosable
certificate and every encounter that joins."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from models.case import Stage
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    api_client,
    bearer,
    custody_event,
    decide,
    decision,
    decrypted_history,
    deport_fields,
    detained_through_gatekeeper,
    effect_results,
    harness,
    instruct_stage1,
    key_of,
    locate,
    payloads_in,
    serve_order_when_asked,
    through_checklist,
    until,
)
from workflows.acro_replies import ReplyDeliveryWorkflow  # issue 22: the world posts
from workflows.changes import PER_CERTIFICATE_DISCLOSABILITY

CW = ("Sam Jones", "caseworker")
KIND = "immigration_certificate_outcome"
DISCLOSURE_STAGES = {
    Stage.DISCLOSABILITY_CHECK,
    Stage.AWAITING_DISCLOSABLE_CERTIFICATE,
    Stage.IMMIGRATION_CERTIFICATE_DECISION,
    Stage.NO_DISCLOSABLE_CERTIFICATE,
}


async def casework_of(h, encounter):
    state = await until(encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env)
    return h.client.get_workflow_handle(state.casework_id)


def history_text(history) -> str:
    """Every payload of the history, decrypted and decoded (its JSON as text)."""
    decoded = decrypted_history(history)
    return "\n".join(
        p.data.decode("utf-8", "replace") for e in decoded.events for p in payloads_in(e)
    )


def certificate_of(case, country: str):
    [cert] = [c for r in case.referrals for c in r.certificates if c.country == country]
    return cert


async def test_only_the_non_disclosable_certificate_is_destroyed_and_nothing_of_it_remains(
    ts_env, tmp_path
):
    """Poland answers for immigration purposes; Lithuania, later, for criminal
    proceedings with an offence not on the PNC: the Lithuanian certificate joins a case
    that has moved on, is checked then, and only it is destroyed."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL", other_countries=["LT"])
        poland = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="ARMED_ROBBERY", sentence="5 years")],
            certificate_purpose="immigration_deportation",
        )
        lithuania = ReplySpec(
            after_days=6,
            convictions=[
                ConvictionSpec(offence="KIDNAP", convicted_on="2011-09-30", recordable_on_pnc=False)
            ],
            certificate_purpose="criminal_proceedings",
            immigration_certificate_after_days=None,  # ACRO never answers the re-request
        )
        replies = {"PL": poland, "LT": lithuania}
        h.world(event, SubjectSpec(replies=replies, located_after_days=None))
        encounter = await h.start(event)
        casework = await casework_of(h, encounter)
        case = await until(
            casework,
            lambda s: (
                s.cid_case_ref is not None
                and any(
                    c.country == "LT" and c.destroyed for r in s.referrals for c in r.certificates
                )
            ),
            what="the late certificate destroyed",
            skip=h.env,
        )
        async with api_client(h.client, h.store) as web:
            sue = bearer("supervisor", "Sue Park", X_Reason="audit of a destruction")
            served = [
                await web.get(f"/cases/{wid}", headers=sue, params=params)
                for wid in (encounter.id, casework.id)
                for params in ({}, {"convictions": "true"})
            ]
        histories = [
            history_text(await h.client.get_workflow_handle(wid).fetch_history())
            for wid in (encounter.id, casework.id)
        ]
        access_log = [e for wid in (encounter.id, casework.id) for e in h.store.access_log(wid)]
    key = key_of(event)
    kept, destroyed = certificate_of(case, "PL"), certificate_of(case, "LT")
    # The late certificate was checked when it joined, whatever stage the case was at.
    assert case.stage not in DISCLOSURE_STAGES
    assert kept.disclosable is True and not kept.destroyed
    assert destroyed.disclosable is False and destroyed.destroyed
    assert case.disclosable
    # Only the second is destroyed, for real: in the store and ACRO's copy.
    assert h.store.document(kept.document_id).content is not None
    row = h.store.document(destroyed.document_id)
    assert row.content is None and row.destroyed_at is not None
    assert h.sim.certificate_content(destroyed.document_id.removeprefix("certificate-")) is None
    assert h.sim.certificate_content(kept.document_id.removeprefix("certificate-")) is not None
    erasures = [e for e in access_log if e.action == "erasure"]
    assert [e.document_id for e in erasures] == [destroyed.document_id]
    # CID noted, a certificate for immigration purposes asked of Lithuania only.
    assert h.sim.count("cid_note", key) == 1
    assert h.sim.count("check_requested:immigration_deportation", key) == 1
    [asked] = case.immigration_requests
    assert asked.country == "LT" and asked.replaces == destroyed.document_id
    # Its wait has a due date, shown beside the stage's own deadlines.
    assert asked.reply_due_at is not None
    assert any(d.due_at == asked.reply_due_at for d in case.deadlines)
    # The first is used: the CID record holds its offences only.
    record = h.store.subject_case(key)
    assert json.loads(record.overseas_convictions) == ["ARMED_ROBBERY"]
    assert case.cid_certificates == [kept.document_id]
    assert all("KIDNAP" not in r for r in effect_results(h.sim, "case_details_recorded", key))
    # Nothing of the destroyed certificate anywhere: neither the histories (decoded), nor
    # what the API serves, nor the access log's justifications.
    assert all(r.status_code == 200 for r in served)
    # The kept certificate's convictions are served to whoever reads the case in full.
    assert "ARMED_ROBBERY" in served[3].text
    assert destroyed.document_id in histories[1]  # the histories were decoded
    assert PER_CERTIFICATE_DISCLOSABILITY in histories[1]  # the new path's marker
    for text in [*histories, *(r.text for r in served), *(e.justification for e in access_log)]:
        assert "kidnap" not in text.lower()
        assert "2011-09-30" not in text


async def test_a_failed_immigration_request_reaches_a_caseworker_by_its_deadline(ts_env, tmp_path):
    """Romania answers for criminal proceedings only, and never answers the request for
    immigration purposes: after the due date and two chasers, a caseworker decides."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="RO", force="derbyshire")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=None,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=2))
        encounter = await h.start(event)
        casework = await casework_of(h, encounter)
        waiting = await until(
            casework,
            lambda s: s.stage is Stage.AWAITING_DISCLOSABLE_CERTIFICATE and bool(s.deadlines),
            what="the request's wait",
            skip=h.env,
        )
        [first_due] = waiting.deadlines
        case = await until(
            casework,
            lambda s: KIND in s.awaiting,
            what="the caseworker's decision",
            skip=h.env,
            within=120,
        )
        # Refused: a request that did not fail, and a role that may not decide it.
        for req in (
            decision(*CW, "wrong country", kind=KIND, action="request_again", country="PL"),
            decision("PC Lane", "police_officer", "my case", kind=KIND, action="request_again"),
        ):
            with pytest.raises(WorkflowUpdateFailedError):
                await decide(casework, req)
        await decide(casework, decision(*CW, "ask once more", kind=KIND, action="request_again"))
        again = await until(
            casework,
            lambda s: (
                len(s.immigration_requests) == 2
                and s.immigration_requests[1].request_ref is not None
            ),
            what="the second request",
            skip=h.env,
        )
        second = await until(
            casework, lambda s: KIND in s.awaiting, what="second failure", skip=h.env, within=120
        )
        await decide(
            casework, decision(*CW, "no answer", kind=KIND, action="close_not_disclosable")
        )
        closed = await until(
            casework,
            lambda s: s.stage is Stage.NO_DISCLOSABLE_CERTIFICATE,
            what="the referral closed",
            skip=h.env,
        )
    key = key_of(event)
    first = case.immigration_requests[0]
    # The wait had its due date, then two chasers, then the caseworker was told.
    policy = case.policy  # statutory: 20 working days for an EU country
    assert first_due.due_at == policy.working_days_after(first.requested_at, 20)
    assert first.chasers_sent == 2 and first.status == "no_response"
    assert h.sim.count("chaser_sent", key) == 4
    [failed] = [e for e in case.timeline if e.data.get("failed")]
    assert first.reply_due_at <= failed.at <= first.reply_due_at + timedelta(days=1)
    assert case.stage is Stage.IMMIGRATION_CERTIFICATE_DECISION
    assert case.awaiting == [KIND] and "caseworker" in case.awaiting_role
    assert [d.due_at for d in case.deadlines] == [first.decision_due_at]
    assert failed.at < first.decision_due_at
    # Asked again: a second request (its own key), its own wait; then closed.
    assert again.immigration_requests[0].settled == "request_again"
    assert h.sim.count("check_requested:immigration_deportation", key) == 2
    assert second.stage is Stage.IMMIGRATION_CERTIFICATE_DECISION
    assert [r.settled for r in closed.immigration_requests] == [
        "request_again",
        "close_not_disclosable",
    ]
    assert closed.awaiting == [] and not closed.disclosable and closed.cid_case_ref is None
    assert h.sim.count("cid_note", key) == 2  # non-disclosable received; referral closed
    assert h.sim.count("cid_record_created", key) == 0


async def test_a_second_encounters_conviction_is_on_the_cid_record(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        first = custody_event(nationality="PT", pnc_id="18/515151K", custody_reference="B-1")
        second = custody_event(
            nationality="PT",
            pnc_id="18/515151K",
            custody_reference="B-2",
            force="kent",
            other_countries=["DE"],
        )
        portugal = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        germany = ReplySpec(
            after_days=2,
            convictions=[ConvictionSpec(offence="GBH")],
            certificate_purpose="immigration_deportation",
        )
        h.world(
            first, SubjectSpec(replies={"PT": portugal, "DE": germany}, located_after_days=None)
        )
        enc1 = await h.start(first)
        casework = await casework_of(h, enc1)
        await until(casework, lambda s: s.cid_case_ref is not None, what="CID", skip=h.env)
        enc2 = await h.start(second)
        case = await until(
            casework,
            lambda s: any(
                c.country == "DE" and c.document_id in s.cid_certificates
                for r in s.referrals
                for c in r.certificates
            ),
            what="the further certificate on CID",
            skip=h.env,
        )
    key = key_of(first)
    record = h.store.subject_case(key)
    assert sorted(json.loads(record.overseas_convictions)) == ["GBH", "SEXUAL_ASSAULT"]
    assert json.loads(record.encounter_ids) == [enc1.id, enc2.id]
    assert h.sim.count("cid_record_created", key) == 1
    recorded = effect_results(h.sim, "case_details_recorded", key)
    assert recorded[0] == "SEXUAL_ASSAULT" and "GBH" in recorded
    # Once per certificate: every disclosable certificate once on the record.
    certificates = [c.document_id for r in case.referrals for c in r.certificates]
    assert sorted(case.cid_certificates) == sorted(certificates)
    assert len(recorded) == len(certificates)
    updated = [e for e in case.timeline if "on_cid_encounter" in e.data]
    assert {e.data["on_cid_encounter"] for e in updated} == {enc2.id}


async def test_the_immigration_request_keeps_its_place_across_continue_as_new(ts_env, tmp_path):
    """A long wait for the certificate renews its history; the request's due date and
    chasers carry over, and the caseworker is still told when it fails."""
    from models.policy import Policy

    async with harness(ts_env, tmp_path, policy=Policy(continue_as_new_after_events=60)) as h:
        event = custody_event(nationality="RO", force="derbyshire")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=None,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=2))
        encounter = await h.start(event)
        casework = await casework_of(h, encounter)
        case = await until(
            casework, lambda s: KIND in s.awaiting, what="decision", skip=h.env, within=120
        )
    key = key_of(event)
    # Renewed (fewer times since issue 22: the certificate's reply is pushed, not polled).
    assert case.continued_as_new >= 1
    assert case.stage is Stage.IMMIGRATION_CERTIFICATE_DECISION
    [asked] = case.immigration_requests
    assert asked.chasers_sent == 2 and asked.decision_due_at is not None
    # Each step once, whatever the renewals.
    assert h.sim.count("check_requested:immigration_deportation", key) == 1
    assert h.sim.count("chaser_sent", key) == 2
    assert h.sim.count("cid_note", key) == 1
    assert len([e for e in case.timeline if e.data.get("failed")]) == 1


async def test_a_case_started_on_the_old_code_finishes_on_the_new_on_its_old_path(ts_env, tmp_path):
    """Waiting for the certificate for immigration purposes under the old code, then
    picked up by today's worker: it replays, keeps the whole-case check, and ends."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.gateways import Gateways
    from activities.steps import CaseActivities
    from tests.support_front_door import checking
    from tests.support_old_casework import CaseworkBeforePerCertificate
    from workflows.encounter import EncounterWorkflow

    async with harness(ts_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="RO", force="derbyshire")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=4,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=1))
        with ThreadPoolExecutor(8) as pool:
            async with Worker(
                h.client,
                task_queue=h.task_queue,
                workflows=[EncounterWorkflow, CaseworkBeforePerCertificate, ReplyDeliveryWorkflow],
                activities=CaseActivities(Gateways.all_from(h.sim), h.store).all(),
                activity_executor=pool,
                interceptors=[checking()],
                max_cached_workflows=0,  # no sticky queue left behind for the next worker
            ):
                encounter = await h.start(event)
                casework = await casework_of(h, encounter)
                old = await until(
                    casework,
                    lambda s: s.stage is Stage.AWAITING_DISCLOSABLE_CERTIFICATE,
                    what="the old wait",
                    skip=h.env,
                )
        async with h.running():
            await locate(casework, decision(*CW, "found", kind="subject_located"), skip=h.env)
            await through_checklist(h, casework)
            await detained_through_gatekeeper(h, casework, why="risk")
            await instruct_stage1(h, casework)  # issue 21: Stage 1 on instruction
            await until(casework, lambda s: "deportation" in s.awaiting, skip=h.env)
            await decide(casework, decision(*CW, "deport", **deport_fields()))
            await serve_order_when_asked(h, casework)
            await until(casework, lambda s: "deportation_enforced" in s.awaiting, skip=h.env)
            gone = {"removed_on": "2017-01-20", "removal_reference": "REM-1"}
            await decide(casework, decision(*CW, "gone", kind="deportation_enforced", **gone))
            result = await encounter.result()
            case = await until(casework, lambda s: s.stage is Stage.CLOSED, skip=h.env)
            history = await casework.fetch_history()
    assert result.outcome is not None and result.outcome.name == "DEPORTED"
    # The old path throughout: no marker, no per-certificate records, the old wait.
    markers = [
        e.SerializeToString()
        for e in decrypted_history(history).events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert markers and not [m for m in markers if PER_CERTIFICATE_DISCLOSABILITY.encode() in m]
    assert old.immigration_requests[0].reply_due_at is None
    assert case.cid_certificates == [] and case.disclosable
    assert not any("document_id" in e.data and e.kind == "step" for e in case.timeline)


async def test_an_answer_still_not_disclosable_is_destroyed_too(ts_env, tmp_path):
    """ACRO's answer to the request for immigration purposes comes back marked for
    criminal proceedings (the simulator is made to answer so): it is destroyed like the
    first, and a caseworker decides."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="RO", force="derbyshire")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=3,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=2))
        answer = h.sim.fetch_reply

        def criminal_proceedings_only(request_ref, as_of):
            got = answer(request_ref, as_of)
            return got and got.model_copy(update={"purpose": "criminal_proceedings"})

        h.sim.fetch_reply = criminal_proceedings_only  # type: ignore[method-assign]
        encounter = await h.start(event)
        casework = await casework_of(h, encounter)
        case = await until(casework, lambda s: KIND in s.awaiting, what="decision", skip=h.env)
        # Nobody decides: by its deadline the case says so, and still offers the decision.
        late = await until(casework, lambda s: bool(s.overdue), what="overdue", skip=h.env)
    [told] = [e for e in late.timeline if e.data.get("overdue")]
    [asked] = late.immigration_requests
    assert told.at >= asked.decision_due_at and late.awaiting == [KIND]
    assert [d.due_at for d in late.deadlines] == [asked.decision_due_at]  # left standing
    key = key_of(event)
    certificates = [c for r in case.referrals for c in r.certificates]
    assert len(certificates) == 2 and all(c.destroyed for c in certificates)
    for cert in certificates:
        assert h.store.document(cert.document_id).content is None
    [asked] = case.immigration_requests
    assert asked.status == "replied" and asked.decision_due_at is not None
    assert asked.certificate.destroyed and asked.chasers_sent == 0
    # Noted once (for the first certificate); no new request asked on its own.
    assert h.sim.count("cid_note", key) == 1
    assert h.sim.count("check_requested:immigration_deportation", key) == 1
    assert case.stage is Stage.IMMIGRATION_CERTIFICATE_DECISION and not case.disclosable


async def test_a_late_answer_to_a_failed_request_is_still_taken(ts_env, tmp_path):
    """No answer after the chasers: the caseworker is asked; ACRO answers before they
    decide, and the case goes on with the certificate, the decision no longer asked."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="RO", force="derbyshire")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=75,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=None))
        encounter = await h.start(event)
        casework = await casework_of(h, encounter)
        await until(casework, lambda s: KIND in s.awaiting, what="decision", skip=h.env, within=120)
        case = await until(
            casework, lambda s: s.cid_case_ref is not None, what="case creation", skip=h.env
        )
    [asked] = case.immigration_requests
    assert asked.settled == "disclosable" and asked.status == "replied"
    assert asked.decision_due_at is None and KIND not in case.awaiting
    assert case.disclosable and case.cid_certificates == [asked.certificate.document_id]
    assert h.sim.count("chaser_sent", key_of(event)) == 2


async def test_an_old_case_renewed_on_the_new_code_checks_what_joins_later(ts_env, tmp_path):
    """Started on the old code, wanted/missing; its history renewed on the new code: the
    certificate it used stays used, and a further referral's certificate is checked and
    put on the CID record."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.gateways import Gateways
    from activities.steps import CaseActivities
    from models.policy import Policy
    from tests.support_front_door import checking
    from tests.support_old_casework import CaseworkBeforePerCertificate
    from workflows.encounter import EncounterWorkflow

    policy = Policy(continue_as_new_after_events=60)
    async with harness(ts_env, tmp_path, policy=policy, run_worker=False) as h:
        first = custody_event(nationality="PT", pnc_id="18/616161K", custody_reference="C-1")
        second = custody_event(
            nationality="PT", pnc_id="18/616161K", custody_reference="C-2", other_countries=["DE"]
        )
        portugal = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        germany = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="GBH", recordable_on_pnc=False)],
        )
        h.world(
            first, SubjectSpec(replies={"PT": portugal, "DE": germany}, located_after_days=None)
        )
        with ThreadPoolExecutor(8) as pool:
            async with Worker(
                h.client,
                task_queue=h.task_queue,
                workflows=[EncounterWorkflow, CaseworkBeforePerCertificate, ReplyDeliveryWorkflow],
                activities=CaseActivities(Gateways.all_from(h.sim), h.store).all(),
                activity_executor=pool,
                interceptors=[checking()],
                max_cached_workflows=0,
            ):
                enc1 = await h.start(first)
                casework = await casework_of(h, enc1)
                await until(casework, lambda s: s.cid_case_ref is not None, skip=h.env)
        async with h.running():
            renewed = await until(
                casework,
                lambda s: s.continued_as_new >= 1,
                what="renewal",
                skip=h.env,
                step=timedelta(days=10),
                within=120,
            )
            await h.start(second)
            case = await until(
                casework,
                lambda s: (
                    any(c.country == "DE" and c.destroyed for c in s.referrals[-1].certificates)
                    and len(s.cid_certificates) == 2
                ),
                what="the further referral checked",
                skip=h.env,
            )
    key = key_of(first)
    [used] = renewed.referrals[0].certificates
    assert used.disclosable is True and renewed.cid_certificates == [used.document_id]
    # The further referral: its Portuguese certificate on the record, the German one
    # (criminal proceedings, not on the PNC) destroyed and asked again for immigration.
    germany_cert = certificate_of(case, "DE")
    assert h.store.document(germany_cert.document_id).content is None
    assert [r.country for r in case.immigration_requests] == ["DE"]
    record = h.store.subject_case(key)
    assert json.loads(record.overseas_convictions) == ["SEXUAL_ASSAULT"]
    assert len(json.loads(record.encounter_ids)) == 2
    assert h.sim.count("cid_record_created", key) == 1
