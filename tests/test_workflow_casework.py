"""Criminal Casework (DOMAIN.md steps 5-10) and the two cases of the seeds, on the
time-skipping server with the statutory policy. While the encounter's result is
awaited the server skips time whenever the case waits; decisions are sent as a
caseworker would, when the case asks for them."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import get_args

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.case import Outcome, Stage
from models.decisions import ROLES_FOR
from models.steps import Stage1Notice
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    FACTORS,
    NOT_DETAINED,
    custody_event,
    days_between,
    decide,
    decision,
    decisions_of,
    detained_through_gatekeeper,
    effect_results,
    harness,
    key_of,
    locate,
    state_of,
    through_checklist,
    until,
    until_stage,
)
from tests.test_workflow_search_attributes import PATCHES

CW = ("Sam Jones", "caseworker")
UPSERT = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
# The two Stage 1 notices (EEA nationals, others), as the step names them.
EEA_NOTICE, NON_EEA_NOTICE = get_args(Stage1Notice.model_fields["notice"].annotation)


def cw(reason: str, **d: object):
    return decision(*CW, reason, **d)


async def referred_casework(h, encounter):
    state = await until(encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env)
    return h.client.get_workflow_handle(state.casework_id)


async def at_stage(h, handle, stage, **kw):
    """Move the clock on, a day at a time, until the case reaches ``stage``."""
    return await until_stage(handle, stage, skip=h.env, **kw)


async def ready_for(h, handle, kind, **kw):
    """Move the clock on until the case accepts a ``kind`` decision."""
    return await until(
        handle, lambda s: kind in s.awaiting, what=f"{kind} decision", skip=h.env, **kw
    )


def deport(why: str, **d: object):
    """A decision to deport with its needed fields (issue 21): the three factors, the
    address known, no in-country right of appeal (``d`` overrides)."""
    fields = {"address_known": True, "in_country_right_of_appeal": False, **FACTORS, **d}
    return cw(why, kind="deportation", decision="deport", **fields)


def not_pursued(why: str):
    reasons = {"submission_reasons": f"{why}: deportation not appropriate"}
    return cw(why, kind="deportation", decision="not_pursued", **FACTORS, **reasons)


async def serve_order(h, casework):
    """Issue 21: the deportation order served on the caseworker's instruction."""
    await ready_for(h, casework, "serve_deportation_order")
    await decide(casework, cw("order signed", kind="serve_deportation_order", means="in_person"))


def enforced(actor: tuple[str, str], how: str, removed_on: str):
    return decision(
        *actor,
        how,
        kind="deportation_enforced",
        removed_on=removed_on,
        removal_reference="REM-1",
    )


async def deport_and_enforce(h, casework, why: str, how: str, removed_on: str):
    """The caseworker decides to deport and serves the order; ICE reports the removal."""
    await decide(casework, deport(why))
    await serve_order(h, casework)
    await ready_for(h, casework, "deportation_enforced")
    await decide(casework, enforced(("Officer Hale", "ice_officer"), how, removed_on))


