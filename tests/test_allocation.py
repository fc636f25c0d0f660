"""Issue 21: allocation by a CC manager. Located (whereabouts known, or ICE), the case
waits for a CC manager's ``allocate_case`` (its task's candidate role: cc_manager); then
its decisions come from the owner, a stand-in or whoever holds the task; a CC manager
may move the case later; the decide update answers with the stage the decision led to.

On the time-skipping server with the statutory policy, through a real worker."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.case import Stage
from models.decisions import DecisionRequest
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    allocate,
    casework_awaiting,
    custody_event,
    decide,
    decision,
    gatekeeper_accepts,
    harness,
    state_of,
    through_checklist,
    until,
    until_stage,
)
from workflows.casework_located import ALLOCATION

ROBBERY = ReplySpec(after_days=3, convictions=[ConvictionSpec(offence="ARMED_ROBBERY")])


def refused(raised: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


def as_(who: str, role: str, why: str, *, actor_id: str | None = None, **d: object):
    req = decision(who, role, why, **d)
    return req.model_copy(update={"actor_id": actor_id or f"tests:{who}"})


async def located_case(h):
    event = custody_event(nationality="PL", force="hampshire")
    event = event.model_copy(update={"whereabouts": "in_police_custody"})
    h.world(event, SubjectSpec(replies={"PL": ROBBERY}, located_after_days=12))
    encounter = await h.start(event)
    state = await until(encounter, lambda s: s.casework_id is not None, what="ref", skip=h.env)
    casework = h.client.get_workflow_handle(state.casework_id)
    return casework, await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)


async def test_a_cc_manager_allocates_and_only_the_owner_or_a_stand_in_decides(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework, case = await located_case(h)
        assert case.awaiting == ["allocate_case"] and [d.name for d in case.deadlines] == [
            ALLOCATION
        ]
        [task] = case.tasks
        assert task.kind == "allocate_case" and task.candidate_roles == ["cc_manager"]
        assert task.assignee_id is None and task.due_at == case.deadlines[0].due_at
        # Only a CC manager allocates.
        with pytest.raises(WorkflowUpdateFailedError) as no:
            await decide(
                casework,
                as_(
                    "Sam Jones",
                    "caseworker",
                    "mine",
                    kind="allocate_case",
                    owner_id="tests:Sam Jones",
                    owner_name="Sam Jones",
                    team="CC Team 1",
                ),
            )
        refused(no)
        result = await allocate(
            casework, "Priya Shah", stand_ins=[("tests:Lee Wong", "Lee Wong")], skip=h.env
        )
        # The update answered with the stage the allocation led to, not the one before.
        allocated_to = result.stage
        # The owner passes the located checklist; the detention decision is next.
        await through_checklist(h, casework, by=("Priya Shah", "caseworker"))
        case = await until(casework, lambda s: "detention" in s.awaiting, skip=h.env)
        assert allocated_to != Stage.LOCATED_AWAITING_OWNER.value
        assert allocated_to in {s.value for s in Stage}
        assert case.case_owner == "Priya Shah"
        assert case.progress.case_owner_id == "tests:Priya Shah"
        assert case.progress.team == "CC Team 1"
        assert case.progress.stand_ins == ["tests:Lee Wong"]
        [task] = case.tasks
        assert (task.kind, task.assignee_id) == ("detention", "tests:Priya Shah")
        # A caseworker who is neither the owner nor a stand-in is refused.
        other = as_("Sam Jones", "caseworker", "low risk", kind="detention", detain=True)
        with pytest.raises(WorkflowUpdateFailedError) as no:
            await decide(casework, other)
        refused(no)
        before = await state_of(casework)
        assert before.stage is Stage.DETENTION_DECISION
        # The stand-in is accepted; the answer is the stage the decision led to.
        stand_in = as_(
            "Lee Wong", "caseworker", "risk of absconding", kind="detention", detain=True
        )
        result = await decide(casework, stand_in)
        after = await state_of(casework)
        assert result.stage != Stage.DETENTION_DECISION.value
        assert result.stage == after.stage.value
        # Detention goes to the Detention Gatekeeper, who accepts it: detained.
        assert after.stage is Stage.DETENTION_GATEKEEPER
        await decide(casework, gatekeeper_accepts()[1])
        after = await until(casework, lambda s: s.detained is not None, skip=h.env)
        assert after.detained is True


async def test_a_case_located_by_ice_is_allocated_then_moved(ts_env, tmp_path):
    """ICE report the subject located (no owner named): the case waits for a CC manager,
    who later moves it to another owner and team."""
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        tasked = await state_of(casework)
        # ICE tasking is ICE's task, not the caseworkers' (a passive wait for them).
        assert tasked.stage is Stage.ICE_TASKING
        [ice] = [t for t in tasked.tasks if t.kind == "subject_located"]
        assert ice.candidate_roles == ["ice_officer"] and ice.assignee_id is None
        located = DecisionRequest.model_validate(
            {
                "actor": "Ike Bello",
                "role": "ice_officer",
                "reason": "arrested on warrant",
                "decision": {"kind": "subject_located"},
            }
        )
        await decide(casework, located)
        case = await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        assert case.located and case.awaiting == ["allocate_case"]
        await allocate(casework, "Sam Jones", skip=h.env)
        await through_checklist(h, casework)
        case = await until(casework, lambda s: "detention" in s.awaiting, skip=h.env)
        move = as_(
            "Cora Lind",
            "cc_manager",
            "workload",
            kind="allocate_case",
            owner_id="tests:Priya Shah",
            owner_name="Priya Shah",
            team="CC Team 2",
        )
        result = await decide(casework, move)
        assert result.stage == Stage.DETENTION_DECISION.value
        case = await state_of(casework)
        assert (case.case_owner, case.progress.team) == ("Priya Shah", "CC Team 2")
        assert case.tasks[0].assignee_id == "tests:Priya Shah"
        moved = [e for e in case.timeline if e.data.get("owner_id") == "tests:Priya Shah"]
        assert moved and moved[-1].role == "cc_manager"
        # The former owner no longer decides.
        with pytest.raises(WorkflowUpdateFailedError) as no:
            await decide(
                casework,
                as_("Sam Jones", "caseworker", "former owner", kind="detention", detain=True),
            )
        refused(no)
