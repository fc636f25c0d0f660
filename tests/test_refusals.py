"""A refused decision writes nothing to Temporal: a flood of them leaves the case's
history as it was (it cannot grow the case to Temporal's limit and end it), goes in the
case store's refusal log — bounded per case, counted beyond — and shows on the case's
timeline from there (``access.reading.read_case``, ``GET /cases/{id}``).

On the dev server, the real one: the time-skipping test server writes a workflow task
into the history for every update, even one its validator rejects (the real server
drops those speculative tasks), so it cannot show what a refusal costs a case."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from access.decisions import CASE_CLOSED, REFUSED_BY_CASE, request_for, send_decision
from access.errors import DecisionRefused
from access.reading import read_case, with_refusals
from models.case import TimelineEntry
from sim.world_file import ConvictionSpec, ReplySpec
from store.cases import REFUSALS_KEPT, CaseStore
from tests.support import (
    api_client,
    bearer,
    casework_awaiting,
    harness,
    patient_policy,
    principal,
    state_of,
)
from tests.support_databases import DATABASES, postgres_database
from workflows.tasks import refusal_words

SAM = principal("caseworker", "Sam Jones")
DETAIN = {"kind": "detention", "detain": True}  # not expected while the subject is sought
FLOOD = 1_000
EARLY = request_for(SAM, "try detention early", DETAIN)


# A casework case awaiting ``subject_located``, the subject never found.
ROBBERY_CERTIFIED = ReplySpec(
    after_days=1,
    convictions=[ConvictionSpec(offence="ROBBERY")],
    certificate_purpose="immigration_deportation",
)


async def _awaiting_located(h):
    return await casework_awaiting(
        h, "subject_located", reply=ROBBERY_CERTIFIED, located_after_days=None
    )


async def _history_length(handle) -> int:
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.history_length


async def test_a_thousand_refused_decisions_leave_the_history_unchanged(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        casework = await _awaiting_located(h)
        before_state = (await state_of(casework)).model_dump()
        before_events = await _history_length(casework)
        req = request_for(SAM, "try detention early", DETAIN)
        refused: list[str] = []

        async def one() -> None:
            with pytest.raises(DecisionRefused) as err:
                await send_decision(h.client, casework.id, SAM, req, refusals=h.store)
            refused.append(str(err.value))

        # 25 at a time: a flood, within the machine's means, and more than the 10 updates
        # Temporal lets one case have in flight (refused ones too, until a worker has run
        # the validator): send_decision queues them (CASE_UPDATES_IN_FLIGHT), so none is
        # answered RESOURCE_EXHAUSTED however slow the machine (each is refused, none busy).
        for _ in range(FLOOD // 25):
            await asyncio.gather(*(one() for _ in range(25)))
        after_events = await _history_length(casework)
        after_state = (await state_of(casework)).model_dump()
        log = h.store.refusals(casework.id)
        seen = await read_case(h.client, h.store, casework.id, SAM, "check the refusals")
        # Once the case has ended, a refusal ("closed") is logged the same way.
        await casework.terminate(reason="test: closed")
        with pytest.raises(DecisionRefused):
            await send_decision(h.client, casework.id, SAM, req, refusals=h.store)
        closed_log = h.store.refusals(casework.id)

    assert len(refused) == FLOOD and all(r.startswith("Refused") for r in refused)
    assert after_events == before_events  # nothing written to Temporal
    assert after_state == before_state  # the case's own state: not a single entry more
    assert log.total == FLOOD
    assert len(log.entries) == REFUSALS_KEPT and log.dropped == FLOOD - REFUSALS_KEPT
    newest = log.entries[-1]
    assert (newest.kind, newest.actor, newest.role, newest.subject, newest.code) == (
        "detention",
        "Sam Jones",
        "caseworker",
        SAM.subject,
        REFUSED_BY_CASE,
    )
    # Named in the guidance's words (the decision form's title), not by its code.
    assert newest.reason.startswith("Refused") and refusal_words("detention") in newest.reason
    # The timeline read: the case's own entries, then the refusals from the log.
    refusals = [e for e in seen.timeline if e.kind == "refusal"]
    assert len(refusals) == REFUSALS_KEPT + 1  # the kept ones and the count of the rest
    assert refusals[0].data == {"code": "refusals_not_kept", "count": FLOOD - REFUSALS_KEPT}
    assert {(e.actor, e.role) for e in refusals[1:]} == {("Sam Jones", "caseworker")}
    assert len(seen.timeline) == len(before_state["timeline"]) + REFUSALS_KEPT + 1
    assert [e.kind for e in seen.timeline[: len(before_state["timeline"])]] == [
        e["kind"] for e in before_state["timeline"]
    ]
    assert closed_log.total == FLOOD + 1 and closed_log.entries[-1].code == CASE_CLOSED
    assert len(closed_log.entries) == REFUSALS_KEPT


class _Slow:
    """A case's handle whose updates take a moment, counting how many are in flight."""

    id = "casework-busy"

    def __init__(self) -> None:
        self.in_flight = self.peak = self.sent = 0

    async def execute_update(self, *_: object, **__: object) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        self.sent += 1
        return "decided"


