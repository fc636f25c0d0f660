"""Detention through the Detention Gatekeeper (issue 21, DOMAIN.md step 9) on the
time-skipping server: the case owner proposes, the Gatekeeper accepts (the legal power
recorded) or rejects (the owner then records the non-detained management: reason,
reporting conditions, review date); not detaining needs that management; detention on
non-disclosable information stays refused; the urgent custody detention is unchanged."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.case import Stage
from models.policy import add_working_days
from tests.support import (
    CASE_OWNER,
    GATEKEEPER,
    NOT_DETAINED,
    awaiting_kind,
    casework_awaiting,
    decide,
    decision,
    decisions_of,
    detained_through_gatekeeper,
    harness,
    state_of,
    through_checklist,
    until,
)
from workflows.casework_located import (
    DETENTION_POWER_EEA,
    DETENTION_POWER_NON_EEA,
)
from workflows.casework_located import (
    GATEKEEPER as GK,
)


def owner(reason: str, **d: object):
    return decision(*CASE_OWNER, reason, **d)


async def at_detention(h, **kw):
    casework = await casework_awaiting(h, "subject_located", **kw)
    await decide(casework, owner("ICE found them", kind="subject_located", case_owner="Sam Jones"))
    await through_checklist(h, casework)
    await awaiting_kind(h, casework, "detention")
    return casework


def refused(raised: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def test_gatekeeper_accepts_and_the_power_is_recorded(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await at_detention(h)
        await decide(casework, owner("flight risk", kind="detention", detain=True))
        state = await awaiting_kind(h, casework, "detention_gatekeeper")
        assert state.stage is Stage.DETENTION_GATEKEEPER
        assert state.awaiting_role == ["detention_gatekeeper"]
        [deadline] = state.deadlines
        assert deadline.name == GK
        offered = state.timeline[-1].at.date()
        assert deadline.due_at.date() == add_working_days(offered, h.policy.gatekeeper_working_days)
        # Only the Gatekeeper answers.
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(casework, owner("myself", kind="detention_gatekeeper", accept=True))
        assert refused(raised)  # the case's own refusal (the role), nothing changed
        assert (await state_of(casework)).awaiting == ["detention_gatekeeper"]
        await decide(
            casework,
            decision(*GATEKEEPER, "criteria met", kind="detention_gatekeeper", accept=True),
        )
        state = await until(casework, lambda s: s.detained is not None, what="detained")
    assert state.detained is True and state.progress.gatekeeper_accepted is True
    assert state.detention_power == state.progress.detention_power == DETENTION_POWER_EEA
    [accepted] = [e for e in state.timeline if e.data.get("power")]
    assert accepted.data["power"] == DETENTION_POWER_EEA


async def test_a_non_eea_national_is_detained_under_the_1971_act(ts_env, tmp_path):
    from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
    from tests.support import custody_event

    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="AL", father_name="Ilir", mother_name="Drita")
        reply = ReplySpec(
            after_days=1,
            convictions=[ConvictionSpec(offence="GBH", sentence="4 years")],
            certificate_purpose="immigration_deportation",
        )
        h.world(event, SubjectSpec(replies={"AL": reply}, located_after_days=1))
        encounter = await h.start(event)
        enc = await until(
            encounter, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
        casework = h.client.get_workflow_handle(enc.casework_id)
        await awaiting_kind(h, casework, "subject_located")
        await decide(casework, owner("found", kind="subject_located", case_owner="Sam Jones"))
        await through_checklist(h, casework)
        await detained_through_gatekeeper(h, casework)
        state = await until(casework, lambda s: s.detained is not None, what="detained")
    assert state.detention_power == state.progress.detention_power == DETENTION_POWER_NON_EEA


async def test_gatekeeper_rejects_then_non_detained_management_is_recorded(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await at_detention(h)
        await detained_through_gatekeeper(h, casework, accept=False)
        state = await awaiting_kind(h, casework, "detention")
        assert state.stage is Stage.DETENTION_DECISION and state.detained is None
        assert state.progress.gatekeeper_accepted is False
        # Proposing detention again after the rejection is refused; so is "not detained"
        # without its management.
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(casework, owner("again", kind="detention", detain=True))
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(casework, owner("no detail", kind="detention", detain=False))
        message = refused(raised)
        assert all(
            f in message for f in ("not_detained_reason", "reporting_conditions", "review_on")
        )
        await decide(casework, owner("the Gatekeeper said no", **NOT_DETAINED))
        state = await until(casework, lambda s: s.detained is not None, what="not detained")
    p = state.progress
    assert state.detained is False and state.detention_power is None
    assert p.not_detained_reason == NOT_DETAINED["not_detained_reason"]
    assert p.reporting_conditions == NOT_DETAINED["reporting_conditions"]
    assert str(p.review_on) == NOT_DETAINED["review_on"]
    assert [d.data["decision"]["detain"] for d in decisions_of(state, "detention")] == [True, False]
    [managed] = [e for e in state.timeline if "not_detained_reason" in e.data]
    assert managed.data["review_on"] == NOT_DETAINED["review_on"]


async def test_not_detaining_needs_its_management(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await at_detention(h)
        before = (await state_of(casework)).model_dump()
        partial = {k: v for k, v in NOT_DETAINED.items() if k != "review_on"}
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(casework, owner("no review date", **partial))
        assert "review_on" in refused(raised)
        assert (await state_of(casework)).model_dump() == before
        await decide(casework, owner("low risk", **NOT_DETAINED))
        state = await until(casework, lambda s: s.detained is not None, what="not detained")
    assert state.detained is False and state.progress.gatekeeper_accepted is None
    assert state.progress.detention_proposed is None
