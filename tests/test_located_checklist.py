"""The located checklist as real steps (issue 21, DOMAIN.md step 8, actions 1-7) on the
time-skipping server: the marker removed with its reference kept, the PNC print
compared with the referral (counts, no offence in the case), the owner's offending
history review with a further ACRO check, the investigating officer contacted and
answered, pending prosecutions with actions 6 and 7. Asserted on the case's state:
stages, ``state.progress``, the timeline's entries and their references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError

from models.case import Outcome, Stage
from sim.world_file import ConvictionSpec, ReplySpec
from tests.support import (
    CASE_OWNER,
    CODEC_KEYS,
    NOT_DETAINED,
    allocate,
    awaiting_kind,
    casework_awaiting,
    decide,
    decision,
    decisions_of,
    deport_fields,
    detained_through_gatekeeper,
    harness,
    instruct_stage1,
    serve_order_when_asked,
    state_of,
    through_checklist,
    until,
)
from tests.support_front_door import replayer
from workflows.casework_checklist import PROSECUTION_REVIEW
from workflows.changes import LOCATED_CHECKLIST


def owner(reason: str, **d: object):
    return decision(*CASE_OWNER, reason, **d)


async def located(h, **kw):
    """A Polish GBH case (ICE tasking, so a wanted/missing marker) located and allocated."""
    casework = await casework_awaiting(h, "subject_located", **kw)
    await decide(casework, owner("ICE found them", kind="subject_located", case_owner="Sam Jones"))
    await allocate(casework, "Sam Jones", skip=h.env)  # a CC manager's (issue 21)
    return casework


def steps_with(state, key: str) -> list:
    return [e for e in state.timeline if e.kind == "step" and key in e.data]


async def test_police_proceed_then_drop_the_prosecution_then_detained_through_gatekeeper(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h)
        await through_checklist_until_prosecution(h, casework)
        await awaiting_kind(h, casework, "prosecution_consideration")
        await decide(
            casework,
            owner(
                "trial in 3 months",
                kind="prosecution_consideration",
                proceed_with_deportation=False,
            ),
        )
        waiting = await awaiting_kind(h, casework, "prosecution_outcome")
        assert waiting.stage is Stage.AWAITING_PROSECUTION
        assert [d.name for d in waiting.deadlines] == [PROSECUTION_REVIEW]
        assert waiting.progress.prosecution == "pending"
        # The review date passes: told, escalated, still awaited.
        late = await until(casework, lambda s: s.overdue, what="overdue", skip=h.env)
        assert late.overdue == [PROSECUTION_REVIEW] and late.awaiting == ["prosecution_outcome"]
        await decide(
            casework, owner("CPS dropped it", kind="prosecution_outcome", outcome="dropped")
        )
        state = await awaiting_kind(h, casework, "detention")
        assert state.progress.prosecution == "dropped"
        assert state.progress.detention_to_be_arranged is True
        await detained_through_gatekeeper(h, casework, accept=True)
        state = await until(casework, lambda s: s.detained is not None, what="detained")
        await instruct_stage1(h, casework)  # issue 21 (h2): Stage 1 on instruction
        await until(casework, lambda s: "deportation" in s.awaiting, what="deportation", skip=h.env)
        await decide(casework, owner("serious offending", **deport_fields()))
        await serve_order_when_asked(h, casework)
        await awaiting_kind(h, casework, "deportation_enforced")
        await decide(
            casework,
            decision(
                "Officer Hale",
                "ice_officer",
                "removed",
                kind="deportation_enforced",
                removed_on="2017-06-01",
                removal_reference="REM-1",
            ),
        )
        state = await until(
            casework, lambda s: s.outcome is not None and s.stage is Stage.CLOSED, what="closed"
        )
    assert state.outcome is Outcome.DEPORTED
    p = state.progress
    assert p.checklist and p.gatekept
    assert p.charges_pending == 2 and p.police_proceeding is True and p.acquittal_likely is False
    assert p.proceed_despite_prosecution is False and p.prosecution == "dropped"
    assert p.detention_proposed and p.gatekeeper_accepted
    assert state.detained is True and "regulation 24(1)" in (state.detention_power or "")
    assert p.detention_power == state.detention_power
    # Every reference kept, in the progress and on the timeline with its system.
    assert set(p.references) >= {"ICD.5080", "investigating officer"}
    kept = {e.data["reference"]: e.data["system"] for e in steps_with(state, "reference")}
    assert kept[p.references["ICD.5080"]] == "PNC"
    assert kept[p.references["investigating officer"]] == "police"
    assert h.sim.count("wanted_marker_removed") == 1
    assert h.sim.count("investigating_officer_contacted") == 1
    assert h.sim.count("further_check_requested") == 0
    # Each decision with who, role, when and why, in the checklist's order.
    assert [d.data["decision"]["kind"] for d in decisions_of(state)] == [
        "subject_located",
        "allocate_case",
        "offending_history_review",
        "investigating_officer_answer",
        "pending_prosecution",
        "prosecution_consideration",
        "prosecution_outcome",
        "detention",
        "detention_gatekeeper",
        "serve_stage1",
        "deportation",
        "serve_deportation_order",
        "deportation_enforced",
    ]
    [gk] = decisions_of(state, "detention_gatekeeper")
    assert gk.role == "detention_gatekeeper" and gk.actor and gk.reason and gk.at


async def through_checklist_until_prosecution(h, casework):
    """Actions 1-5 with the police proceeding and acquittal unlikely."""
    await awaiting_kind(h, casework, "offending_history_review")
    await decide(
        casework,
        owner("print matches", kind="offending_history_review", offended_abroad_since=False),
    )
    await awaiting_kind(h, casework, "investigating_officer_answer")
    await decide(
        casework,
        owner(
            "phoned",
            kind="investigating_officer_answer",
            officer_reference="HC-2017-4411",
            information_held=True,
            redocumentation="passport_held",
        ),
    )
    await awaiting_kind(h, casework, "pending_prosecution")
    # A needed answer left out is refused, and changes nothing.
    for incomplete in (
        {"charges": 2},
        {"charges": 2, "police_proceeding": True},
    ):
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                casework, owner("half an answer", kind="pending_prosecution", **incomplete)
            )
    assert (await state_of(casework)).awaiting == ["pending_prosecution"]
    await decide(
        casework,
        owner(
            "two charges of theft, police proceeding",
            kind="pending_prosecution",
            charges=2,
            police_proceeding=True,
            acquittal_likely=False,
        ),
    )


async def test_police_not_proceeding_goes_to_detention(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h)
        state = await through_checklist(h, casework, charges=1, police_proceeding=False)
        assert state.stage is Stage.DETENTION_DECISION and state.awaiting == ["detention"]
        await decide(casework, owner("medical grounds", **NOT_DETAINED))
        state = await until(casework, lambda s: s.detained is not None, what="detention decided")
    p = state.progress
    assert p.prosecution == "dropped" and p.detention_to_be_arranged is True
    assert p.proceed_despite_prosecution is None
    assert state.detained is False and p.reporting_conditions and p.review_on
    assert [e.data["action"] for e in steps_with(state, "action")] == [6]


async def test_proceed_with_deportation_despite_the_prosecution(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h)
        state = await through_checklist(
            h,
            casework,
            charges=3,
            police_proceeding=True,
            acquittal_likely=False,
            proceed_with_deportation=True,
        )
    assert state.stage is Stage.DETENTION_DECISION
    p = state.progress
    assert p.prosecution == "pending" and p.proceed_despite_prosecution is True
    assert p.detention_to_be_arranged is None
    assert [e.data["action"] for e in steps_with(state, "action")] == [7]


async def test_pnc_print_complete_is_counted(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h)
        state = await awaiting_kind(h, casework, "offending_history_review")
    p = state.progress
    assert p.pnc_print_complete is True
    assert (p.pnc_offences_referred, p.pnc_offences_missing) == (1, 0)
    assert h.sim.count("pnc_print_obtained") == 1


async def test_pnc_print_incomplete_counts_what_is_missing(ts_env, tmp_path):
    """One conviction ACRO could not record on the PNC: the print lacks it; the
    certificate was for immigration purposes, so the history is held all the same."""
    reply = ReplySpec(
        after_days=1,
        certificate_purpose="immigration_deportation",
        convictions=[
            ConvictionSpec(offence="GBH", sentence="3 years"),
            ConvictionSpec(offence="ROBBERY", sentence="2 years", recordable_on_pnc=False),
        ],
    )
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h, reply=reply)
        state = await awaiting_kind(h, casework, "offending_history_review")
    p = state.progress
    assert p.pnc_print_complete is False
    assert (p.pnc_offences_referred, p.pnc_offences_missing) == (2, 1)
    assert p.certificate_for_immigration is True
    [compared] = [
        e for e in state.timeline if e.data.get("system") == "PNC" and "missing" in e.data
    ]
    assert compared.data["missing"] == 1 and compared.data["complete"] is False


async def test_offending_abroad_since_asks_acro_again_and_keeps_its_reference(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await located(h)
        state = await through_checklist(h, casework, offended_abroad_since=True)
    ref = state.progress.references["further ACRO check"]
    assert state.progress.further_acro_check is True
    assert [
        (e.data["reference"], e.data["system"])
        for e in steps_with(state, "reference")
        if e.data["reference"] == ref
    ] == [(ref, "ACRO")]
    assert h.sim.count("further_check_requested") == 1


# --- the old path ---------------------------------------------------------------------
HISTORIES = Path(__file__).parent / "histories"


def patches_of(history: WorkflowHistory) -> set[str]:
    """The ``workflow.patched`` IDs a history recorded."""
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads:
                found.add(json.loads(payload.data)["id"])
    return found


def history(name: str) -> WorkflowHistory:
    path = HISTORIES / f"{name}.json"
    return WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize(
    ("name", "new_path"),
    [
        ("polish_national_arrested_for_theft_is_deported-1-casework", False),
        (
            "police_proceed_then_drop_the_prosecution_then_detained_through_gatekeeper-1-casework",
            True,
        ),
    ],
)
async def test_old_histories_replay_the_claimed_steps_new_ones_the_checklist(name, new_path):
    """A history recorded before the checklist has no marker for it and replays the
    three claimed steps; one recorded since has it (the whole set replays in
    tests/test_replay.py)."""
    recorded = history(name)
    assert (LOCATED_CHECKLIST in patches_of(recorded)) is new_path
    result = await replayer(CODEC_KEYS).replay_workflow(recorded, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
