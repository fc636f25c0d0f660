"""Faults in the systems we call, permanent refusals, and a worker restart mid-case:
nothing lost, nothing done twice."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.gateways import Gateways
from models.case import Outcome, Stage
from models.policy import compressed_policy
from sim.world_file import ConvictionSpec, FaultSpec, ReplySpec, SubjectSpec, WorldFile
from tests.support import (
    checklist_decisions,
    custody_event,
    decide,
    decision,
    deport_fields,
    gatekeeper_accepts,
    harness,
    key_of,
    locate,
    state_of,
    texts,
    until,
)

ALL_SYSTEMS = ["acro", "pnc", "cid", "nbtc", "ice", "police", "correspondence"]


def cw(reason: str, **d: object):
    return decision("Sam Jones", "caseworker", reason, **d)


async def drive_to_deportation(h, encounter, *, skip):
    state = await until(encounter, lambda s: s.casework_id is not None, skip=skip, within=90)
    casework = h.client.get_workflow_handle(state.casework_id)
    for kind, req in [
        ("subject_located", cw("found", kind="subject_located", case_owner="Sam Jones")),
        *checklist_decisions(),
        ("detention", cw("flight risk", kind="detention", detain=True)),
        gatekeeper_accepts(),
        ("serve_stage1", cw("serve", kind="serve_stage1", means="in_person")),
        ("deportation", cw("serious", **deport_fields())),
        (
            "serve_deportation_order",
            cw("signed", kind="serve_deportation_order", means="in_person"),
        ),
        (
            "deportation_enforced",
            cw(
                "removed",
                kind="deportation_enforced",
                removed_on="2026-03-01",
                removal_reference="REM-1",
            ),
        ),
    ]:
        await until(casework, lambda s, k=kind: k in s.awaiting, what=kind, skip=skip, within=90)
        if kind == "subject_located":  # issue 21: then a CC manager allocates
            await locate(casework, req, skip=skip)
            continue
        await decide(casework, req)
    return casework


async def test_transient_faults_and_lost_answers_do_each_side_effect_once(ts_env, tmp_path):
    # A third of calls fail before the work, a third fail after it (the answer is lost).
    world = WorldFile(faults=FaultSpec(rate=0.3, timeout_rate=0.3, systems=ALL_SYSTEMS))
    async with harness(ts_env, tmp_path, world=world) as h:
        event = custody_event(nationality="PL")
        reply = ReplySpec(
            after_days=2,
            convictions=[ConvictionSpec(offence="ARMED_ROBBERY"), ConvictionSpec(offence="THEFT")],
        )
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=5))
        encounter = await h.start(event)
        casework = await drive_to_deportation(h, encounter, skip=h.env)
        result = await encounter.result()
        case = await state_of(casework)
    key = key_of(event)
    assert result.outcome is Outcome.DEPORTED
    for action, times in {
        "check_requested:criminal_proceedings": 1,
        "conviction_recorded": 2,
        "cid_record_created": 1,
        "case_details_recorded": 1,
        "calendar_event": 1,
        "pnc_check_requested": 1,
        "paper_file_created": 1,
        "wanted_marker_added": 1,
        "tasked_to_locate": 1,
        "wanted_marker_removed": 1,
        "investigating_officer_contacted": 1,
        "pnc_print_obtained": 1,
        "notice_served": 1,
        "notified": 4,
        "cid_outcome": 1,
    }.items():
        assert h.sim.count(action, key) == times, action
    # issue 21: + a CC manager's allocation, the checklist's three, the Gatekeeper,
    # Stage 1 and the order
    assert [e.kind for e in case.timeline].count("decision") == 11
    assert h.sim.faults_injected >= 10


async def test_a_permanent_refusal_is_shown_and_waits_for_a_caseworker(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="GR")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="FIREARMS")],
            certificate_purpose="immigration_deportation",
        )
        spec = SubjectSpec(replies={"GR": reply}, refuse={"pnc": ["wanted_marker_added"]})
        h.world(event, spec)
        encounter = await h.start(event)
        state = await until(encounter, lambda s: s.casework_id is not None, skip=h.env)
        casework = h.client.get_workflow_handle(state.casework_id)
        case = await until(
            casework, lambda s: "resume_after_fault" in s.awaiting, what="fault surfaced"
        )
        fault = next(e for e in case.timeline if e.kind == "fault")
        assert fault.text == "ICD.5079 refused: pnc refused wanted_marker_added for this subject"
        assert case.stage is Stage.NBTC_CHECK
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                casework, decision("Sue Park", "supervisor", "resume", kind="resume_after_fault")
            )
        spec.refuse.clear()  # put right at the PNC Bureau
        await decide(casework, cw("PNC Bureau corrected the record", kind="resume_after_fault"))
        case = await until(casework, lambda s: s.stage is Stage.ICE_TASKING, what="ICE tasking")
    assert h.sim.count("wanted_marker_added", key_of(event)) == 1
    assert "ICD.5079 sent to the PNC Bureau: wanted/missing marker added" in texts(case)


@pytest.mark.devserver
async def test_a_worker_restart_mid_case_loses_nothing(dev_env, tmp_path):
    """On the real dev server, with a compressed policy (a day lasts a quarter second)."""
    policy = compressed_policy(0.25)
    async with harness(dev_env, tmp_path, policy=policy, run_worker=False) as h:
        event = custody_event(nationality="PL")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="ROBBERY")])
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=2))
        async with h.running():
            encounter = await h.start(event)
            state = await until(encounter, lambda s: s.casework_id is not None, within=60)
            casework = h.client.get_workflow_handle(state.casework_id)
            stopped_at = await until(casework, lambda s: s.stage is Stage.ICE_TASKING, within=60)
        # No worker for a while: a query would be refused, the case's timers still fall due.
        async with h.running():
            await drive_to_deportation(h, encounter, skip=None)
            result = await encounter.result()
    assert stopped_at.stage is Stage.ICE_TASKING
    assert result.outcome is Outcome.DEPORTED
    key = key_of(event)
    assert h.sim.count("wanted_marker_added", key) == 1
    assert h.sim.count("tasked_to_locate", key) == 1
    assert h.sim.count("cid_record_created", key) == 1


@pytest.mark.devserver
async def test_a_referral_retried_after_its_case_concluded_starts_no_second_case(dev_env, tmp_path):
    """The referral's answer lost (the worker killed), its retry after the casework case
    has concluded: no second case for the same referral; a later encounter's referral
    still opens a new case for the subject."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.testing import ActivityEnvironment

    from activities.steps import CaseActivities
    from models.case import CaseworkInput, Referral, casework_id_for
    from models.steps import CaseworkReferral

    # On the dev server: a case left without a worker must not hold the time-skipping
    # server's clock for later tests.
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="NL")
        subject_key = key_of(event)
        casework_id = casework_id_for(subject_key)
        activities = CaseActivities(Gateways.all_from(h.sim), h.store)

        def referral(encounter_id: str) -> CaseworkReferral:
            return CaseworkReferral(
                casework_id=casework_id,
                start=CaseworkInput(case_id=casework_id, subject_key=subject_key, nationality="NL"),
                referral=Referral(encounter_id=encounter_id, event=event, certificates=[]),
            )

        env = ActivityEnvironment(client=h.client)
        env.info = dataclasses.replace(env.info, task_queue=h.task_queue)
        await env.run(activities.refer_to_criminal_casework, referral("encounter-a"))
        first = await h.client.get_workflow_handle(casework_id).describe()
        # The case concludes (ended here by hand) with its record listing the encounter.
        await h.client.get_workflow_handle(casework_id).terminate(reason="concluded")
        h.store.update_subject_case(
            subject_key,
            act_key="test",
            casework_id=casework_id,
            justification="test",
            encounter_ids=["encounter-a"],
            outcome="Deported",
        )
        retry = ActivityEnvironment(client=h.client)
        retry.info = dataclasses.replace(env.info, attempt=2)
        await retry.run(activities.refer_to_criminal_casework, referral("encounter-a"))
        after_retry = await h.client.get_workflow_handle(casework_id).describe()
        assert after_retry.run_id == first.run_id
        assert after_retry.status == WorkflowExecutionStatus.TERMINATED

        await env.run(activities.refer_to_criminal_casework, referral("encounter-b"))
        later = await h.client.get_workflow_handle(casework_id).describe()
        assert later.run_id != first.run_id
        assert later.status == WorkflowExecutionStatus.RUNNING
        await h.client.get_workflow_handle(casework_id).terminate(reason="test over")