async def test_one_process_has_at_most_its_share_of_a_cases_updates_in_flight():
    from access import decisions

    slow = _Slow()
    answers = await asyncio.gather(
        *(decisions._decide_when_not_deferred(slow, EARLY) for _ in range(30))
    )
    assert answers == ["decided"] * 30 and slow.sent == 30  # every one sent, in turn
    assert slow.peak == decisions.CASE_UPDATES_IN_FLIGHT < 10  # below Temporal's limit
    assert decisions._TURNS[asyncio.get_running_loop()] == {}  # nothing kept per case


async def test_a_decision_waiting_too_long_for_its_turn_is_not_sent_and_says_when(monkeypatch):
    from access import decisions
    from access.errors import CaseBusy

    monkeypatch.setattr(decisions, "CASE_UPDATES_IN_FLIGHT", 1)
    monkeypatch.setattr(decisions, "TURN_WAIT_S", 0.05)
    held = asyncio.Event()

    class Stuck(_Slow):
        async def execute_update(self, *_: object, **__: object) -> str:
            self.sent += 1
            held.set()
            await asyncio.sleep(0.5)
            return "decided"

    stuck = Stuck()
    first = asyncio.create_task(decisions._decide_when_not_deferred(stuck, EARLY))
    await held.wait()
    with pytest.raises(CaseBusy) as busy:
        await decisions._decide_when_not_deferred(stuck, EARLY)
    assert await first == "decided" and stuck.sent == 1  # the second was never sent
    assert busy.value.retry_after == decisions.BUSY_RETRY_AFTER_S
    assert decisions._TURNS[asyncio.get_running_loop()] == {}


async def test_temporals_in_flight_limit_is_back_pressure_a_429_with_retry_after(
    monkeypatch, tmp_path
):
    """Over Temporal's limit of a case's updates in flight after the SDK's own retries
    (other processes deciding on the same case): ``CaseBusy``, nothing sent; the API
    answers 429 with Retry-After, never a 5xx."""
    from temporalio.service import RPCError, RPCStatusCode

    from access import decisions
    from access.errors import CaseBusy
    from api import decisions as api_decisions

    full = RPCError(
        "limit on number of concurrent in-flight updates has been reached (10)",
        RPCStatusCode.RESOURCE_EXHAUSTED,
        b"",
    )

    class Full(_Slow):
        async def execute_update(self, *_: object, **__: object) -> str:
            raise full

    class Client:
        def get_workflow_handle(self, case_id: str) -> Full:
            return Full()

    async def readable(*_: object) -> None:
        return None

    monkeypatch.setattr(decisions, "raise_if_cannot_replay", readable)
    with pytest.raises(CaseBusy) as busy:
        await decisions._send(Client(), "casework-busy", EARLY)  # type: ignore[arg-type]
    assert "casework-busy" in busy.value.detail

    async def over(*_: object, **__: object) -> None:
        raise busy.value

    monkeypatch.setattr(api_decisions, "send_decision", over)
    async with api_client(Client(), _store(tmp_path)) as api:  # type: ignore[arg-type]
        answer = await api.post(
            "/cases/casework-busy/decisions",
            json={"reason": "try detention early", "decision": DETAIN},
            headers=bearer("caseworker", "Sam Jones"),
        )
    assert answer.status_code == 429, answer.text
    assert answer.headers["Retry-After"] == str(decisions.BUSY_RETRY_AFTER_S)
    assert answer.json()["why"] == "case_busy"


