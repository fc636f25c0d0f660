"""A closed Criminal Casework case reopened with its history (issue 21): through the
HTTP API by a senior caseworker, started through the front door; the timeline keeps
the first closure's entries and adds the reopening; the case goes back to allocation.
Refusals: an open case (409), a role that may not reopen (403), an unknown case (404),
"returned to the UK" for a case that was never closed as left (409)."""

from __future__ import annotations

import pytest

from models.case import Outcome, Stage
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    FACTORS,
    NOT_DETAINED,
    api_client,
    bearer,
    casework_awaiting,
    custody_event,
    decide,
    decision,
    harness,
    key_of,
    locate,
    patient_policy,
    state_of,
    through_checklist,
    until,
    until_stage,
)
from tests.support_answers import answer_until
from tests.support_web import browserless, csrf_of, sign_in

SENIOR = bearer("senior_caseworker", "Priya Senior")


async def _left_uk_case(h):
    event = custody_event(nationality="SE")
    reply = ReplySpec(after_days=2, convictions=[ConvictionSpec(offence="ROBBERY")])
    h.world(event, SubjectSpec(replies={"SE": reply}, left_uk=True))
    encounter = await h.start(event)
    assert (await encounter.result()).outcome is Outcome.LEFT_UK
    casework_id = (await state_of(encounter)).casework_id
    return event, h.client.get_workflow_handle(casework_id)


async def test_a_case_closed_as_left_is_reopened_when_the_subject_returns(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event, casework = await _left_uk_case(h)
        closed = await state_of(casework)
        assert closed.stage is Stage.CLOSED and closed.outcome is Outcome.LEFT_UK
        async with api_client(h.client, h.store) as http:
            wrong = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "returned_to_uk", "reason": "Back on a visit visa"},
                headers=bearer("caseworker", "Sam Jones"),
            )
            answer = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "returned_to_uk", "reason": "Seen at Dover by Border Force"},
                headers=SENIOR,
            )
            again = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "wrongly_closed", "reason": "Twice by mistake"},
                headers=SENIOR,
            )
            unknown = await http.post(
                "/cases/casework-0000000000000000/reopen",
                json={"grounds": "wrongly_closed", "reason": "No such case"},
                headers=SENIOR,
            )
        assert wrong.status_code == 403
        assert answer.status_code == 200, answer.text
        assert answer.json()["previous_outcome"] == Outcome.LEFT_UK.name
        assert again.status_code == 409  # open again now
        assert unknown.status_code == 404
        handle = h.client.get_workflow_handle(casework.id)  # the new run
        state = await until_stage(handle, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        assert "allocate_case" in state.awaiting  # back to allocation by a CC manager
        assert state.outcome is None and state.closed_at is None
        # Back to allocation by a CC manager: located again, to be allocated.
        assert state.left_uk is False and state.located and state.case_owner is None
        # The first closure's entries are kept, then the reopening.
        assert state.timeline[: len(closed.timeline)] == closed.timeline
        [reopened] = [e for e in state.timeline if "grounds" in e.data]
        assert reopened.kind == "step" and reopened.actor == "Priya Senior"
        assert reopened.role == "senior_caseworker" and reopened.reason
        assert reopened.data["grounds"] == "returned_to_uk"
        assert reopened.data["previous_outcome"] == Outcome.LEFT_UK.name
        [r] = state.progress.reopenings
        assert r.grounds == "returned_to_uk" and r.previous_outcome == Outcome.LEFT_UK.name
        log = h.store.access_log(casework.id)
        assert [e.actor for e in log if e.action == "alteration" and "reopened" in e.justification]
        assert key_of(event) == state.subject_key


async def test_an_open_case_is_not_reopened_and_returned_needs_a_departure(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        async with api_client(h.client, h.store) as http:
            open_case = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "wrongly_closed", "reason": "It is open"},
                headers=SENIOR,
            )
            director = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "wrongly_closed", "reason": "Not mine"},
                headers=bearer("director", "Dana Director"),
            )
            bad = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "because", "reason": "No such grounds"},
                headers=SENIOR,
            )
        assert open_case.status_code == 409
        assert director.status_code == 403
        assert bad.status_code == 422


def _cw(reason: str, **d: object):
    return decision("Sam Jones", "caseworker", reason, **d)


