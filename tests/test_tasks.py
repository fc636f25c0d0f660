"""Issue 21: every awaited human decision is a task (assignee, candidate roles, team,
due and follow-up dates, priority); claim, reassign, give back and bring forward, each
on the timeline and in the access log; the inbox's order (my tasks, then my team's
unassigned, overdue and urgent on top), on structured rows.

The case's tasks on the time-skipping server; the inbox's listing on the dev server
(its visibility answers the query)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from access.inbox import InboxRow, inbox_rows, order
from access.reading import audit
from identity.principal import Principal
from models import search
from models.case import Stage
from models.policy import compressed_policy
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    allocate,
    custody_event,
    decide,
    decision,
    eventually,
    harness,
    state_of,
    through_checklist,
    until,
    until_stage,
)

ROBBERY = ReplySpec(after_days=3, convictions=[ConvictionSpec(offence="ARMED_ROBBERY")])
SUPERVISOR = Principal(subject="tests:Sue Park", name="Sue Park", role="supervisor")


def as_(who: str, role: str, why: str, **d: object):
    return decision(who, role, why, **d).model_copy(update={"actor_id": f"tests:{who}"})


def refused(raised: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def start_located(h, whereabouts: str = "in_police_custody"):
    event = custody_event(nationality="PL", force="hampshire")
    event = event.model_copy(update={"whereabouts": whereabouts})
    h.world(event, SubjectSpec(replies={"PL": ROBBERY}, located_after_days=12))
    encounter = await h.start(event)
    skip = h.env
    state = await until(encounter, lambda s: s.casework_id is not None, what="ref", skip=skip)
    return h.client.get_workflow_handle(state.casework_id)


def the_task(state, kind: str):
    [task] = [t for t in state.tasks if t.kind == kind]
    return task


async def test_claim_reassign_and_give_back_are_audited(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await start_located(h)
        await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        await allocate(casework, "Sam Jones", skip=h.env)
        await through_checklist(h, casework)
        case = await until(casework, lambda s: "detention" in s.awaiting, skip=h.env)
        task = the_task(case, "detention")
        assert task.assignee_id == "tests:Sam Jones" and task.team == "CC Team 1"
        assert task.candidate_roles == ["caseworker", "senior_caseworker"]
        assert task.stage == Stage.DETENTION_DECISION.name and task.due_at is not None
        # Not a task of this case; not a role of the task.
        for wrong in (
            as_("Lee Wong", "caseworker", "mine now", kind="claim_task", task="deportation"),
            as_("Ike Bello", "ice_officer", "mine now", kind="claim_task", task="detention"),
        ):
            with pytest.raises(WorkflowUpdateFailedError) as no:
                await decide(casework, wrong)
            refused(no)
        # Lee claims it: acted on at once, the stage unchanged.
        claim = as_(
            "Lee Wong", "caseworker", "Sam is on leave", kind="claim_task", task="detention"
        )
        result = await decide(casework, claim)
        assert result.stage == Stage.DETENTION_DECISION.value
        case = await state_of(casework)
        assert the_task(case, "detention").assignee_id == "tests:Lee Wong"
        described = await casework.describe()
        assert described.typed_search_attributes.get(search.ASSIGNEE) == ["tests:Lee Wong"]
        # Lee reassigns it to Kim; Lee then no longer decides it, Kim gives it back.
        move = as_(
            "Lee Wong",
            "caseworker",
            "Kim knows the family",
            kind="reassign_task",
            task="detention",
            to_id="tests:Kim Ode",
            to_name="Kim Ode",
        )
        await decide(casework, move)
        with pytest.raises(WorkflowUpdateFailedError) as no:
            await decide(
                casework, as_("Lee Wong", "caseworker", "low risk", kind="detention", detain=False)
            )
        refused(no)
        back = as_("Kim Ode", "caseworker", "not mine", kind="unclaim_task", task="detention")
        await decide(casework, back)
        case = await state_of(casework)
        assert the_task(case, "detention").assignee_id == "tests:Sam Jones"  # the owner's
        assert "detention" not in case.progress.assignments
        steps = [e for e in case.timeline if e.kind == "step" and e.data.get("task")]
        assert [(e.actor, e.role, e.data.get("assignee_id")) for e in steps] == [
            ("Lee Wong", "caseworker", "tests:Lee Wong"),
            ("Lee Wong", "caseworker", "tests:Kim Ode"),
            ("Kim Ode", "caseworker", None),
        ]
        logged = audit(h.store, SUPERVISOR, case_id=casework.id)
        kinds = [e.justification.split(":")[0] for e in logged if e.action == "decision"]
        assert {"allocate_case", "claim_task", "reassign_task", "unclaim_task"} <= set(kinds)
        subjects = {e.subject for e in logged if e.justification.startswith("claim_task")}
        assert subjects == {"tests:Lee Wong"}


async def test_bring_forward_sets_the_follow_up_and_priority(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await start_located(h)
        await until_stage(casework, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        await allocate(casework, "Sam Jones", skip=h.env)
        await through_checklist(h, casework)
        await until(casework, lambda s: "detention" in s.awaiting, skip=h.env)
        on = date(2030, 1, 6)
        later = as_(
            "Sam Jones",
            "caseworker",
            "police interview first",
            kind="bring_forward",
            task="detention",
            follow_up_on=on.isoformat(),
            priority="high",
        )
        await decide(casework, later)
        task = the_task(await state_of(casework), "detention")
        assert (task.follow_up_on, task.priority) == (on, "high")
        described = await casework.describe()
        assert described.typed_search_attributes.get(search.PRIORITY) == "high"
        # Decided: the task, its follow-up and priority end.
        await decide(
            casework, as_("Sam Jones", "caseworker", "risk", kind="detention", detain=True)
        )
        case = await state_of(casework)
        assert "detention" not in case.progress.follow_ups
        assert not [t for t in case.tasks if t.kind == "detention"]


def row(case_id: str, **kw: object) -> InboxRow:
    return InboxRow(case_id=case_id, case_kind="casework", task="detention", **kw)


def test_the_inbox_order_mine_first_then_my_teams_hot_on_top():
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    rows = [
        row("c-team-late", due_at=now + timedelta(days=9)),
        row("c-team-overdue", due_at=now - timedelta(hours=1), overdue=True),
        row("c-mine-late", mine=True, due_at=now + timedelta(days=5)),
        row("c-team-urgent", priority="urgent", due_at=now + timedelta(days=3)),
        row("c-mine-urgent", mine=True, priority="urgent", due_at=now + timedelta(days=8)),
        row("c-mine-soon", mine=True, due_at=now + timedelta(days=1)),
    ]
    assert [r.case_id for r in order(rows, now)] == [
        "c-mine-urgent",
        "c-mine-soon",
        "c-mine-late",
        "c-team-urgent",
        "c-team-overdue",
        "c-team-late",
    ]


async def test_the_inbox_lists_my_tasks_and_my_teams_unassigned(dev_env, tmp_path):
    """A case allocated to Sam is in Sam's inbox (his task), not in Lee's; a case to be
    allocated is in the CC manager's, unassigned."""
    sam = Principal(subject="tests:Sam Jones", name="Sam Jones", role="caseworker")
    lee = Principal(subject="tests:Lee Wong", name="Lee Wong", role="caseworker")
    cora = Principal(subject="tests:Cora Lind", name="Cora Lind", role="cc_manager")
    async with harness(dev_env, tmp_path, policy=compressed_policy(0.3)) as h:
        allocated = await start_located(h, "remanded")
        await allocate(allocated, "Sam Jones")
        await through_checklist(h, allocated)
        await until(allocated, lambda s: "detention" in s.awaiting, what="detention")
        waiting = await start_located(h, "remanded")
        await until(waiting, lambda s: "allocate_case" in s.awaiting, what="allocation")

        async def listed(p: Principal, case_id: str) -> list[InboxRow]:
            rows = await inbox_rows(h.client, p, now=datetime.now(UTC))
            return [r for r in rows if r.case_id == case_id]

        [mine] = await eventually(lambda: listed(sam, allocated.id), what="Sam's task")
        assert (mine.task, mine.mine, mine.assignee_id) == ("detention", True, "tests:Sam Jones")
        assert mine.due_at is not None and mine.task_stage == Stage.DETENTION_DECISION.name
        assert await listed(lee, allocated.id) == []  # Sam's, not the team's
        [todo] = await eventually(lambda: listed(cora, waiting.id), what="allocation task")
        assert (todo.task, todo.mine, todo.assignee_id) == ("allocate_case", False, None)
        assert todo.candidate_roles == ["cc_manager"]