def refused_by_the_case(raised: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    """The case's refusal (its validator raised an application error): its message, for
    the identifiers it names (kinds, roles, dates); its wording is not asserted."""
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


def stage1_window_days(case) -> float:
    """Days from the instruction to serve Stage 1 (served in person as it is acted
    on) to the deportation decision (sent as soon as the case awaits it, the clock
    moving a day at a time): the notice's response window, plus at most a day or so."""
    [instruction] = decisions_of(case, "serve_stage1")
    deportation = decisions_of(case, "deportation")[0]
    return days_between(instruction.at, deportation.at)


async def serve_stage1(h, casework, **d: object):
    """Issue 21: the case owner instructs the Stage 1 notice, served in person."""
    await ready_for(h, casework, "serve_stage1")
    await decide(casework, cw("serve the notice", kind="serve_stage1", means="in_person", **d))


# The decisions of the located checklist (issue 21), passed by ``through_checklist``.
CHECKLIST = {"offending_history_review", "investigating_officer_answer", "pending_prosecution"}


def without_checklist(entries):
    return [e for e in entries if e.data["decision"]["kind"] not in CHECKLIST]


async def locate_detain_and_serve(h, casework, *, owner: str = "Sam Jones", detain: bool = True):
    await locate(
        casework, cw("ICE confirmed address", kind="subject_located", case_owner=owner), skip=h.env
    )
    await through_checklist(h, casework)
    if detain:
        await detained_through_gatekeeper(h, casework, why="risk of absconding; EEA reg 24 applies")
    else:
        await ready_for(h, casework, "detention")
        await decide(casework, cw("risk of absconding; EEA reg 24 applies", **NOT_DETAINED))
    await serve_stage1(h, casework)
    await ready_for(h, casework, "deportation")


async def test_polish_national_arrested_for_theft_is_deported(ts_env, tmp_path):
    """Seed 000: arrested for theft in Winchester (Hampshire), armed robbery in Poland,
    deported five months later."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL", force="hampshire", uk_matter="theft")
        reply = ReplySpec(
            after_days=3,
            convictions=[
                ConvictionSpec(
                    offence="ARMED_ROBBERY", convicted_on="2008-03-11", sentence="5 years"
                ),
                ConvictionSpec(offence="THEFT", convicted_on="2006-01-20"),
            ],
        )
        h.world(event, SubjectSpec(replies={"PL": reply}, located_after_days=12))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await locate_detain_and_serve(h, casework)
        await deport_and_enforce(
            h,
            casework,
            "serious offending; no barriers to removal",
            "escorted removal",
            "2018-05-10",
        )
        result = await encounter.result()
        enc = await state_of(encounter)
        case = await state_of(casework)
        history = await casework.fetch_history()
    key = key_of(event)
    assert result.outcome is Outcome.DEPORTED
    assert case.outcome is Outcome.DEPORTED and case.stage is Stage.CLOSED
    # Issue 22: started with its opening search attributes, the case upserts only what
    # changes, at most once per workflow task (it upserted all seven 20 times before).
    started = history.events[0].workflow_execution_started_event_attributes
    assert {"FnoCaseKind", "FnoStage", "FnoNationality", "FnoForce"} <= set(
        started.search_attributes.indexed_fields
    )
    upserted = [
        e.upsert_workflow_search_attributes_event_attributes
        for e in history.events
        if e.event_type == UPSERT
    ]
    own = [u for u in upserted if set(u.search_attributes.indexed_fields) != {PATCHES}]
    per_task = Counter(u.workflow_task_completed_event_id for u in own)
    assert own and max(per_task.values()) == 1, per_task
    assert all("FnoCaseKind" not in u.search_attributes.indexed_fields for u in own)
    # Disclosable through the PNC: the certificate was for criminal proceedings and no
    # certificate for immigration purposes was asked for.
    assert case.disclosable and case.immigration_requests == []
    assert [c.purpose for c in case.referrals[0].certificates] == ["criminal_proceedings"]
    assert h.sim.count("check_requested:immigration_deportation", key) == 0
    # Side effects in the other systems, each exactly once.
    assert h.sim.count("conviction_recorded", key) == 2
    assert h.sim.count("cid_record_created", key) == 1
    assert h.sim.count("calendar_event", key) == 1
    assert h.sim.count("wanted_marker_added", key) == 1
    assert h.sim.count("wanted_marker_removed", key) == 1
    assert not h.sim.wanted_marker_on(key)
    assert h.sim.count("notice_served", key) == 1
    assert h.sim.count("asked_to_detain", key) == 0  # already detained
    assert h.sim.count("notified", key) == 4
    assert effect_results(h.sim, "notice_served", key) == [EEA_NOTICE]
    assert case.detention_power and "regulation 24(1)" in case.detention_power
    # Decisions on the timeline with who, role, when and why.
    decisions = [(e.actor, e.role, e.reason) for e in without_checklist(decisions_of(case))]
    assert decisions == [
        ("Sam Jones", "caseworker", "ICE confirmed address"),
        ("Cora Lind", "cc_manager", "allocated to a case owner"),  # issue 21
        ("Sam Jones", "caseworker", "risk of absconding; EEA reg 24 applies"),
        ("Dee Gate", "detention_gatekeeper", "criteria met"),
        ("Sam Jones", "caseworker", "serve the notice"),
        ("Sam Jones", "caseworker", "serious offending; no barriers to removal"),
        ("Sam Jones", "caseworker", "order signed"),
        ("Officer Hale", "ice_officer", "escorted removal"),
    ]
    # The Stage 1 response window (10 days: not serving a sentence) really ran before
    # the decision.
    assert 10 <= stage1_window_days(case) < 12
    assert days_between(enc.opened_at, enc.closed_at) < 5 * 31


async def test_romanian_driver_non_disclosable_certificate_then_deported(ts_env, tmp_path):
    """Seed 001: stopped without insurance in Derby, ECRIS reply the next day with murder
    and child sexual assault, further details requested, deported two months later."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(
            nationality="RO",
            force="derbyshire",
            uk_matter="driving without insurance",
            family_name="Popescu",
            given_names="Ion",
            father_name="Vasile",
            mother_name="Maria",
        )
        reply = ReplySpec(
            after_days=1,
            convictions=[
                ConvictionSpec(
                    offence="MURDER",
                    convicted_on="1995-06-02",
                    sentence="16 years",
                    recordable_on_pnc=False,
                ),
                ConvictionSpec(
                    offence="CHILD_SEXUAL_ASSAULT",
                    convicted_on="1995-06-02",
                    recordable_on_pnc=False,
                ),
            ],
            certificate_purpose="criminal_proceedings",
            immigration_certificate_after_days=6,
        )
        h.world(event, SubjectSpec(replies={"RO": reply}, located_after_days=2))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        case = await at_stage(h, casework, Stage.AWAITING_DISCLOSABLE_CERTIFICATE)

        # Detention on non-disclosable information is refused and changes nothing.
        before = case.model_dump()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(casework, cw("in custody now", kind="detention", detain=True))
        refused_by_the_case(refused)
        assert not case.disclosable and (await state_of(casework)).model_dump() == before

        destroyed_id = case.referrals[0].certificates[0].document_id
        await locate_detain_and_serve(h, casework)
        await deport_and_enforce(
            h, casework, "murder and child sexual assault", "removed by air", "2017-01-20"
        )
        result = await encounter.result()
        enc = await state_of(encounter)
        case = await state_of(casework)
        histories = [
            (await h.client.get_workflow_handle(wid).fetch_history()).to_json()
            for wid in (encounter.id, casework.id)
        ]
    assert result.outcome is Outcome.DEPORTED
    # The non-disclosable certificate is destroyed for real, in our store and ACRO's copy.
    row = h.store.document(destroyed_id)
    assert row is not None and row.content is None and row.destroyed_at is not None
    assert row.destroyed_by_step == "CC Workflow disclosability check"
    assert h.sim.certificate_content(destroyed_id.removeprefix("certificate-")) is None
    erasures = [e for e in h.store.access_log(enc.case_id) if e.action == "erasure"]
    assert len(erasures) == 1
    # Its content never entered a workflow history (claim check).
    assert not any("court of Romania" in text for text in histories)
    key = key_of(event)
    assert h.sim.count("cid_note", key) == 1
    assert h.sim.count("check_requested:immigration_deportation", key) == 1
    assert any(e.data.get("document") == destroyed_id for e in case.timeline if e.kind == "step")
    [asked] = case.immigration_requests
    assert asked.country == "RO" and asked.status == "replied"
    assert asked.certificate.purpose == "immigration_deportation"
    [received] = [e for e in case.timeline if e.kind == "reply"]
    assert received.data == {"document_id": asked.certificate.document_id}
    assert days_between(enc.opened_at, enc.closed_at) < 2 * 31