def _store(tmp_path) -> CaseStore:
    return CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")


@pytest.fixture(params=DATABASES)
def store(request, tmp_path):
    """A migrated case store on SQLite, and on a database of its own on the PostgreSQL
    ``FNO_TEST_DATABASE_URL`` names (dropped afterwards)."""
    if request.param == "sqlite":
        yield _store(tmp_path)
        return
    with postgres_database() as url:
        made = CaseStore.migrated(url)
        yield made
        made.engine.dispose()


def test_concurrent_refusals_are_all_counted_and_the_log_stays_bounded(store):
    def one(n: int) -> None:
        store.record_refusal(
            "casework-c",
            kind="detention",
            actor="Sam Jones",
            role="caseworker",
            subject="local:sam",
            code=REFUSED_BY_CASE,
            reason=f"Refused: {n}",
            keep=10,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(60)))
    log = store.refusals("casework-c")
    # The tally's row is updated first: one case's refusals are written one at a time.
    assert (log.total, len(log.entries), log.dropped) == (60, 10, 50)
    assert len({e.reason for e in log.entries}) == 10


def test_the_refusal_log_is_bounded_per_case_and_counts_every_refusal(store):
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for n in range(12):
        store.record_refusal(
            "casework-a",
            kind="detention",
            actor="Sam Jones",
            role="caseworker",
            subject="local:sam",
            code=REFUSED_BY_CASE,
            reason=f"Refused: number {n}",
            at=start + timedelta(minutes=n),
            keep=5,
        )
    store.record_refusal(
        "casework-b",
        kind="deportation",
        actor="Ann Lee",
        role="senior_caseworker",
        subject="local:ann",
        code=CASE_CLOSED,
        reason="Refused: the case is closed",
        at=start,
        keep=5,
    )
    a, b, none = store.refusals("casework-a"), store.refusals("casework-b"), store.refusals("x")
    assert (a.total, len(a.entries), a.dropped) == (12, 5, 7)
    assert [e.reason for e in a.entries] == [f"Refused: number {n}" for n in range(7, 12)]
    assert a.first_at == start
    assert (b.total, [e.code for e in b.entries]) == (1, [CASE_CLOSED])
    assert (none.total, none.entries, none.dropped) == (0, [], 0)


def test_refusals_merge_into_the_timeline_by_time(tmp_path):
    store = _store(tmp_path)
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for minutes in (5, 15, 25):
        store.record_refusal(
            "casework-a",
            kind="detention",
            actor="Sam Jones",
            role="caseworker",
            subject="local:sam",
            code=REFUSED_BY_CASE,
            reason="Refused: not expected",
            at=t0 + timedelta(minutes=minutes),
            keep=2,
        )
    own = [
        TimelineEntry(at=t0 + timedelta(minutes=m), kind="step", text=f"step {m}")
        for m in (0, 10, 20, 30)
    ]
    merged = with_refusals(own, store.refusals("casework-a"))
    assert [(e.kind, e.at - t0) for e in merged] == [
        ("step", timedelta(0)),
        ("refusal", timedelta(minutes=5)),  # the one no longer kept, counted
        ("step", timedelta(minutes=10)),
        ("refusal", timedelta(minutes=15)),
        ("step", timedelta(minutes=20)),
        ("refusal", timedelta(minutes=25)),
        ("step", timedelta(minutes=30)),
    ]
    assert merged[1].data == {"code": "refusals_not_kept", "count": 1}
    assert merged[3].text == "detention refused: Refused: not expected"
    assert merged[3].data == {"code": REFUSED_BY_CASE, "decision_kind": "detention"}


