"""Intake over HTTP, through the real ASGI stack, against the real dev server: each
custody event becomes exactly one case; bad input gets a 4xx with its reasons and
starts nothing."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.intake import Intake
from api.app import create_app
from models.policy import Policy
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from store.cases import CaseStore
from tests.support import (
    api_client,
    api_identity,
    bearer,
    custody_event,
    harness,
    system_key,
)

pytestmark = pytest.mark.devserver
# A custody system's credential (the tests' forces are made up: it may send for any).
KEY = system_key(name="Kent custody system", scopes=["custody-events"], forces=["*"])


def kent_intake(task_queue: str) -> Intake:
    """Intake on the test's task queue; who may send is the credential's business."""
    return Intake(
        task_queue=task_queue, policy=Policy(), subject_key_secret=LOCAL_SUBJECT_KEY_SECRET
    )


def web(h):
    return api_client(h.client, h.store, intake=kent_intake(h.task_queue))


async def cases_of(h, force: str, expect: int | None = None) -> int:
    """Cases on the server for ``force`` (visibility catches up within moments)."""
    for _ in range(40):
        n = (await h.client.count_workflows(f"FnoForce = '{force}'")).count
        if expect is None or n == expect:
            return n
        await asyncio.sleep(0.25)
    return n


def event_body(force: str, **subject) -> dict:
    return json.loads(custody_event(force=force, nationality="DE", **subject).model_dump_json())


async def test_new_resent_conflicting_invalid_and_unauthorised_events(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path) as h, web(h) as client:
        body = event_body(force)
        new = await client.post("/custody-events", json=body, headers=KEY)
        assert new.status_code == 201, new.text
        assert await cases_of(h, force, expect=1) == 1

        resent = await client.post("/custody-events", json=body, headers=KEY)
        assert resent.status_code == 200 and resent.json()["case_id"] == new.json()["case_id"]
        assert await cases_of(h, force) == 1

        changed = body | {"uk_matter": "burglary"}
        conflict = await client.post("/custody-events", json=changed, headers=KEY)
        assert conflict.status_code == 409 and conflict.json()["detail"]
        assert await cases_of(h, force) == 1

        invalid = body | {
            "custody_reference": "X-2",
            "reason": "shopping",
            "encountered_at": "2999-01-01T00:00:00Z",
        }
        invalid["subject"] = body["subject"] | {"nationality": "ZZ"}
        bad = await client.post("/custody-events", json=invalid, headers=KEY)
        assert bad.status_code == 422
        fields = {".".join(map(str, e["loc"][1:])) for e in bad.json()["detail"]}
        assert fields == {"reason", "encountered_at", "subject.nationality"}
        assert await cases_of(h, force) == 1

        not_json = await client.post("/custody-events", content=b"{oops", headers=KEY)
        assert not_json.status_code == 422
        huge = body | {"custody_reference": "X-6", "uk_matter": "x" * 70_000}
        too_large = await client.post("/custody-events", json=huge, headers=KEY)
        assert too_large.status_code == 413 and too_large.json()["detail"]

        nobody = await client.post("/custody-events", json=body | {"custody_reference": "X-3"})
        stranger = await client.post(
            "/custody-events",
            json=body | {"custody_reference": "X-4"},
            headers={"X-API-Key": "guess.guess"},
        )
        assert nobody.status_code == stranger.status_code == 401
        assert await cases_of(h, force) == 1

        # Missing country-required data is not a rejection: the officer is asked.
        pl = json.loads(
            custody_event(
                force=force, nationality="PL", father_name=None, custody_reference="X-5"
            ).model_dump_json()
        )
        asked = await client.post("/custody-events", json=pl, headers=KEY)
        assert asked.status_code == 201

        assert (await client.get("/ready")).json() == {"status": "ready"}
        assert (await client.get("/health")).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert "CustodyEvent" in schema["components"]["schemas"]
        assert await cases_of(h, force, expect=2) == 2
        handle = h.client.get_workflow_handle(new.json()["case_id"])
        memo = await (await handle.describe()).memo()
    assert memo["integrator"] == "Kent custody system"


async def test_a_case_whose_custody_reference_has_a_slash_is_read_and_decided(dev_env, tmp_path):
    """Custody references are kept as sent ("CU/7/2026"): the case's routes still match."""
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path) as h, web(h) as client:
        body = event_body(force) | {"custody_reference": "CU/7/2026"}
        new = await client.post("/custody-events", json=body, headers=KEY)
        assert new.status_code == 201, new.text
        case_id = new.json()["case_id"]
        assert case_id.endswith("CU/7/2026")
        who = bearer("caseworker", "Sam Jones", X_Reason="slash test")
        read = await client.get(f"/cases/{case_id}", headers=who)
        assert read.status_code == 200, read.text
        assert read.json()["case_id"] == case_id
        assert "resume_after_fault" not in read.json()["awaiting"]  # no fault to resume from
        decision = {"reason": "slash test", "decision": {"kind": "resume_after_fault"}}
        refused = await client.post(f"/cases/{case_id}/decisions", json=decision, headers=who)
        assert refused.status_code == 409, refused.text  # reached the case, which refused
        assert refused.json()["detail"]
        # In the case store's refusal log, and so on the timeline the API reads.
        assert [e.actor for e in h.store.refusals(case_id).entries] == ["Sam Jones"]
        again = await client.get(f"/cases/{case_id}", headers=who)
        assert [
            (e["kind"], e["actor"]) for e in again.json()["timeline"] if e["kind"] == "refusal"
        ] == [("refusal", "Sam Jones")]