async def test_left_uk_with_most_serious_offences_consults_senior_caseworker(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="IT", father_name=None, mother_name=None)
        reply = ReplySpec(
            after_days=2,
            convictions=[ConvictionSpec(offence="RAPE")],
            certificate_purpose="immigration_deportation",
        )
        h.world(event, SubjectSpec(replies={"IT": reply}, left_uk=True))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await ready_for(h, casework, "exclusion_consultation")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(
                casework, cw("exclude", kind="exclusion_consultation", pursue_exclusion=True)
            )
        refused_by_the_case(refused)
        assert ROLES_FOR["exclusion_consultation"] == ("senior_caseworker",)
        assert (await state_of(casework)).awaiting == ["exclusion_consultation"]
        await decide(
            casework,
            decision(
                "Alex Reid",
                "senior_caseworker",
                "risk to the public",
                kind="exclusion_consultation",
                pursue_exclusion=True,
            ),
        )
        result = await encounter.result()
        case = await state_of(casework)
    assert result.outcome is Outcome.LEFT_UK
    assert case.outcome is Outcome.LEFT_UK
    [consulted] = decisions_of(case, "exclusion_consultation")
    assert consulted.role == "senior_caseworker"
    assert consulted.data["decision"]["pursue_exclusion"] is True
    assert h.sim.count("wanted_marker_added", key_of(event)) == 0


