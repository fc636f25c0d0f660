"""Criminal Casework, step 7 as the guidance has it (issue 20): the referral says where
the subject is. Known: no NBTC, no wanted/missing marker, no ICE; straight to a case
owner. Not known: NBTC, marker, ICE, and "liable to deport" on ICE's answer or a
caseworker's decision. A custody event wakes a dormant case with an urgent detention
decision. Every wait has a deadline, and when one passes the case says so.

On the time-skipping server with the statutory policy, through a real worker."""

from __future__ import annotations

from datetime import timedelta

from models.case import InCustody, Outcome, Stage
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    NOT_DETAINED,
    custody_event,
    decide,
    decision,
    deport_fields,
    detained_through_gatekeeper,
    harness,
    instruct_stage1,
    key_of,
    locate,
    serve_order_when_asked,
    state_of,
    through_checklist,
    until,
    until_stage,
)
from workflows.casework import ENFORCEMENT_REVIEW
from workflows.casework_located import ALLOCATION, CUSTODY_DETENTION
from workflows.casework_locating import ICE_REVIEW

CW = ("Sam Jones", "caseworker")


def cw(reason: str, **d: object):
    return decision(*CW, reason, **d)


ARMED_ROBBERY = ReplySpec(
    after_days=3,
    convictions=[
        ConvictionSpec(offence="ARMED_ROBBERY", convicted_on="2008-03-11", sentence="5 years"),
        ConvictionSpec(offence="THEFT", convicted_on="2006-01-20"),
    ],
)


async def referred(h, encounter):
    state = await until(encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env)
    return h.client.get_workflow_handle(state.casework_id)


async def ready_for(h, handle, kind, **kw):
    return await until(handle, lambda s: kind in s.awaiting, what=kind, skip=h.env, **kw)


def deadline_names(state) -> list[str]:
    return [d.name for d in state.deadlines]


def faults(state) -> list[dict]:
    return [e.data for e in state.timeline if e.kind == "fault"]


async def test_polish_seed_case_in_custody_is_deported_with_no_marker(ts_env, tmp_path):
    """Seed 000 as it happened: arrested in Winchester, in police custody, armed robbery
    in Poland (on the PNC): no NBTC check, no wanted/missing marker, no ICE tasking."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL", force="hampshire", uk_matter="theft")
        event = event.model_copy(update={"whereabouts": "in_police_custody"})
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}, located_after_days=12))
        encounter = await h.start(event)
        casework = await referred(h, encounter)
        case = await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        assert case.awaiting == ["allocate_case"] and deadline_names(case) == [ALLOCATION]
        await locate(
            casework,
            cw("in custody at Winchester", kind="subject_located", case_owner="Sam Jones"),
            skip=h.env,
        )
        await through_checklist(h, casework)
        await detained_through_gatekeeper(h, casework, why="risk of absconding")
        await instruct_stage1(h, casework)
        await ready_for(h, casework, "deportation")
        await decide(casework, cw("serious offending", **deport_fields()))
        await serve_order_when_asked(h, casework)
        case = await ready_for(h, casework, "deportation_enforced")
        assert deadline_names(case) == [ENFORCEMENT_REVIEW]
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
        result = await encounter.result()
        case = await state_of(casework)
    key = key_of(event)
    assert result.outcome is Outcome.DEPORTED and case.outcome is Outcome.DEPORTED
    assert case.whereabouts == "in_police_custody"
    assert h.sim.count("nbtc_checked", key) == 0
    assert h.sim.count("wanted_marker_added", key) == 0
    assert h.sim.count("wanted_marker_removed", key) == 0
    assert h.sim.count("tasked_to_locate", key) == 0
    assert case.ice_tasking_ref is None and case.left_uk is None and not case.marker_on_pnc
    assert not [e for e in case.timeline if "ICD.5079" in e.text or "ICD.5080" in e.text]
    assert [e.data["whereabouts"] for e in case.timeline if "whereabouts" in e.data] == [
        "in_police_custody"
    ]
    assert case.overdue == []


async def test_unknown_whereabouts_nbtc_marker_ice_then_liable_on_ices_answer(ts_env, tmp_path):
    """Whereabouts not stated: NBTC, ICD.5079, ICE tasking; ICE answers "unable to
    locate" two weeks in, and the case is liable to deport at once (not at 28 days)."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        spec = SubjectSpec(
            replies={"PL": ARMED_ROBBERY}, located_after_days=None, unable_to_locate_after_days=10
        )
        h.world(event, spec)
        casework = await referred(h, await h.start(event))
        tasked = await until_stage(casework, Stage.ICE_TASKING, skip=h.env)
        case = await until_stage(casework, Stage.LIABLE_TO_DEPORT_WANTED, skip=h.env)
    key = key_of(event)
    assert h.sim.count("nbtc_checked", key) == 1
    assert h.sim.count("wanted_marker_added", key) == 1
    assert h.sim.count("tasked_to_locate", key) == 1
    assert case.outcome is Outcome.LIABLE_TO_DEPORT_WANTED and case.whereabouts is None
    [liable] = [e for e in case.timeline if e.kind == "outcome"]
    assert tasked.ice_tasking_until is not None and liable.at < tasked.ice_tasking_until


