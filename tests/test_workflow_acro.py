"""The ACRO side (DOMAIN.md steps 1-4) on the time-skipping server with the
statutory policy: real deadlines in working days, skipped, never slept through."""

from __future__ import annotations

import json
from datetime import timedelta

from models.case import Outcome, Stage
from models.policy import add_working_days
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    custody_event,
    days_between,
    decide,
    decision,
    harness,
    key_of,
    state_of,
    until,
)


async def test_no_trace_closes_the_case(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0.01)}))
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NO_TRACE
    assert state.stage is Stage.CLOSED
    check = state.checks["DE"]
    assert check.status == "replied" and check.certificate.convictions == []
    [reply] = [e for e in state.timeline if e.kind == "reply"]
    assert reply.data == {"country": "DE", "document_id": check.certificate.document_id}
    assert h.sim.count("check_requested:criminal_proceedings") == 1
    assert h.sim.count("conviction_recorded") == 0


async def test_convictions_not_serious_are_recorded_on_pnc(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="FR")
        convictions = [ConvictionSpec(offence="THEFT"), ConvictionSpec(offence="NO_INSURANCE")]
        h.world(
            event, SubjectSpec(replies={"FR": ReplySpec(after_days=4, convictions=convictions)})
        )
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NOT_SERIOUS
    assert h.sim.count("conviction_recorded", key_of(event)) == 2
    assert state.casework_id is None
    certificate = state.checks["FR"].certificate
    # The case holds the claim check; the offences are in the stored certificate.
    assert certificate.convictions == [] and certificate.conviction_count == 2
    stored = h.store.document(certificate.document_id)
    assert [c["offence"] for c in json.loads(stored.content)["convictions"]] == [
        "THEFT",
        "NO_INSURANCE",
    ]
    assert state.convictions_found and not certificate.serious


async def test_eu_silence_is_chased_then_closed_as_no_response(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="NL")
        h.world(event, SubjectSpec(replies={"NL": ReplySpec(after_days=None)}))
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NO_RESPONSE
    assert h.sim.count("chaser_sent", key_of(event)) == 2
    chasers = [e for e in state.timeline if e.kind == "chaser"]
    assert [e.data["country"] for e in chasers] == ["NL", "NL"]
    assert state.checks["NL"].chasers_sent == 2 and state.checks["NL"].status == "no_response"
    # The first chaser goes when the 20-working-day deadline passes, not before.
    opened = state.opened_at
    first_chaser = chasers[0]
    due = add_working_days(opened.date(), 20)
    assert first_chaser.at.date() == due
    # The late-reply window was kept open for a year before the final close.
    assert (state.closed_at - opened) > timedelta(days=365)


async def test_a_late_reply_is_still_acted_on(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="BE")
        late = ReplySpec(after_days=120, convictions=[ConvictionSpec(offence="FRAUD")])
        h.world(event, SubjectSpec(replies={"BE": late}))
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NOT_SERIOUS
    # Two chasers, the close as no response, then the reply (late), then the outcome.
    kinds = [e.kind for e in state.timeline if e.kind in ("chaser", "outcome", "reply")]
    assert kinds == ["chaser", "chaser", "outcome", "reply", "outcome"]
    reply = next(e for e in state.timeline if e.kind == "reply")
    assert reply.data["country"] == "BE" and days_between(state.opened_at, reply.at) >= 120
    check = state.checks["BE"]
    assert check.chasers_sent == 2 and check.status == "replied"
    assert check.certificate.conviction_count == 1 and check.certificate.convictions == []
    assert h.sim.count("conviction_recorded", key_of(event)) == 1


async def test_non_eu_chasers_follow_the_non_eu_schedule(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="NG", father_name=None, mother_name=None)
        h.world(event, SubjectSpec(replies={"NG": ReplySpec(after_days=None)}))
        handle = await h.start(event)
        await handle.result()
        state = await state_of(handle)
    chasers = [e for e in state.timeline if e.kind == "chaser"]
    assert [round((c.at - state.opened_at) / timedelta(days=1)) for c in chasers] == [90, 120]
    assert state.outcome is Outcome.NO_RESPONSE