async def test_left_uk_without_most_serious_offences_closes_at_once(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="SE")
        reply = ReplySpec(after_days=2, convictions=[ConvictionSpec(offence="ROBBERY")])
        h.world(event, SubjectSpec(replies={"SE": reply}, left_uk=True))
        encounter = await h.start(event)
        result = await encounter.result()
    assert result.outcome is Outcome.LEFT_UK
    assert h.sim.count("cid_outcome", key_of(event)) == 1


async def test_unlocated_subject_sleeps_then_not_pursued_with_director_approval(ts_env, tmp_path):
    """Wanted/missing for years, small history through continue-as-new; once located,
    deportation is not pursued: Director approval, Removals Casework, ACRO advised."""
    from models.policy import Policy

    policy = Policy(continue_as_new_after_events=60)
    async with harness(ts_env, tmp_path, policy=policy) as h:
        event = custody_event(
            nationality="AL", father_name="Ilir", mother_name="Drita", place_of_birth="Durrës"
        )
        reply = ReplySpec(
            after_days=40,
            convictions=[ConvictionSpec(offence="DRUG_TRAFFICKING")],
            certificate_purpose="immigration_deportation",
        )
        h.world(event, SubjectSpec(replies={"AL": reply}, located_after_days=None))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        case = await until(
            casework,
            lambda s: s.continued_as_new >= 2,
            what="continue-as-new",
            within=120,
            skip=h.env,
            step=timedelta(days=10),
        )
        assert case.stage is Stage.LIABLE_TO_DEPORT_WANTED
        assert case.outcome is Outcome.LIABLE_TO_DEPORT_WANTED
        enc = await state_of(encounter)
        assert enc.stage is Stage.REFERRED_TO_CRIMINAL_CASEWORK
        await locate(
            casework,
            decision(
                "PC Lane",
                "ice_officer",
                "arrested on warrant",
                kind="subject_located",
                case_owner="Priya Shah",
            ),
            skip=h.env,
        )
        await through_checklist(h, casework)
        await ready_for(h, casework, "detention")
        await decide(casework, cw("family ties; low risk", **NOT_DETAINED))
        await serve_stage1(h, casework)
        await ready_for(h, casework, "deportation")
        await decide(casework, not_pursued("Article 8 family life"))
        await ready_for(h, casework, "director_approval")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(
                casework,
                decision(
                    "Sam Jones",
                    "senior_caseworker",
                    "approve",
                    kind="director_approval",
                    approve=True,
                ),
            )
        refused_by_the_case(refused)
        assert ROLES_FOR["director_approval"] == ("director",)
        assert (await state_of(casework)).awaiting == ["director_approval"]
        await decide(
            casework,
            decision(
                "R. Director",
                "director",
                "Article 8 outweighs",
                kind="director_approval",
                approve=True,
            ),
        )
        await ready_for(h, casework, "admin_removal_referral")
        await decide(casework, cw("no leave to remain", kind="admin_removal_referral", refer=True))
        result = await encounter.result()
        case = await state_of(casework)
    key = key_of(event)
    assert result.outcome is Outcome.NOT_PURSUED_ADMIN_REMOVAL
    assert case.case_owner == "Priya Shah"
    assert h.sim.count("wanted_marker_added", key) == 1
    assert h.sim.count("wanted_marker_removed", key) == 1
    assert h.sim.count("removals_referral", key) == 1
    assert h.sim.count("advised_deportation_not_pursued", key) == 1
    assert h.sim.count("director_submission", key) == 1
    assert effect_results(h.sim, "notice_served", key) == [NON_EEA_NOTICE]
    assert 10 <= stage1_window_days(case) < 12
    assert case.detention_power is None and case.detained is False