async def test_the_same_event_sent_concurrently_makes_one_case(dev_env, tmp_path):
    force = f"t{uuid.uuid4().hex[:8]}"
    async with harness(dev_env, tmp_path) as h, web(h) as client:
        body = event_body(force)
        answers = await asyncio.gather(
            *(client.post("/custody-events", json=body, headers=KEY) for _ in range(20))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 19 + [201]
        assert await cases_of(h, force, expect=1) == 1


HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "x" * 5000,
        "Robert'); DROP TABLE access_log;--",
        "<script>alert(1)</script>",
        "\x00",
        "../../etc/passwd",
        "${jndi:ldap://x}",
        "ÅÉ\u202e\u200b",
        "%s%s%n",
    ]
)
MUTATIONS = st.sampled_from(
    [
        "drop_required",
        "wrong_type",
        "hostile_force",
        "hostile_reference",
        "too_long_name",
        "unknown_country",
        "future",
        "extra_field",
        "control_chars",
        "not_an_object",
    ]
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mutation=MUTATIONS,
    hostile=HOSTILE,
    field=st.sampled_from(
        ["force", "custody_reference", "reason", "encountered_at", "subject", "requesting_officer"]
    ),
)
def _collect_bad_events(mutation, hostile, field):
    """Hypothesis draws the bad events; the test below sends them (it needs the loop)."""
    body = event_body("hostile")
    if mutation == "drop_required":
        body.pop(field)
    elif mutation == "wrong_type":
        body[field] = {"nested": [hostile]} if field != "subject" else [hostile]
    elif mutation == "hostile_force":
        body["force"] = f"X {hostile}"
    elif mutation == "hostile_reference":
        body["custody_reference"] = f"/{hostile} "
    elif mutation == "too_long_name":
        body["subject"]["family_name"] = "x" * 121 + hostile
    elif mutation == "unknown_country":
        body["subject"]["nationality"] = "QQ"
    elif mutation == "future":
        body["encountered_at"] = "2999-12-31T23:59:59Z"
    elif mutation == "extra_field":
        body[f"extra_{field}"] = hostile
    elif mutation == "control_chars":
        body["subject"]["given_names"] = f"Jan\x1b[31m{hostile}"
    else:
        body = [body, hostile]
    _STASH.append(body)


_STASH: list = []


async def listed_on(h, query: str, case_id: str) -> list[str]:
    """The workflows ``query`` lists, once visibility lists ``case_id`` among them."""
    for _ in range(120):
        ids = [w.id async for w in h.client.list_workflows(query)]
        if case_id in ids:
            return ids
        await asyncio.sleep(0.25)
    raise AssertionError(f"{case_id} never listed by {query!r}")


async def test_hostile_and_malformed_events_get_a_4xx_and_start_nothing(dev_env, tmp_path):
    _STASH.clear()
    _collect_bad_events()
    assert len(_STASH) >= 20
    # Counted on this test's own task queue, where its intake starts every case
    # (kent_intake), not in the whole namespace: the dev server is the xdist worker's,
    # shared by every test it runs, and the cases of earlier tests start workflows of
    # their own (casework, the world's reply posts) that visibility may list only now,
    # on a busy machine. No worker: a case started here would stay the one workflow.
    async with harness(dev_env, tmp_path, run_worker=False) as h, web(h) as client:
        ours = f"TaskQueue = '{h.task_queue}'"
        before = (await h.client.count_workflows(ours)).count
        for body in _STASH:
            answer = await client.post("/custody-events", json=body, headers=KEY)
            assert 400 <= answer.status_code < 500, (answer.status_code, body)
            assert answer.json()["detail"], body
        # Then one good event: once visibility lists it, it has caught up with anything
        # the bad ones started before it (no fixed sleep for a busy machine to outlast).
        good = await client.post(
            "/custody-events", json=event_body(f"t{uuid.uuid4().hex[:8]}"), headers=KEY
        )
        assert good.status_code == 201, good.text
        listed = await listed_on(h, ours, good.json()["case_id"])
        await h.client.get_workflow_handle(good.json()["case_id"]).terminate(reason="test over")
    assert before == 0
    assert listed == [good.json()["case_id"]]  # the good event's case, and nothing else


async def test_a_request_before_the_api_has_connected_is_told_to_come_back(tmp_path):
    """Before the app's start-up has connected to Temporal, routes that need it answer
    503 (try again), never a 500."""

    async def never() -> object:
        raise AssertionError("the lifespan is not run here")

    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")
    app = create_app(
        never,  # type: ignore[arg-type]
        store,
        identity=api_identity(),
        intake=kent_intake("unused"),
    )
    transport = httpx.ASGITransport(app=app)  # no lifespan: never connected
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        posted = await http.post("/custody-events", json=event_body("kent"), headers=KEY)
        stuck = await http.get("/stuck-cases", headers=bearer("supervisor", "Sue Park"))
    assert (posted.status_code, stuck.status_code) == (503, 503)