async def test_missing_identity_data_is_asked_of_the_officer(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        # Poland needs both parents' names; the custody record has neither.
        event = custody_event(nationality="PL", father_name=None, mother_name=None)
        h.world(event, SubjectSpec(replies={"PL": ReplySpec(after_days=1)}))
        handle = await h.start(event)
        state = await until(handle, lambda s: s.identity_data_requested, what="request")
        assert state.stage is Stage.AWAITING_IDENTITY_DATA
        assert state.checks["PL"].missing_fields == ["father_name", "mother_name"]
        assert h.sim.count("identity_data_requested") == 1
        # Only part of it: the check still waits for the rest.
        await decide(
            handle,
            decision(
                "PC Test",
                "police_officer",
                "from custody record",
                kind="identity_data_supplied",
                father_name="Jan",
            ),
        )
        state = await state_of(handle)
        assert state.stage is Stage.AWAITING_IDENTITY_DATA
        assert state.checks["PL"].missing_fields == ["mother_name"]
        await decide(
            handle,
            decision(
                "PC Test",
                "police_officer",
                "asked the subject",
                kind="identity_data_supplied",
                mother_name="Ewa",
            ),
        )
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NO_TRACE
    supplied = [e for e in state.timeline if e.kind == "decision"]
    assert [(e.actor, e.role, e.reason) for e in supplied] == [
        ("PC Test", "police_officer", "from custody record"),
        ("PC Test", "police_officer", "asked the subject"),
    ]
    assert state.event.subject.mother_name == "Ewa"


async def test_no_answer_from_the_officer_closes_as_insufficient_data(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="RO", father_name=None)
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.INSUFFICIENT_DATA
    assert h.sim.count("check_requested:criminal_proceedings", key_of(event)) == 0
    assert state.checks["RO"].status == "insufficient_data"
    # The check's close (the first outcome; the case's own close follows).
    closed = next(e for e in state.timeline if e.kind == "outcome")
    assert closed.at.date() == add_working_days(state.opened_at.date(), 10)


async def test_each_country_of_residence_is_checked(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="LT", other_countries=["IE"])
        h.world(
            event,
            SubjectSpec(
                replies={
                    "LT": ReplySpec(after_days=2),
                    "IE": ReplySpec(after_days=3, convictions=[ConvictionSpec(offence="BURGLARY")]),
                }
            ),
        )
        handle = await h.start(event)
        result = await handle.result()
    assert result.outcome is Outcome.NOT_SERIOUS
    assert h.sim.count("check_requested:criminal_proceedings", key_of(event)) == 2


async def test_a_long_wait_continues_as_new_and_keeps_its_place(ts_env, tmp_path):
    """A wait over months: the history is renewed, the deadlines and chasers kept. The
    replies are pushed (issue 22): a few events per deadline, so three countries' waits
    (two never answer) to outgrow the smallest limit a policy allows."""
    from models.policy import Policy

    policy = Policy(continue_as_new_after_events=50)
    async with harness(ts_env, tmp_path, policy=policy) as h:
        event = custody_event(
            nationality="PK", place_of_birth="Lahore", other_countries=["US", "CA"]
        )
        reply = ReplySpec(after_days=100, convictions=[ConvictionSpec(offence="FORGERY")])
        silent = ReplySpec(after_days=None)
        h.world(event, SubjectSpec(replies={"PK": reply, "US": silent, "CA": silent}))
        handle = await h.start(event)
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NOT_SERIOUS
    assert state.continued_as_new >= 1
    assert h.sim.count("check_requested:criminal_proceedings", key_of(event)) == 3
    assert state.checks["PK"].chasers_sent == 1  # at 90 days
    assert [state.checks[c].chasers_sent for c in ("US", "CA")] == [2, 2]
    assert h.sim.count("chaser_sent", key_of(event)) == 5
    assert sum(1 for e in state.timeline if e.kind == "chaser") == 5