async def test_director_rejection_returns_to_the_deportation_decision(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="CZ")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="GBH")])
        h.world(event, SubjectSpec(replies={"CZ": reply}, located_after_days=1))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await locate_detain_and_serve(h, casework)
        await decide(casework, not_pursued("weak case"))
        await ready_for(h, casework, "director_approval")
        await decide(
            casework,
            decision(
                "R. Director",
                "director",
                "offending too serious",
                kind="director_approval",
                approve=False,
            ),
        )
        await ready_for(h, casework, "deportation")
        await decide(casework, deport("as directed"))
        await serve_order(h, casework)
        await ready_for(h, casework, "deportation_enforced")
        await decide(casework, enforced(CW, "flight confirmed", str(date(2026, 1, 5))))
        result = await encounter.result()
        case = await state_of(casework)
    assert result.outcome is Outcome.DEPORTED
    assert case.director_approved is False
    # Back to the deportation decision after the Director's refusal, then deported.
    assert [d.data["decision"]["kind"] for d in without_checklist(decisions_of(case))] == [
        "subject_located",
        "allocate_case",  # issue 21: a CC manager allocates
        "detention",
        "detention_gatekeeper",
        "serve_stage1",
        "deportation",
        "director_approval",
        "deportation",
        "serve_deportation_order",
        "deportation_enforced",
    ]
    assert [d.data["decision"]["decision"] for d in decisions_of(case, "deportation")] == [
        "not_pursued",
        "deport",
    ]
    assert decisions_of(case, "director_approval")[0].data["decision"]["approve"] is False


async def test_decisions_refused_at_the_wrong_stage_or_role_leave_the_case_unchanged(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="HU")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="KIDNAP")])
        h.world(event, SubjectSpec(replies={"HU": reply}, located_after_days=1))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await ready_for(h, casework, "subject_located")
        before = (await state_of(casework)).model_dump()
        # What makes each attempt wrong, from the case's state and the rules themselves.
        assert "deportation" not in before["awaiting"]  # not awaited at this stage
        assert not {"supervisor", "director"} & set(ROLES_FOR["subject_located"])
        attempts = [
            cw("too early", kind="deportation", decision="deport"),
            decision("Sue Park", "supervisor", "looking", kind="subject_located", case_owner="Sue"),
            decision("R. Director", "director", "myself", kind="subject_located", case_owner="Sue"),
        ]
        for req in attempts:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await decide(casework, req)
            refused_by_the_case(refused)
        assert (await state_of(casework)).model_dump() == before
        await locate(
            casework, cw("found", kind="subject_located", case_owner="Sam Jones"), skip=h.env
        )
        await through_checklist(h, casework)
        await ready_for(h, casework, "detention")