async def test_tasking_without_an_answer_goes_to_a_caseworker_by_a_deadline(ts_env, tmp_path):
    """The tasking period ends with no answer from ICE: a caseworker decides, by a
    deadline; left undecided, the case says it is overdue and stays listed as such."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        spec = SubjectSpec(
            replies={"PL": ARMED_ROBBERY}, located_after_days=None, unable_to_locate_after_days=None
        )
        h.world(event, spec)
        casework = await referred(h, await h.start(event))
        case = await until_stage(casework, Stage.ICE_TASKING_REVIEW, skip=h.env, within=90)
        assert set(case.awaiting) == {"ice_tasking_review", "subject_located"}
        assert deadline_names(case) == [ICE_REVIEW] and case.outcome is None
        # Nobody decides: the deadline passes, the case records it and escalates.
        case = await until(casework, lambda s: s.overdue, what="overdue", skip=h.env)
        assert case.overdue == [ICE_REVIEW] and deadline_names(case) == [ICE_REVIEW]
        assert [f["deadline"] for f in faults(case) if f.get("overdue")] == [ICE_REVIEW]
        assert "senior_caseworker" in case.awaiting_role
        assert "ice_tasking_review" in case.awaiting
        described = await casework.describe()
        from models import search

        assert described.typed_search_attributes.get(search.NEXT_DEADLINE) == (
            case.deadlines[0].due_at
        )
        await decide(
            casework,
            cw("ask ICE again", kind="ice_tasking_review", action="extend_tasking", extend_days=14),
        )
        case = await state_of(casework)
        assert case.stage is Stage.ICE_TASKING
        await until_stage(casework, Stage.ICE_TASKING_REVIEW, skip=h.env, within=90)
        await decide(
            casework,
            decision(
                "Sue Park",
                "senior_caseworker",
                "avenues to detain exhausted",
                kind="ice_tasking_review",
                action="liable_to_deport",
            ),
        )
        case = await until_stage(casework, Stage.LIABLE_TO_DEPORT_WANTED, skip=h.env)
    assert case.outcome is Outcome.LIABLE_TO_DEPORT_WANTED
    assert [e.data["decision"]["action"] for e in case.timeline if e.kind == "decision"] == [
        "extend_tasking",
        "liable_to_deport",
    ]


async def test_a_custody_event_wakes_a_dormant_case_with_an_urgent_detention(ts_env, tmp_path):
    """Liable to deport, wanted/missing; a custody event: detention is asked for at once,
    by a deadline (before the police release the subject), then a case owner; the marker
    comes off (ICD.5080) and the process goes on to the Stage 1 notice."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}, located_after_days=None))
        casework = await referred(h, await h.start(event))
        await until_stage(casework, Stage.LIABLE_TO_DEPORT_WANTED, skip=h.env, within=90)
        since = await ts_env.get_current_time()
        await casework.signal(
            "subject_in_custody",
            InCustody(encounter_id="encounter-kent-CU-9", force="kent", since=since),
        )
        case = await until(casework, lambda s: "detention" in s.awaiting, what="detention")
        assert case.stage is Stage.DETENTION_DECISION and case.outcome is None
        [due] = [d for d in case.deadlines if d.name == CUSTODY_DETENTION]
        assert due.due_at == since + timedelta(hours=24)
        await decide(casework, cw("in a cell in Kent; disclosable", kind="detention", detain=True))
        case = await ready_for(h, casework, "allocate_case")
        assert case.stage is Stage.LOCATED_AWAITING_OWNER
        assert deadline_names(case) == [ALLOCATION]
        await locate(
            casework, cw("allocated", kind="subject_located", case_owner="Priya Shah"), skip=h.env
        )
        await through_checklist(h, casework)
        case = await ready_for(h, casework, "serve_stage1")
    key = key_of(event)
    assert case.detained is True and case.located and case.case_owner == "Priya Shah"
    assert h.sim.count("wanted_marker_added", key) == 1
    assert h.sim.count("wanted_marker_removed", key) == 1
    assert not h.sim.wanted_marker_on(key)
    assert [e.data.get("located_by") for e in case.timeline if e.data.get("located_by")] == [
        "custody_event",
        "custody_event",
    ]


async def test_an_urgent_detention_left_undecided_is_escalated(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}, located_after_days=None))
        casework = await referred(h, await h.start(event))
        await until_stage(casework, Stage.ICE_TASKING, skip=h.env)
        since = await ts_env.get_current_time()
        await casework.signal(
            "subject_in_custody",
            InCustody(encounter_id="encounter-kent-CU-7", force="kent", since=since),
        )
        case = await until(casework, lambda s: s.overdue, what="overdue", skip=h.env)
    assert case.overdue == [CUSTODY_DETENTION] and case.awaiting == ["detention"]
    assert [f["deadline"] for f in faults(case) if f.get("overdue")] == [CUSTODY_DETENTION]
    assert deadline_names(case) == [CUSTODY_DETENTION]