async def _awaiting(h, handle, kind):
    return await until(handle, lambda s: kind in s.awaiting, what=kind, skip=h.env)


async def test_a_wrongly_closed_case_runs_its_steps_again_with_new_keys(ts_env, tmp_path):
    """Closed as not pursued, reopened as wrongly closed: back to allocation, and the
    located actions run again (new idempotency keys: the systems act again)."""
    async with harness(ts_env, tmp_path) as h:
        casework = await casework_awaiting(h, "subject_located")
        subject = (await state_of(casework)).subject_key
        await locate(
            casework, _cw("Found", kind="subject_located", case_owner="Sam Jones"), skip=h.env
        )
        # The checklist, not detained (its management), the Stage 1 notice: on to the
        # deportation decision.
        # (predicates: answer_until's kind stop is rebound by the kinds it answers)
        await answer_until(h, casework, lambda s: "detention" in s.awaiting)
        await decide(casework, _cw("Settled address", **NOT_DETAINED))
        await answer_until(h, casework, lambda s: "deportation" in s.awaiting)
        await decide(
            casework,
            _cw(
                "Long residence",
                kind="deportation",
                decision="not_pursued",
                submission_reasons="Long residence and family life outweigh the offending",
                **FACTORS,
            ),
        )
        await _awaiting(h, casework, "director_approval")
        await decide(
            casework,
            decision("Dana Director", "director", "Agreed", kind="director_approval", approve=True),
        )
        await _awaiting(h, casework, "admin_removal_referral")
        await decide(
            casework,
            _cw(
                "Lawful",
                kind="admin_removal_referral",
                refer=False,
                lawful_residence_basis="Permanent residence after five years' exercise of rights",
            ),
        )
        await until_stage(casework, Stage.CLOSED, skip=h.env)
        closed = await state_of(casework)
        assert closed.outcome is Outcome.NOT_PURSUED
        assert h.sim.count("investigating_officer_contacted", subject) == 1
        async with api_client(h.client, h.store) as http:
            answer = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "wrongly_closed", "reason": "The submission was wrong"},
                headers=bearer("senior_caseworker", "Priya Senior"),
            )
            returned = await http.post(
                f"/cases/{casework.id}/reopen",
                json={"grounds": "returned_to_uk", "reason": "Open already"},
                headers=bearer("senior_caseworker", "Priya Senior"),
            )
        assert answer.status_code == 200, answer.text
        assert returned.status_code == 409
        handle = h.client.get_workflow_handle(casework.id)
        state = await until_stage(handle, Stage.LOCATED_AWAITING_OWNER, skip=h.env)
        assert state.deportation_decision is None and state.director_approved is None
        assert state.detained is None and state.case_owner is None
        await locate(
            handle, _cw("Found again", kind="subject_located", case_owner="Sam Jones"), skip=h.env
        )
        await through_checklist(h, handle)
        state = await _awaiting(h, handle, "detention")
        # The located actions ran again: a new key, a new contact.
        assert h.sim.count("investigating_officer_contacted", subject) == 2
        assert [r.previous_outcome for r in state.progress.reopenings] == ["NOT_PURSUED"]


@pytest.mark.devserver
async def test_a_senior_caseworker_reopens_from_the_case_page(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        _, casework = await _left_uk_case(h)
        page_of = f"/web/cases/{casework.id}"
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sam")
            caseworkers = await http.get(page_of, params={"purpose": "review"})
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "alex")
            seniors = await http.get(page_of, params={"purpose": "review"})
            sent = await http.post(
                f"{page_of}/reopen",
                data={
                    "grounds": "returned_to_uk",
                    "reason": "Encountered at Heathrow",
                    "csrf_token": csrf_of(seniors.text),
                    "purpose": "review",
                },
            )
            again = await http.post(
                f"{page_of}/reopen",
                data={
                    "grounds": "wrongly_closed",
                    "reason": "Twice",
                    "csrf_token": csrf_of(seniors.text),
                },
            )
        assert 'id="reopen"' not in caseworkers.text and 'id="reopen"' in seniors.text
        assert sent.status_code in (302, 303) and again.status_code == 409
        handle = h.client.get_workflow_handle(casework.id)
        state = await until_stage(handle, Stage.LOCATED_AWAITING_OWNER)
        assert [r.by for r in state.progress.reopenings] == ["Alex Morgan"]