async def test_the_web_inbox_lists_tasks_and_claims_one(dev_env, tmp_path):
    """Sam's inbox shows his task; the CC manager's the allocation, claimed from it; the
    case page offers the task decisions."""
    from tests.support_web import browserless, csrf_of, sign_in

    async with harness(dev_env, tmp_path, policy=compressed_policy(0.3)) as h:
        allocated = await start_located(h, "remanded")
        # Sam signs in as local:sam; the tests' Sam (who answers the checklist)
        # stands in.
        await allocate(
            allocated,
            "Sam Jones",
            owner_id="local:sam",
            stand_ins=[("tests:Sam Jones", "Sam Jones")],
        )
        await through_checklist(h, allocated)
        await until(allocated, lambda s: "detention" in s.awaiting, what="detention")
        waiting = await start_located(h, "remanded")
        await until(waiting, lambda s: "allocate_case" in s.awaiting, what="allocation")
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sam")

            async def sams() -> str | None:
                page = (await http.get("/web/inbox")).text
                return page if allocated.id in page else None

            inbox = await eventually(sams, what="Sam's inbox")
            case_page = await http.get(f"/web/cases/{allocated.id}", params={"purpose": "work"})
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "cora")

            async def coras() -> str | None:
                page = (await http.get("/web/inbox")).text
                return page if waiting.id in page else None

            theirs = await eventually(coras, what="the CC manager's inbox")
            claimed = await http.post(
                f"/web/cases/{waiting.id}/decisions",
                data={
                    "kind": "claim_task",
                    "f.task": "allocate_case",
                    "reason": "mine to allocate",
                    "purpose": "managing my tasks",
                    "csrf_token": csrf_of(theirs),
                },
            )
        state = await state_of(waiting)
    assert waiting.id not in inbox  # the CC manager's task, not Sam's
    assert 'name="f.task"' in theirs and 'value="claim_task"' in theirs
    assert case_page.status_code == 200
    assert 'id="decide-claim_task"' in case_page.text
    assert 'id="decide-reassign_task"' in case_page.text
    assert claimed.status_code == 303, claimed.text
    assert the_task(state, "allocate_case").assignee_id == "local:cora"
