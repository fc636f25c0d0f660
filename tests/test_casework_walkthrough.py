"""Issue 21's walk: one case from a CC manager's allocation to removal, as a team works it.

A subject wanted/missing is located by ICE; a CC manager allocates the case to its
owner; another caseworker claims the first task and reassigns it to a colleague, who
decides it; the located checklist runs with the police proceeding with a prosecution,
the owner waits for it, and it is dropped (action 6: detention arranged); detention goes
through the Detention Gatekeeper; the Stage 1 notice is served on the owner's
instruction and representations are recorded in its window; the decision to deport
records its three factors; the deportation order is served, an appeal lodged and
dismissed, and the removal enforced. Every decision is on the timeline with who, role,
when and why; every step in another system with that system's reference.

On the time-skipping server with the statutory policy, through a real worker.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from models.case import Outcome, Stage
from sim.world_file import ConvictionSpec, ReplySpec
from tests.support import (
    FACTORS,
    GATEKEEPER,
    allocate,
    casework_awaiting,
    decide,
    decision,
    harness,
    state_of,
    until,
)

OWNER = ("Sam Jones", "caseworker")
KIM = ("Kim Park", "caseworker")  # claims the first task
LEE = ("Lee Grant", "caseworker")  # is given it
ICE = ("Officer Hale", "ice_officer")
MANAGER = "Cora Lind"


async def awaited(h: Any, casework: Any, kind: str) -> Any:
    return await until(casework, lambda s: kind in s.awaiting, what=kind, skip=h.env)


async def test_a_case_walked_from_allocation_to_removal(ts_env, tmp_path):
    reply = ReplySpec(
        after_days=1,
        convictions=[ConvictionSpec(offence="GBH", convicted_on="2012-05-02", sentence="4 years")],
    )
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located", reply=reply)
        await decide(casework, decision(*ICE, "arrested at his address", kind="subject_located"))
        # A CC manager allocates the case to its owner, in a team.
        await allocate(casework, OWNER[0], team="CC Team North", skip=h.env)
        state = await awaited(h, casework, "offending_history_review")
        [task] = [t for t in state.tasks if t.kind == "offending_history_review"]
        assert (task.assignee_id, task.team) == (f"tests:{OWNER[0]}", "CC Team North")
        assert task.due_at is not None and "caseworker" in task.candidate_roles

        # Kim, not the owner, may not decide it — until Kim claims the task; Kim then
        # gives it to Lee, who decides it.
        review = {"kind": "offending_history_review", "offended_abroad_since": False}
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(casework, decision(*KIM, "PNC print checked", **review))
        await decide(
            casework, decision(*KIM, "I have the file", kind="claim_task", task=review["kind"])
        )
        state = await state_of(casework)
        assert _task(state, review["kind"]).assignee_id == f"tests:{KIM[0]}"
        await decide(
            casework,
            decision(
                *KIM,
                "Lee knows the force",
                kind="reassign_task",
                task=review["kind"],
                to_id=f"tests:{LEE[0]}",
                to_name=LEE[0],
            ),
        )
        state = await state_of(casework)
        assert _task(state, review["kind"]).assignee_id == f"tests:{LEE[0]}"
        await decide(casework, decision(*LEE, "PNC print checked against the referral", **review))

        # The investigating officer's answer, then the police proceed with a charge.
        await awaited(h, casework, "investigating_officer_answer")
        await decide(
            casework,
            decision(
                *OWNER,
                "the officer rang back",
                kind="investigating_officer_answer",
                officer_reference="HC/IO/2018/77",
                information_held=True,
                redocumentation="passport_held",
            ),
        )
        await awaited(h, casework, "pending_prosecution")
        await decide(
            casework,
            decision(
                *OWNER,
                "clarified with the police",
                kind="pending_prosecution",
                charges=1,
                police_proceeding=True,
                acquittal_likely=False,
            ),
        )
        await awaited(h, casework, "prosecution_consideration")
        await decide(
            casework,
            decision(
                *OWNER,
                "a short trial is listed: wait for it",
                kind="prosecution_consideration",
                proceed_with_deportation=False,
            ),
        )
        state = await awaited(h, casework, "prosecution_outcome")
        assert state.stage is Stage.AWAITING_PROSECUTION
        await decide(
            casework,
            decision(
                *OWNER, "CPS dropped the charge", kind="prosecution_outcome", outcome="dropped"
            ),
        )

        # Action 6: detention arranged, through the Detention Gatekeeper.
        await awaited(h, casework, "detention")
        result = await decide(
            casework, decision(*OWNER, "flight risk", kind="detention", detain=True)
        )
        assert result.stage == Stage.DETENTION_GATEKEEPER.value  # the stage it led to
        await decide(
            casework,
            decision(*GATEKEEPER, "criteria met", kind="detention_gatekeeper", accept=True),
        )

        # Stage 1 on the owner's instruction; representations in the window.
        await awaited(h, casework, "serve_stage1")
        await decide(
            casework, decision(*OWNER, "serve it now", kind="serve_stage1", means="in_person")
        )
        state = await awaited(h, casework, "representations")
        received = state.progress.stage1_served_at.date().isoformat()
        await decide(
            casework,
            decision(
                *OWNER,
                "letter from his solicitor",
                kind="representations",
                received_on=received,
            ),
        )
        state = await awaited(h, casework, "deportation")
        assert len(state.progress.representations) == 1

        # The decision with its three factors; the order; an appeal lodged and dismissed.
        await decide(
            casework,
            decision(
                *OWNER,
                "serious offending outweighs the representations",
                kind="deportation",
                decision="deport",
                address_known=True,
                in_country_right_of_appeal=True,
                **FACTORS,
            ),
        )
        await awaited(h, casework, "serve_deportation_order")
        await decide(
            casework,
            decision(*OWNER, "order signed", kind="serve_deportation_order", means="via_prison"),
        )
        state = await awaited(h, casework, "appeal_lodged")
        today = max(e.at for e in state.timeline).date().isoformat()
        await decide(
            casework,
            decision(
                *OWNER,
                "notice of appeal received",
                kind="appeal_lodged",
                lodged_on=today,
                appeal_reference="DA/00077/2018",
            ),
        )
        await awaited(h, casework, "appeal_determined")
        await decide(
            casework,
            decision(
                *OWNER,
                "First-tier Tribunal dismissed the appeal",
                kind="appeal_determined",
                result="dismissed",
                determined_on=today,
            ),
        )
        state = await awaited(h, casework, "deportation_enforced")
        today = max(e.at for e in state.timeline).date().isoformat()
        await decide(
            casework,
            decision(
                *ICE,
                "escorted removal",
                kind="deportation_enforced",
                removed_on=today,
                removal_reference="ICE/REM/2018/5",
            ),
        )
        state = await until(casework, lambda s: s.stage is Stage.CLOSED, what="closed", skip=h.env)

    assert state.outcome is Outcome.DEPORTED
    # Every decision with who, role, when and why, in the order the team made them.
    decisions = [e for e in state.timeline if e.kind == "decision"]
    assert all(e.actor and e.role and e.reason and e.at for e in decisions)
    made = [(e.data["decision"]["kind"], e.actor) for e in decisions]
    assert made == [
        ("subject_located", ICE[0]),
        ("allocate_case", MANAGER),
        ("claim_task", KIM[0]),
        ("reassign_task", KIM[0]),
        ("offending_history_review", LEE[0]),
        ("investigating_officer_answer", OWNER[0]),
        ("pending_prosecution", OWNER[0]),
        ("prosecution_consideration", OWNER[0]),
        ("prosecution_outcome", OWNER[0]),
        ("detention", OWNER[0]),
        ("detention_gatekeeper", GATEKEEPER[0]),
        ("serve_stage1", OWNER[0]),
        ("representations", OWNER[0]),
        ("deportation", OWNER[0]),
        ("serve_deportation_order", OWNER[0]),
        ("appeal_lodged", OWNER[0]),
        ("appeal_determined", OWNER[0]),
        ("deportation_enforced", ICE[0]),
    ]
    # The refused decision by a caseworker who was neither owner nor assignee left no
    # decision entry (above) and changed nothing.
    # Every other system's reference kept, and on the timeline with its system.
    refs = state.progress.references
    for name in (
        "CID case",
        "paper file",
        "ICD.5079",
        "ICE tasking",
        "ICD.5080",
        "investigating officer",
        "Stage 1 notice",
        "deportation order",
        "appeal",
        "removal",
    ):
        assert refs.get(name), (name, sorted(refs))
    assert refs["appeal"] == "DA/00077/2018" and refs["removal"] == "ICE/REM/2018/5"
    on_timeline = {e.data.get("reference") for e in state.timeline if e.kind == "step"}
    assert set(refs.values()) <= on_timeline | {None}, set(refs.values()) - on_timeline
    assert all(
        e.data.get("system") for e in state.timeline if e.kind == "step" and e.data.get("reference")
    )
    # The detention's legal power, and the prosecution's course.
    assert state.detained is True and "regulation 24(1)" in (state.detention_power or "")
    assert state.progress.prosecution == "dropped"
    assert state.progress.appeal == "dismissed"


def _task(state: Any, kind: str) -> Any:
    return next(t for t in state.tasks if t.kind == kind)