async def test_second_referral_for_the_same_subject_joins_the_open_case(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        first = custody_event(nationality="PT", pnc_id="18/424242K", custody_reference="A-1")
        second = custody_event(
            nationality="PT", pnc_id="18/424242K", custody_reference="A-2", force="kent"
        )
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="SEXUAL_ASSAULT")],
            certificate_purpose="immigration_deportation",
        )
        h.world(first, SubjectSpec(replies={"PT": reply}, located_after_days=None))
        enc1 = await h.start(first)
        casework = await referred_casework(h, enc1)
        await at_stage(h, casework, Stage.ICE_TASKING)
        enc2 = await h.start(second)
        casework2 = await referred_casework(h, enc2)
        assert casework2.id == casework.id
        case = await until(
            casework, lambda s: len(s.referrals) == 2, what="second referral", skip=h.env
        )
        # The first referral opened the case, the second joined it (no second case).
        # (A custody event of the second encounter also told the case it is located.)
        referred = [
            e
            for e in case.timeline
            if e.kind == "step" and "encounter_id" in e.data and "located_by" not in e.data
        ]
        assert [e.data["encounter_id"] for e in referred] == [enc1.id, enc2.id]
        # Arrested in Kent: the custody event woke the case, detention first, then a
        # case owner.
        await ready_for(h, casework, "detention")
        await decide(
            casework, cw("risk", kind="detention", detain=True, serving_prison_sentence=True)
        )
        await locate(
            casework, cw("arrested in Kent", kind="subject_located", case_owner="Sam"), skip=h.env
        )
        await through_checklist(h, casework)
        # Serving a sentence that leaves sufficient time: the longer window.
        await serve_stage1(h, casework, sufficient_time=True)
        await ready_for(h, casework, "deportation")
        await decide(casework, deport("deport"))
        await serve_order(h, casework)
        await ready_for(h, casework, "deportation_enforced")
        await decide(casework, enforced(CW, "done", "2026-02-01"))
        r1, r2 = await enc1.result(), await enc2.result()
        case = await state_of(casework)
    assert r1.outcome is Outcome.DEPORTED and r2.outcome is Outcome.DEPORTED
    key = key_of(first)
    assert h.sim.count("cid_record_created", key) == 1
    assert h.sim.count("wanted_marker_added", key) == 1
    # Serving a prison sentence: the 20-day Stage 1 window.
    assert effect_results(h.sim, "notice_served", key) == [EEA_NOTICE]
    assert 20 <= stage1_window_days(case) < 22


async def test_deport_when_not_detained_asks_ice_to_detain(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="LV")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="DOMESTIC_VIOLENCE")])
        h.world(event, SubjectSpec(replies={"LV": reply}, located_after_days=1))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await locate_detain_and_serve(h, casework, detain=False)
        await decide(casework, deport("address known"))
        await serve_order(h, casework)
        await ready_for(h, casework, "deportation_enforced")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await decide(casework, enforced(CW, "booked", "2999-04-01"))
        assert "2999-04-01" in refused_by_the_case(refused)
        # ICE asked to detain: its detention, or absconding, may be reported meanwhile.
        awaited = (await state_of(casework)).awaiting
        assert awaited == ["absconded", "deportation_enforced", "subject_detained"]
        await decide(casework, enforced(CW, "removed", "2026-04-01"))
        result = await encounter.result()
        case = await state_of(casework)
    assert result.outcome is Outcome.DEPORTED
    assert h.sim.count("asked_to_detain", key_of(event)) == 1
    assert case.detained is False
    assert [d.data["decision"]["detain"] for d in decisions_of(case, "detention")] == [False]


async def test_not_pursued_without_referral_when_residing_lawfully(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="EE")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="GBH")])
        h.world(event, SubjectSpec(replies={"EE": reply}, located_after_days=1))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await locate_detain_and_serve(h, casework)
        await decide(casework, not_pursued("old offence"))
        await ready_for(h, casework, "director_approval")
        await decide(
            casework,
            decision("R. Director", "director", "agree", kind="director_approval", approve=True),
        )
        await ready_for(h, casework, "admin_removal_referral")
        basis = {"lawful_residence_basis": "settled status granted"}
        await decide(
            casework, cw("settled status", kind="admin_removal_referral", refer=False, **basis)
        )
        result = await encounter.result()
        case = await state_of(casework)
    key = key_of(event)
    assert result.outcome is Outcome.NOT_PURSUED
    assert h.sim.count("removals_referral", key) == 0
    assert h.sim.count("advised_deportation_not_pursued", key) == 1
    # Issue 21: residing lawfully is a finding, recorded as such.
    assert [e for e in case.timeline if e.data.get("finding") == "resides_lawfully"]