async def test_the_api_answers_409_and_shows_the_refusal_on_the_timeline(dev_env, tmp_path):
    policy = patient_policy()
    async with harness(dev_env, tmp_path, policy=policy) as h, api_client(h.client, h.store) as api:
        casework = await _awaiting_located(h)
        before = await _history_length(casework)
        who = bearer("caseworker", "Sam Jones", X_Reason="refusal test")
        body = {"reason": "try detention early", "decision": DETAIN}
        answers = [
            await api.post(f"/cases/{casework.id}/decisions", json=body, headers=who)
            for _ in range(3)
        ]
        read = await api.get(f"/cases/{casework.id}", headers=who)
        after = await _history_length(casework)
    assert [a.status_code for a in answers] == [409, 409, 409], answers[0].text
    assert all(a.json()["detail"].startswith("Refused") for a in answers)
    assert after == before
    assert read.status_code == 200, read.text
    refusals = [e for e in read.json()["timeline"] if e["kind"] == "refusal"]
    assert [(e["actor"], e["role"], e["data"]["code"]) for e in refusals] == [
        ("Sam Jones", "caseworker", REFUSED_BY_CASE)
    ] * 3


async def test_the_web_app_shows_a_refusal_on_the_case_page_from_the_log(dev_env, tmp_path):
    from tests.support_web import browserless, csrf_of, sign_in

    async with harness(dev_env, tmp_path, policy=patient_policy()) as h:
        casework = await _awaiting_located(h)
        before = await _history_length(casework)
        async with browserless(h.client, h.store) as http:
            await sign_in(http, "sam")
            page = await http.get(f"/web/cases/{casework.id}", params={"purpose": "decide"})
            assert page.status_code == 200, (page.status_code, page.text[:600])
            refused = await http.post(
                f"/web/cases/{casework.id}/decisions",
                data={
                    "kind": "detention",
                    "f.detain": "true",
                    "reason": "try detention early",
                    "csrf_token": csrf_of(page.text),
                    "purpose": "decide",
                },
            )
        after = await _history_length(casework)
    assert refused.status_code == 409, refused.text[:300]
    assert 'id="refusal"' in refused.text
    assert refused.text.count('class="entry-refusal"') == 1  # from the store's log
    assert after == before
    assert [e.kind for e in h.store.refusals(casework.id).entries] == ["detention"]


async def test_the_web_app_answers_a_busy_case_with_a_429_and_sends_nothing(
    dev_env, tmp_path, monkeypatch
):
    """The web form's side of the back-pressure: ``CaseBusy`` is a 429 page with
    ``Retry-After``, the decision not sent."""
    from access.errors import CaseBusy
    from tests.support_web import browserless, csrf_of, sign_in
    from web import routes_decisions

    sent: list[str] = []

    async def busy(_client: object, case_id: str, *_: object, **__: object) -> None:
        sent.append(case_id)
        raise CaseBusy(case_id, 7)

    monkeypatch.setattr(routes_decisions, "send_decision", busy)
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        browserless(h.client, h.store) as http,
    ):
        await sign_in(http, "sam")
        data = {
            "kind": "subject_located",
            "f.case_owner": "Sam Jones",
            "f.pending_prosecution": "none",
            "reason": "found him",
            "csrf_token": csrf_of((await http.get("/web/inbox")).text),
            "purpose": "decide",
        }
        answer = await http.post("/web/cases/casework-busy/decisions", data=data)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert sent == ["casework-busy"]  # tried once, refused by back-pressure, not retried
