"""Stage 1 on instruction to removal (issue 21, DOMAIN.md step 10) on the time-skipping
server: the Stage 1 notice served when the case owner says, by a means, the window
from its service (20 days only for a sentence leaving sufficient time), representations
recorded in it; the decision with its factors; the deportation order, the appeal,
ICE's detention with the evidence, removal; "not pursued" with its reasons stored, the
Director not its author, a lawful-residence finding. Asserted on state, not wording."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.case import Outcome, Stage
from tests.support import (
    CASEWORKER,
    FACTORS,
    ICE_OFFICER,
    awaiting,
    casework_awaiting,
    days_between,
    decide,
    decision,
    decisions_of,
    deport_and_remove,
    detained_through_gatekeeper,
    harness,
    through_checklist,
    through_stage1,
    to_stage1,
    until,
)


def entries(case, **data):
    """Timeline entries whose data hold all of ``data``."""
    return [e for e in case.timeline if all(e.data.get(k) == v for k, v in data.items())]


def refused(raised: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str:
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.message


async def test_stage1_on_instruction_representations_order_appeal_dismissed_removal(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        state = await to_stage1(h, casework, detain=False)
        assert state.stage is Stage.STAGE1_TO_SERVE
        assert state.progress.stage1_served_at is None  # not served until instructed
        state = await through_stage1(h, casework, means="recorded_post", representations=2)
        p = state.progress
        assert p.stage1_on_instruction and p.stage1_means == "recorded_post"
        assert p.stage1_response_days == 10
        assert state.stage1_notice is not None
        assert len(p.representations) == 2
        assert [r.recorded_by for r in p.representations] == ["Sam Jones", "Sam Jones"]
        # The window ran from service (recorded post: two days after it was sent).
        [instruction] = decisions_of(state, "serve_stage1")
        assert 1.9 <= days_between(instruction.at, p.stage1_served_at) <= 2.1
        # The decision maker is shown the representations.
        assert entries(state, representations=2)
        await awaiting(h, casework, "deportation")
        final = await deport_and_remove(
            h, casework, right_of_appeal=True, appeal="dismissed", removal_reference="REM-42"
        )
    assert final.outcome is Outcome.DEPORTED and final.stage is Stage.CLOSED
    p = final.progress
    assert p.appeal == "dismissed" and p.order_served_at is not None
    refs = p.references
    for name in ("Stage 1 notice", "deportation order", "appeal", "ICE detention", "removal"):
        assert refs.get(name), name
    assert refs["removal"] == "REM-42" and refs["appeal"] == "HU/00001/2018"
    for name in ("CID case", "paper file", "ICD.5079", "ICE tasking"):
        assert refs.get(name), name
    # Each reference also on its timeline entry, with the system.
    for name in ("Stage 1 notice", "deportation order", "ICE detention", "removal"):
        [entry] = entries(final, reference=refs[name])
        assert entry.data["system"]
    # ICE was asked to detain with the disclosable certificates' document IDs.
    [asked] = entries(final, reference=refs["ICE detention"])
    certificate_ids = [c.document_id for r in final.referrals for c in r.certificates]
    assert asked.data["evidence"] and set(asked.data["evidence"]) <= set(certificate_ids)
    # Post-deportation notifications, each with its reference.
    assert len([k for k in refs if k.startswith("post-deportation: ")]) == 4
    assert h.sim.count("deportation_order_served") == 1
    assert h.sim.count("asked_to_detain") == 1


async def test_serving_a_sentence_twenty_days_only_with_sufficient_time(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await to_stage1(h, casework, serving=True)
        # Serving a sentence: whether there is sufficient time must be said.
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(
                casework, decision(*CASEWORKER, "serve", kind="serve_stage1", means="via_prison")
            )
        assert "sufficient_time" in refused(raised)
        state = await through_stage1(h, casework, means="via_prison", sufficient_time=True)
        assert state.progress.stage1_response_days == 20
        [dep] = [e for e in state.timeline if e.data.get("representations") == 0][-1:]
        assert days_between(state.progress.stage1_served_at, dep.at) >= 20

        other = await casework_awaiting(h, "subject_located")
        await to_stage1(h, other, serving=True)
        state = await through_stage1(h, other, means="via_prison", sufficient_time=False)
        assert state.progress.stage1_response_days == 10
        closed = [e for e in state.timeline if e.text and e.data.get("representations") == 0]
        assert 10 <= days_between(state.progress.stage1_served_at, closed[-1].at) < 12


async def test_appeal_allowed_closes_the_case_and_acro_is_told(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await to_stage1(h, casework)
        await through_stage1(h, casework)
        final = await deport_and_remove(h, casework, right_of_appeal=True, appeal="allowed")
    assert final.outcome is Outcome.APPEAL_ALLOWED
    assert final.progress.appeal == "allowed"
    assert final.progress.references.get("ACRO: appeal allowed")
    assert h.sim.count("advised_appeal_allowed") == 1
    assert "deportation_enforced" not in [d.data["decision"]["kind"] for d in decisions_of(final)]


async def test_no_appeal_lodged_in_the_window_removal_goes_ahead(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await to_stage1(h, casework)
        await through_stage1(h, casework)
        final = await deport_and_remove(h, casework, right_of_appeal=True, appeal=None)
    assert final.outcome is Outcome.DEPORTED
    assert final.progress.appeal == "none_lodged"
    assert entries(final, appeal="none_lodged")
    assert h.sim.count("asked_to_detain") == 0  # detained already


async def test_a_decision_lacking_a_needed_field_is_refused(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await to_stage1(h, casework)
        await through_stage1(h, casework)
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(
                casework,
                decision(
                    *CASEWORKER,
                    "deport",
                    kind="deportation",
                    decision="deport",
                    address_known=True,
                    in_country_right_of_appeal=False,
                ),
            )
        assert "foreign_convictions" in refused(raised)
        state = await until(casework, lambda s: "deportation" in s.awaiting)
        assert state.stage is Stage.DEPORTATION_DECISION
        assert decisions_of(state, "deportation") == []


async def test_not_pursued_with_reasons_director_not_author_lawful_residence(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        await to_stage1(h, casework)
        await through_stage1(h, casework)
        not_pursued = {"kind": "deportation", "decision": "not_pursued", **FACTORS}
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(casework, decision(*CASEWORKER, "family life", **not_pursued))
        assert "submission_reasons" in refused(raised)
        await decide(
            casework,
            decision(
                *CASEWORKER,
                "family life",
                **not_pursued,
                submission_reasons="Article 8: long residence and British children",
            ),
        )
        await awaiting(h, casework, "director_approval")
        # The author may not approve it, even as a director.
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                casework,
                decision(
                    "Sam Jones", "director", "approve", kind="director_approval", approve=True
                ),
            )
        await decide(
            casework,
            decision("R. Director", "director", "agree", kind="director_approval", approve=True),
        )
        await awaiting(h, casework, "admin_removal_referral")
        with pytest.raises(WorkflowUpdateFailedError) as raised:
            await decide(
                casework,
                decision(*CASEWORKER, "settled", kind="admin_removal_referral", refer=False),
            )
        assert "lawful_residence_basis" in refused(raised)
        await decide(
            casework,
            decision(
                *CASEWORKER,
                "settled",
                kind="admin_removal_referral",
                refer=False,
                lawful_residence_basis="EU Settlement Scheme: settled status granted",
            ),
        )
        final = await until(casework, lambda s: s.outcome is not None, what="closed")
    assert final.outcome is Outcome.NOT_PURSUED
    p = final.progress
    assert p.submission_document_id and p.references.get("submission")
    [sent] = entries(final, reference=p.references["submission"])
    assert sent.data["document_id"] == p.submission_document_id
    assert entries(final, finding="resides_lawfully")
    # The submission, reasons and all, is a document of the case store.
    doc = h.store.read_document(
        p.submission_document_id, actor="tests", role="caseworker", justification="test"
    )
    assert doc is not None and doc["reasons"].startswith("Article 8")
    assert h.sim.count("advised_deportation_not_pursued") == 1
    assert ICE_OFFICER  # (the ICE officer takes no part in "not pursued")


async def test_a_case_in_the_old_stage1_window_finishes_on_the_new_code_on_its_old_path(
    ts_env, tmp_path
):
    """Served at once and in its response window under the code before issue 21, then
    picked up by today's worker: it replays, keeps the old path (a deportation decision
    without the new fields, no order, no appeal), and ends deported."""
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from activities.gateways import Gateways
    from activities.steps import CaseActivities
    from tests.support import decrypted_history, state_of
    from tests.support_front_door import checking
    from tests.support_old_stage1 import CaseworkBeforeStage1OnInstruction
    from workflows.acro_replies import ReplyDeliveryWorkflow  # issue 22: the world posts
    from workflows.changes import STAGE1_TO_REMOVAL
    from workflows.encounter import EncounterWorkflow

    async with harness(ts_env, tmp_path, run_worker=False) as h:
        with ThreadPoolExecutor(8) as pool:
            async with Worker(
                h.client,
                task_queue=h.task_queue,
                workflows=[
                    EncounterWorkflow,
                    CaseworkBeforeStage1OnInstruction,
                    ReplyDeliveryWorkflow,
                ],
                activities=CaseActivities(Gateways.all_from(h.sim), h.store).all(),
                activity_executor=pool,
                interceptors=[checking()],
                max_cached_workflows=0,  # no sticky queue left behind for the next worker
            ):
                casework = await casework_awaiting(h, "subject_located")
                await decide(casework, decision(*CASEWORKER, "found", kind="subject_located"))
                await through_checklist(h, casework)  # allocated, then the checklist
                await detained_through_gatekeeper(h, casework, why="risk")
                old = await until(
                    casework, lambda s: s.stage is Stage.STAGE1_RESPONSE_WINDOW, what="window"
                )
        async with h.running():
            await awaiting(h, casework, "deportation")
            await decide(
                casework,
                decision(*CASEWORKER, "deport", kind="deportation", decision="deport"),
            )
            await awaiting(h, casework, "deportation_enforced")
            await decide(
                casework,
                decision(
                    *ICE_OFFICER, "gone", kind="deportation_enforced", removed_on="2018-01-01"
                ),
            )
            final = await until(casework, lambda s: s.stage is Stage.CLOSED, skip=h.env)
            history = await casework.fetch_history()
            assert (await state_of(casework)).outcome is Outcome.DEPORTED
    assert old.progress.references.get("Stage 1 notice")  # kept on the old path too
    assert not final.progress.stage1_on_instruction
    assert final.progress.stage1_means is None and final.progress.order_served_at is None
    markers = [
        e.SerializeToString()
        for e in decrypted_history(history).events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert not [m for m in markers if STAGE1_TO_REMOVAL.encode() in m]
    kinds = [d.data["decision"]["kind"] for d in decisions_of(final)]
    assert "serve_stage1" not in kinds and "serve_deportation_order" not in kinds
