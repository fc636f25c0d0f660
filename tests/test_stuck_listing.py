"""The stuck listing's newer rows (``access.stuck``, ``GET /stuck-cases``): a case whose
history grows past the alert (``history_large``), and the cases that ended without an
outcome — terminated (Temporal's own history limit ends a case so), timed out, failed —
each with its reason code; and bounded query parameters (a huge float is a 422).

The cases here are bare workflows of the case kinds on a task queue no worker polls:
what the listing reads of them (status, history length, the last event) is Temporal's,
whatever runs them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from access.stuck import HISTORY_LARGE, EndedProbe, HistoryAlert, stuck_cases
from models import search
from tests.support import api_client, bearer, eventually, harness
from tests.support import principal as principal_of


def _casework_id() -> str:
    return f"casework-t{uuid.uuid4().hex[:16]}"


async def _bare_case(client, case_id: str, **kw):
    """A workflow of the casework kind that nothing runs (its queue has no worker)."""
    return await client.start_workflow(
        "CaseworkWorkflow",
        id=case_id,
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(search.CASE_KIND, "casework")]
        ),
        **kw,
    )


async def _rows(client, case_id: str, **kw):
    return [
        r for r in await stuck_cases(client, now=datetime.now(UTC), **kw) if r.case_id == case_id
    ]


async def test_terminated_and_timed_out_cases_are_listed_with_a_reason_code(dev_env):
    client = dev_env.client
    terminated, timed_out, again = _casework_id(), _casework_id(), _casework_id()
    handle = await _bare_case(client, terminated)
    await handle.terminate(reason="history count exceeds limit")
    await _bare_case(client, timed_out, execution_timeout=timedelta(seconds=1))
    # A case terminated, then started again under its ID: running, not "ended".
    await (await _bare_case(client, again)).terminate(reason="restarted by an operator")
    await _bare_case(client, again, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)

    async def listed():
        rows = {
            r.case_id: r
            for r in await stuck_cases(client, now=datetime.now(UTC))
            if r.case_id in (terminated, timed_out, again)
        }
        return rows if {terminated, timed_out} <= set(rows) else None

    rows = await eventually(listed, what="the ended cases listed")
    old = await _rows(client, terminated, ended=EndedProbe(within=timedelta(seconds=0.001)))
    none = await _rows(client, terminated, ended=None)

    assert rows[terminated].code == "terminated"
    assert rows[terminated].last_error == "history count exceeds limit"
    assert "(terminated)" in rows[terminated].why and rows[terminated].closed_at is not None
    assert rows[timed_out].code == "timed_out" and "timed out" in rows[timed_out].why
    assert again not in rows  # it runs again: nothing ended to say
    assert old == [] and none == []


@workflow.defn(name="CaseworkWorkflow")
class _Failing:
    """A case of the casework kind whose code fails it at once."""

    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("the case broke on purpose", non_retryable=True)


async def test_a_failed_case_is_listed_with_its_failure(dev_env, tmp_path):
    client = dev_env.client
    case_id, queue = _casework_id(), f"failing-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[_Failing], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(
            "CaseworkWorkflow",
            id=case_id,
            task_queue=queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(search.CASE_KIND, "casework")]
            ),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()

    async def listed():
        rows = await _rows(client, case_id)
        return rows or None

    [row] = await eventually(listed, what="the failed case listed")
    [decoded] = await _rows(client, case_id, principal=principal_of("caseworker"))
    assert row.code == "failed" and "(failed)" in row.why
    assert decoded.last_error == "the case broke on purpose"  # a person's listing: decrypted
    assert row.last_error != "the case broke on purpose"  # the worker's scan: as stored


async def test_a_history_past_the_alert_is_listed_as_history_large(dev_env):
    client = dev_env.client
    case_id = _casework_id()
    handle = await _bare_case(client, case_id)
    for n in range(6):
        await handle.signal("nudge", n)
    small = await _rows(client, case_id, history=HistoryAlert(events=5))
    by_size = await _rows(client, case_id, history=HistoryAlert(events=10_000, bytes=100))
    large_enough = await _rows(client, case_id, history=HistoryAlert(events=10_000))
    await handle.terminate(reason="test over")

    assert [(r.code, r.stage) for r in small] == [(HISTORY_LARGE, None)]
    assert "history has 8 events" in small[0].why and "(history_large)" in small[0].why
    assert [r.code for r in by_size] == [HISTORY_LARGE]
    assert large_enough == []  # under the default-sized alert: nothing to say


def test_the_history_alert_reads_its_settings_and_ignores_nonsense():
    assert HistoryAlert.from_env({}) == HistoryAlert(events=5_000, bytes=10 * 1024 * 1024)
    assert HistoryAlert.from_env({"FNO_HISTORY_ALERT_EVENTS": "12_000"}).events == 12_000
    assert HistoryAlert.from_env({"FNO_HISTORY_ALERT_EVENTS": "-3"}).events == 5_000
    assert HistoryAlert.from_env({"FNO_HISTORY_ALERT_BYTES": "lots"}).bytes == 10 * 1024**2


async def test_the_api_lists_them_with_codes_and_bounds_its_parameters(
    dev_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("FNO_HISTORY_ALERT_EVENTS", "4")
    client = dev_env.client
    long_case, ended_case = _casework_id(), _casework_id()
    long_handle = await _bare_case(client, long_case)
    for n in range(4):
        await long_handle.signal("nudge", n)
    await (await _bare_case(client, ended_case)).terminate(reason="by hand")
    who = bearer("caseworker", "Sam Jones")
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        api_client(h.client, h.store) as api,
    ):

        async def listed():
            answer = await api.get("/stuck-cases", params={"probe_closed": 0}, headers=who)
            assert answer.status_code == 200, answer.text
            rows = {r["case_id"]: r for r in answer.json()}
            return rows if {long_case, ended_case} <= set(rows) else None

        rows = await eventually(listed, what="both cases listed")
        bad = {
            params: (await api.get("/stuck-cases", params=params, headers=who))
            for params in (
                (("failing_minutes", "1e308"),),
                (("overdue_minutes", "inf"),),
                (("failing_minutes", "nan"),),
                (("closed_within_hours", "1e308"),),
                (("ended_within_hours", "-1"),),
                (("probe_closed", "9" * 40),),
            )
        }
        without_ended = await api.get(
            "/stuck-cases", params={"probe_closed": 0, "ended_within_hours": 0}, headers=who
        )
    await long_handle.terminate(reason="test over")

    assert rows[long_case]["code"] == HISTORY_LARGE
    assert rows[ended_case]["code"] == "terminated"
    assert rows[ended_case]["last_error"] == "by hand"
    for params, answer in bad.items():
        assert answer.status_code == 422, (params, answer.status_code, answer.text[:200])
    assert without_ended.status_code == 200
    assert ended_case not in {r["case_id"] for r in without_ended.json()}


@pytest.mark.parametrize("minutes", ["1e308", "1e30", "inf"])
async def test_a_huge_window_is_a_422_not_a_500(dev_env, tmp_path, minutes):
    who = bearer("caseworker", "Sam Jones")
    async with (
        harness(dev_env, tmp_path, run_worker=False) as h,
        api_client(h.client, h.store) as api,
    ):
        answer = await api.get(
            "/stuck-cases", params={"overdue_minutes": minutes, "probe_closed": 0}, headers=who
        )
    assert answer.status_code == 422
