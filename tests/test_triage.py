"""Triage of a country's reply beyond the offence table (issue 20; DOMAIN.md step 4):
an ACRO officer decides on an offence the table does not know or marks borderline;
a serious reply lacking the nature of its offences gets further details from the
country (the Romanian seed case, seed 001). Real worker, time-skipping server."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.certificates import claim_check
from activities.gateways import ConvictionRecord, CountryReply
from models.case import Outcome, Stage
from models.decisions import ROLES_FOR
from models.reference import (
    OffenceTableError,
    load_offence_table,
    offence,
    offences,
    use_offence_table_from_env,
)
from sim.world_file import ConvictionSpec, ReplySpec, SubjectSpec
from tests.support import (
    api_client,
    bearer,
    custody_event,
    decide,
    decision,
    decisions_of,
    harness,
    key_of,
    state_of,
    until,
    worker_start_refused,
)
from tests.support_web import browserless, csrf_of, sign_in, web_config
from web.auth import Directory, User, UsersFile, hash_password

ACRO = ("Ash Patel", "acro_officer")
ASH_PASSWORD = "ash-password-12"
ROOT = Path(__file__).parent.parent


def triage(reason: str, role: tuple[str, str] = ACRO, **d: object):
    return decision(*role, reason, kind="triage", **d)


async def awaiting_triage(h, handle):
    return await until(handle, lambda s: "triage" in s.awaiting, what="triage", skip=h.env)


async def test_an_unknown_offence_reaches_an_acro_officer_then_is_referred(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        unknown = ConvictionSpec(offence="HOOLIGANISM_AGGRAVATED", sentence="3 years")
        h.world(event, SubjectSpec(replies={"PL": ReplySpec(after_days=1, convictions=[unknown])}))
        handle = await h.start(event)
        state = await awaiting_triage(h, handle)
        assert state.stage is Stage.AWAITING_ACRO_TRIAGE
        assert state.awaiting == ["triage"] and state.awaiting_role == ["acro_officer"]
        assert [d.name for d in state.deadlines] and state.deadlines[0].due_at > state.opened_at
        check = state.checks["PL"]
        assert check.triage == "awaiting" and check.certificate.needs_triage
        # The case holds no conviction detail: the officer reads the stored certificate.
        assert "HOOLIGANISM" not in state.model_dump_json()
        # The officer reads it through the API (a logged consultation); a police
        # officer, who reads the encounter redacted, may not.
        document_id = check.certificate.document_id
        async with api_client(h.client, h.store) as http:
            read = await http.get(
                f"/certificates/{document_id}",
                headers=bearer("acro_officer", "Ash Patel", X_Reason="triage of the reply"),
            )
            police = await http.get(
                f"/certificates/{document_id}",
                headers=bearer("police_officer", force="hampshire", X_Reason="curious"),
            )
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["case_id"] == state.case_id and not body["destroyed"]
        assert [c["offence"] for c in body["content"]["convictions"]] == ["HOOLIGANISM_AGGRAVATED"]
        assert police.status_code == 403
        reads = [
            (e.subject, e.document_id)
            for e in h.store.access_log(state.case_id)
            if e.action == "consultation" and e.role == "acro_officer"
        ]
        assert reads == [("local:ash-patel", document_id)]

        # A caseworker may not triage: refused by role, nothing changes.
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(
                handle, triage("looks serious", role=("Sam Jones", "caseworker"), serious=True)
            )
        # Nor most serious without serious.
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(handle, triage("inconsistent", serious=False, most_serious=True))
        assert (await state_of(handle)).checks["PL"].triage == "awaiting"

        await decide(handle, triage("violent disorder with injury: serious", serious=True))
        state = await until(
            handle, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
    check = state.checks["PL"]
    assert check.triage == "serious" and check.certificate.serious
    [made] = decisions_of(state, "triage")
    assert (made.actor, made.role) == ACRO and made.reason
    assert made.data["decision"] == {"kind": "triage", "serious": True, "most_serious": False}
    assert state.referred_countries == ["PL"]
    assert h.sim.count("conviction_recorded", key_of(event)) == 1
    logged = [e for e in h.store.access_log(state.case_id) if e.action == "decision"]
    assert [(e.actor, e.role) for e in logged] == [ACRO]


async def test_a_borderline_offence_found_not_serious_closes_and_overdue_is_noted(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="DE")
        assault = ConvictionSpec(offence="COMMON_ASSAULT", sentence="fine")
        h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=1, convictions=[assault])}))
        handle = await h.start(event)
        state = await awaiting_triage(h, handle)
        due = state.checks["DE"].triage_due_at
        # Nobody triages within 2 working days: the case notes it, still waits, and its
        # passed deadline lists it as overdue.
        state = await until(
            handle,
            lambda s: any(e.kind == "note" and e.data.get("overdue") for e in s.timeline),
            what="overdue note",
            skip=h.env,
        )
        assert state.stage is Stage.AWAITING_ACRO_TRIAGE and state.awaiting == ["triage"]
        assert [d.due_at for d in state.deadlines] == [due]
        await decide(handle, triage("minor scuffle, no injury", serious=False))
        result = await handle.result()
        state = await state_of(handle)
    assert result.outcome is Outcome.NOT_SERIOUS and state.casework_id is None
    assert state.checks["DE"].triage == "not_serious"
    assert h.sim.count("conviction_recorded", key_of(event)) == 1


async def test_a_known_serious_offence_is_referred_without_triage(ts_env, tmp_path):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="FR")
        convictions = [
            ConvictionSpec(offence="ABH", sentence="18 months"),
            ConvictionSpec(offence="NOT_IN_THE_TABLE", sentence="fine"),
        ]
        h.world(
            event, SubjectSpec(replies={"FR": ReplySpec(after_days=1, convictions=convictions)})
        )
        handle = await h.start(event)
        state = await until(
            handle, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
    assert state.checks["FR"].triage is None and not decisions_of(state, "triage")
    assert state.checks["FR"].further_details is None


async def test_romanian_case_further_details_then_referred(ts_env, tmp_path):
    """Seed 001: convictions for child sexual assault and murder in 1995 by ECRIS the
    next day; ACRO asks Romania for further details (jailed for more than 16 years)."""
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(
            nationality="RO",
            force="derbyshire",
            uk_matter="driving without insurance",
            family_name="Popescu",
            given_names="Ion",
        )
        sentence = "16 years 6 months imprisonment"
        reply = ReplySpec(
            after_days=1,
            further_details_after_days=3,
            convictions=[
                ConvictionSpec(
                    offence="CHILD_SEXUAL_ASSAULT",
                    convicted_on="1995-06-02",
                    sentence_on_request=sentence,
                ),
                ConvictionSpec(
                    offence="MURDER",
                    convicted_on="1995-06-02",
                    sentence_on_request=sentence,
                ),
            ],
        )
        # Recordable on the PNC, so the certificate is disclosable and kept (seed 001's
        # was not: tests/test_workflow_casework.py follows it to its destruction).
        h.world(event, SubjectSpec(replies={"RO": reply}))
        handle = await h.start(event)
        state = await until(
            handle, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
    check = state.checks["RO"]
    assert check.further_details == "received" and check.further_details_ref
    assert not check.certificate.details_missing and check.certificate.serious
    assert h.sim.count("further_details_requested", key_of(event)) == 1
    kinds = [
        (e.kind, e.data.get("further_details"))
        for e in state.timeline
        if e.data.get("country") == "RO" or e.data.get("casework_id")
    ]
    assert ("request", None) in kinds and ("reply", "received") in kinds
    asked = next(e for e in state.timeline if e.kind == "request" and e.data.get("details_ref"))
    got = next(e for e in state.timeline if e.data.get("further_details") == "received")
    referred = next(e for e in state.timeline if e.data.get("casework_id"))
    assert asked.at < got.at <= referred.at
    stored = json.loads(h.store.document(check.certificate.document_id).content)
    assert [c["sentence"] for c in stored["convictions"]] == [sentence, sentence]
    assert stored["further_details"]["details_ref"] == check.further_details_ref
    assert "MURDER" not in state.model_dump_json()


async def test_further_details_that_never_come_are_chased_then_the_referral_goes_on(
    ts_env, tmp_path
):
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        reply = ReplySpec(
            after_days=1,
            further_details_after_days=None,
            convictions=[ConvictionSpec(offence="RAPE", convicted_on="2010-01-01")],
        )
        h.world(event, SubjectSpec(replies={"PL": reply}))
        handle = await h.start(event)
        waiting = await until(
            handle,
            lambda s: s.stage is Stage.AWAITING_FURTHER_DETAILS,
            what="further details wait",
            skip=h.env,
        )
        # A wait on the country: a deadline, nobody's decision.
        assert [d.due_at for d in waiting.deadlines] == [
            waiting.checks["PL"].further_details_due_at
        ]
        assert waiting.awaiting == [] and waiting.awaiting_role == []
        state = await until(
            handle, lambda s: s.casework_id is not None, what="referral", skip=h.env
        )
    check = state.checks["PL"]
    assert check.further_details == "not_received" and check.further_details_chasers == 1
    assert h.sim.count("further_details_chaser_sent", key_of(event)) == 1
    outcomes = [e for e in state.timeline if e.data.get("further_details") == "not_received"]
    assert [e.kind for e in outcomes] == ["outcome"]
    assert check.certificate.details_missing and check.certificate.serious


# --- the table --------------------------------------------------------------------------
def test_the_table_reviewed_for_violence():
    assert offence("ABH").serious and not offence("ABH").borderline
    assert offence("COMMON_ASSAULT").borderline and not offence("COMMON_ASSAULT").serious
    assert all(not (o.serious and o.borderline) for o in offences().values())
    assert ROLES_FOR["triage"] == ("acro_officer",)


def _reply(*codes: str) -> CountryReply:
    return CountryReply(
        request_ref="ACRO-1",
        country="PL",
        purpose="criminal_proceedings",
        replied_at=datetime(2017, 1, 1, tzinfo=UTC),
        convictions=[ConvictionRecord(offence=c, description=c, sentence="1 year") for c in codes],
    )


def test_a_configured_table_replaces_the_bundled_one(tmp_path):
    path = tmp_path / "offences.json"
    path.write_text(
        json.dumps(
            {
                "offences": [
                    {
                        "code": "LOCAL_SERIOUS",
                        "description": "x",
                        "serious": True,
                        "most_serious": False,
                    },
                    {
                        "code": "THEFT",
                        "description": "Theft",
                        "serious": False,
                        "most_serious": False,
                        "borderline": True,
                    },
                ]
            }
        )
    )
    try:
        assert use_offence_table_from_env({"FNO_OFFENCE_TABLE": str(path)}) == path
        assert claim_check("d", _reply("LOCAL_SERIOUS")).serious
        cert = claim_check("d", _reply("THEFT"))
        assert cert.needs_triage and not cert.serious
        assert claim_check("d", _reply("MURDER")).needs_triage  # not in this table
    finally:
        assert use_offence_table_from_env({}) is None
    assert claim_check("d", _reply("MURDER")).serious


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"offences": []}),
        json.dumps({"offences": [{"code": "X", "description": "x", "serious": True}]}),
        json.dumps(
            {
                "offences": [
                    {
                        "code": "X",
                        "description": "x",
                        "serious": True,
                        "most_serious": False,
                        "borderline": True,
                    }
                ]
            }
        ),
        json.dumps(
            {
                "offences": [
                    {"code": "X", "description": "x", "serious": False, "most_serious": False}
                ]
                * 2
            }
        ),
    ],
)
def test_a_bad_table_is_refused_saying_which_file(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(OffenceTableError) as err:
        load_offence_table(path)
    assert str(path) in str(err.value)
    with pytest.raises(OffenceTableError):
        load_offence_table(tmp_path / "missing.json")


def test_the_worker_refuses_to_start_with_a_bad_table(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"offences": [{"code": "X"}]}))
    done = worker_start_refused(tmp_path, FNO_OFFENCE_TABLE=str(path))
    assert done.returncode == 2, done.stderr[-2000:]
    assert str(path) in done.stdout + done.stderr


async def test_an_acro_officer_triages_in_the_web_app(ts_env, tmp_path):
    users = UsersFile(
        purposes={"acro_officer": "ACRO triage of a country's reply"},
        users={
            "ash": User(
                name="Ash Patel", role="acro_officer", password_hash=hash_password(ASH_PASSWORD)
            )
        },
    )
    config = dataclasses.replace(web_config(), directory=Directory.of(users))
    async with harness(ts_env, tmp_path) as h:
        event = custody_event(nationality="PL")
        unknown = ConvictionSpec(offence="NOT_IN_THE_TABLE", sentence="fine")
        h.world(event, SubjectSpec(replies={"PL": ReplySpec(after_days=1, convictions=[unknown])}))
        handle = await h.start(event)
        await awaiting_triage(h, handle)
        async with browserless(h.client, h.store, config=config) as http:
            await sign_in(http, "ash", ASH_PASSWORD)
            page = await http.get(
                f"/web/cases/{event.case_id()}", params={"purpose": "ACRO triage"}
            )
            answer = await http.post(
                f"/web/cases/{event.case_id()}/decisions",
                data={
                    "kind": "triage",
                    "f.serious": "false",
                    "reason": "a fine for a minor matter",
                    "csrf_token": csrf_of(page.text),
                },
            )
        result = await handle.result()
        state = await state_of(handle)
    assert page.status_code == 200 and 'value="triage"' in page.text
    assert answer.status_code < 400, answer.text
    assert result.outcome is Outcome.NOT_SERIOUS
    [made] = decisions_of(state, "triage")
    assert (made.actor, made.role) == ACRO
