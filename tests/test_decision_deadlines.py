"""The decisions of steps 7-10 that had no deadline have one: offered with a due date
(working days of the policy), and when it passes with nothing decided the case says it
is overdue (a ``fault`` entry naming the deadline, ``state.overdue``) and goes on
offering the decision; the deadline stays, so the overdue listing keeps the case."""

from __future__ import annotations

from models.case import Stage
from models.policy import add_working_days
from tests.support import (
    casework_awaiting,
    decide,
    decision,
    deport_fields,
    detained_through_gatekeeper,
    harness,
    instruct_stage1,
    locate,
    serve_order_when_asked,
    through_checklist,
    until,
)

SAM = ("Sam Jones", "caseworker")


def cw(reason: str, **d: object):
    return decision(*SAM, reason, **d)


async def test_an_undecided_deportation_is_told_overdue_and_still_offered(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await locate(casework, cw("found", kind="subject_located"), skip=h.env)
        await through_checklist(h, casework)
        await until(casework, lambda s: "detention" in s.awaiting, skip=h.env)
        detention = await until(casework, lambda s: bool(s.deadlines), skip=h.env)
        assert [d.name for d in detention.deadlines] == ["detention decision"]
        offered = detention.timeline[-1].at.date()
        due = detention.deadlines[0].due_at.date()
        assert due == add_working_days(offered, h.policy.detention_decision_working_days)
        await detained_through_gatekeeper(h, casework, why="risk")
        await instruct_stage1(h, casework)
        state = await until(casework, lambda s: "deportation" in s.awaiting, skip=h.env)
        assert state.stage is Stage.DEPORTATION_DECISION
        assert [d.name for d in state.deadlines] == ["deportation decision"]
        late = await until(casework, lambda s: s.overdue, what="overdue", skip=h.env)
        assert late.overdue == ["deportation decision"]
        assert late.awaiting == ["deportation"] and late.deadlines  # still offered, listed
        told = [e for e in late.timeline if e.kind == "fault" and e.data.get("overdue")]
        assert [e.data["deadline"] for e in told] == ["deportation decision"]
        await decide(casework, cw("serious", **deport_fields()))
        await serve_order_when_asked(h, casework)
        await until(casework, lambda s: "deportation_enforced" in s.awaiting, skip=h.env)