async def test_a_decision_is_taken_once_a_repeat_is_refused(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="SK")
        reply = ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="ROBBERY")])
        h.world(event, SubjectSpec(replies={"SK": reply}, located_after_days=1))
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        await locate(
            casework, cw("found", kind="subject_located", case_owner="Sam Jones"), skip=h.env
        )
        await through_checklist(h, casework)
        await ready_for(h, casework, "detention")
        await decide(casework, cw("flight risk", kind="detention", detain=True))
        with pytest.raises(WorkflowUpdateFailedError) as refused:  # a double click
            await decide(casework, cw("flight risk", kind="detention", detain=False))
        refused_by_the_case(refused)
        await ready_for(h, casework, "detention_gatekeeper")
        await decide(
            casework,
            decision(
                "Dee Gate",
                "detention_gatekeeper",
                "criteria met",
                kind="detention_gatekeeper",
                accept=True,
            ),
        )
        case = await until(casework, lambda s: s.detained is not None, what="detained")
    assert case.detained is True
    assert [d.data["decision"]["detain"] for d in decisions_of(case, "detention")] == [True]


async def test_two_serious_certificates_from_one_encounter_both_reach_the_case(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL", other_countries=["DE"])
        h.world(
            event,
            SubjectSpec(
                replies={
                    "PL": ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="ROBBERY")]),
                    "DE": ReplySpec(after_days=3, convictions=[ConvictionSpec(offence="RAPE")]),
                },
                located_after_days=None,
            ),
        )
        encounter = await h.start(event)
        casework = await referred_casework(h, encounter)
        case = await until(
            casework,
            lambda s: sum(len(r.certificates) for r in s.referrals) == 2,
            what="both certificates",
            skip=h.env,
        )
    assert sorted(c.country for r in case.referrals for c in r.certificates) == ["DE", "PL"]
    # The first certificate opened the case; the second, from the same encounter, joined it.
    joined = [e.data for e in case.timeline if e.kind == "step" and "countries" in e.data]
    assert [(d["encounter_id"], d["countries"]) for d in joined] == [
        (encounter.id, ["PL"]),
        (encounter.id, ["DE"]),
    ]


async def test_a_later_case_for_the_same_subject_does_its_own_steps(ts_env, tmp_path):
    """After a subject's case closes, a new referral opens a new case whose steps are not
    mistaken for repeats of the old one's."""
    async with harness(ts_env, tmp_path) as h:
        first = custody_event(nationality="FI", pnc_id="19/555555F", custody_reference="F-1")
        second = custody_event(nationality="FI", pnc_id="19/555555F", custody_reference="F-2")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="ROBBERY")],
            certificate_purpose="immigration_deportation",
        )
        h.world(first, SubjectSpec(replies={"FI": reply}, left_uk=True))
        assert (await (await h.start(first)).result()).outcome is Outcome.LEFT_UK
        assert (await (await h.start(second)).result()).outcome is Outcome.LEFT_UK
    key = key_of(first)
    assert h.sim.count("cid_outcome", key) == 2
    assert h.sim.count("cid_record_created", key) == 1  # one CID record per person


async def test_the_casework_outcome_survives_the_encounters_continue_as_new(ts_env, tmp_path):
    """The casework case ends while another country is still awaited and the encounter
    renews its history: the outcome must not be lost."""
    from models.policy import Policy

    policy = Policy(continue_as_new_after_events=80, late_reply_window_days=0)
    async with harness(ts_env, tmp_path, policy=policy) as h:
        event = custody_event(nationality="SE", other_countries=["US"])
        h.world(
            event,
            SubjectSpec(
                replies={
                    "SE": ReplySpec(after_days=1, convictions=[ConvictionSpec(offence="ROBBERY")]),
                    "US": ReplySpec(after_days=None),
                },
                left_uk=True,
            ),
        )
        encounter = await h.start(event)
        result = await encounter.result()
        state = await state_of(encounter)
    assert result.outcome is Outcome.LEFT_UK
    assert state.continued_as_new >= 1
    assert state.checks["US"].status == "no_response"