async def test_a_case_owner_not_allocated_in_time_is_escalated(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL").model_copy(update={"whereabouts": "remanded"})
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}))
        casework = await referred(h, await h.start(event))
        await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        case = await until(casework, lambda s: s.overdue, what="overdue", skip=h.env)
        assert case.overdue == [ALLOCATION] and case.awaiting == ["allocate_case"]
        assert deadline_names(case) == [ALLOCATION]
        await locate(
            casework, cw("allocated late", kind="subject_located", case_owner="Sam"), skip=h.env
        )
        await through_checklist(h, casework)
        case = await ready_for(h, casework, "detention")
    assert case.located and h.sim.count("nbtc_checked", key_of(event)) == 0


async def test_a_subject_serving_a_sentence_gets_the_longer_stage1_window(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL").model_copy(
            update={"whereabouts": "serving_sentence"}
        )
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}))
        casework = await referred(h, await h.start(event))
        await locate(
            casework, cw("HMP Winchester", kind="subject_located", case_owner="Sam"), skip=h.env
        )
        await through_checklist(h, casework)
        await detained_through_gatekeeper(h, casework, why="serving; detain at release")
        await instruct_stage1(h, casework, means="via_prison", sufficient_time=True)
        case = await until_stage(casework, Stage.STAGE1_RESPONSE_WINDOW, skip=h.env)
    assert case.serving_prison_sentence is True
    [window] = case.deadlines
    served = [e for e in case.timeline if e.kind == "step"][-1].at
    assert round((window.due_at - served) / timedelta(days=1)) == 20


async def test_a_custody_event_before_step_7_makes_the_whereabouts_known(ts_env, tmp_path):
    """Located while the case waits for a disclosable certificate: the case keeps the
    location, and at step 7 asks no NBTC, adds no marker and tasks no ICE."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="RO", family_name="Popescu", given_names="Ion")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="MURDER", recordable_on_pnc=False)],
            immigration_certificate_after_days=6,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}))
        casework = await referred(h, await h.start(event))
        await until_stage(casework, Stage.AWAITING_DISCLOSABLE_CERTIFICATE, skip=h.env)
        since = await ts_env.get_current_time()
        await casework.signal(
            "subject_in_custody",
            InCustody(encounter_id="encounter-derbyshire-CU-2", force="derbyshire", since=since),
        )
        case = await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
    key = key_of(event)
    assert case.whereabouts == "in_police_custody" and case.in_custody is not None
    assert h.sim.count("nbtc_checked", key) == 0
    assert h.sim.count("wanted_marker_added", key) == 0
    assert h.sim.count("tasked_to_locate", key) == 0


async def test_the_overdue_listing_shows_an_allocation_past_its_deadline(dev_env, tmp_path):
    """On the dev server (its visibility answers the listing's query), compressed days:
    a located subject nobody allocates is listed as past its deadline."""
    from datetime import UTC, datetime

    from access.stuck import stuck_cases
    from models.policy import compressed_policy
    from tests.support import eventually

    policy = compressed_policy(0.3)
    async with harness(dev_env, tmp_path, policy=policy) as h:
        event = custody_event(nationality="PL").model_copy(update={"whereabouts": "remanded"})
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}))
        encounter = await h.start(event)
        state = await until(encounter, lambda s: s.casework_id is not None, what="referral")
        casework = h.client.get_workflow_handle(state.casework_id)
        case = await until(casework, lambda s: s.overdue, what="overdue", within=60)
        assert case.stage is Stage.LOCATED_AWAITING_OWNER

        async def listed():
            rows = await stuck_cases(
                h.client, now=datetime.now(UTC), overdue_by=timedelta(0), ended=None
            )
            return [r for r in rows if r.case_id == casework.id]

        [row] = await eventually(listed, what="listed as overdue")
    assert row.stage == Stage.LOCATED_AWAITING_OWNER.name
    assert row.since == case.deadlines[0].due_at


async def test_a_custody_event_past_located_is_recorded_only(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL").model_copy(update={"whereabouts": "address_known"})
        h.world(event, SubjectSpec(replies={"PL": ARMED_ROBBERY}))
        casework = await referred(h, await h.start(event))
        await locate(
            casework, cw("known address", kind="subject_located", case_owner="Sam"), skip=h.env
        )
        await through_checklist(h, casework)
        await ready_for(h, casework, "detention")
        await decide(casework, cw("low risk", **NOT_DETAINED))
        await instruct_stage1(h, casework, skip=False)
        before = await until_stage(casework, Stage.STAGE1_RESPONSE_WINDOW)
        since = await ts_env.get_current_time()
        await casework.signal(
            "subject_in_custody",
            InCustody(encounter_id="encounter-kent-CU-3", force="kent", since=since),
        )
        after = await until(casework, lambda s: s.in_custody is not None, what="recorded")
    assert after.stage is Stage.STAGE1_RESPONSE_WINDOW and after.awaiting == ["representations"]
    assert after.deadlines == before.deadlines and after.detained is False
    assert [e.data.get("located_by") for e in after.timeline][-1] == "custody_event"
