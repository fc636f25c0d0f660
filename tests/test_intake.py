"""The starter: every custody event becomes exactly one case; bad input is refused
with every error listed and starts nothing."""

from __future__ import annotations

import json

import pytest
from temporalio.service import RPCError, RPCStatusCode

from access.intake import parse_events, start_all
from models.policy import Policy
from tests.support import custody_event, harness


def line(event) -> str:
    return event.model_dump_json()


async def end(client, results) -> None:
    """Terminate what a test started with no worker: the time-skipping server does not
    move its clock while a workflow task waits for a worker."""
    for r in results:
        if r.status == "started":
            await client.get_workflow_handle(r.case_id).terminate(reason="test over")


async def test_each_event_starts_one_case_and_a_resent_event_starts_none(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        first, second = custody_event(nationality="DE"), custody_event(nationality="FR")
        text = "\n".join([line(first), line(second)])
        results = await start_all(h.client, text, task_queue=h.task_queue, policy=Policy())
        again = await start_all(h.client, text, task_queue=h.task_queue, policy=Policy())
        handle = h.client.get_workflow_handle(first.case_id())
        await end(h.client, results)
    assert [r.status for r in results] == ["started", "started"]
    assert [r.case_id for r in results] == [first.case_id(), second.case_id()]
    assert [r.status for r in again] == ["already_received", "already_received"]
    assert handle.id == "encounter-hampshire-" + first.custody_reference.upper()


async def test_same_custody_identity_with_other_content_is_a_conflict(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        event = custody_event(nationality="DE")
        changed = event.model_copy(update={"uk_matter": "burglary"})
        await start_all(h.client, line(event), task_queue=h.task_queue, policy=Policy())
        [result] = await start_all(
            h.client, line(changed), task_queue=h.task_queue, policy=Policy()
        )
    assert result.status == "conflict" and result.case_id == event.case_id()


async def test_bad_lines_are_rejected_with_every_error_and_the_rest_go_on(dev_env, tmp_path):
    async with harness(dev_env, tmp_path, run_worker=False) as h:
        good = custody_event(nationality="DE")
        unknown_country = json.loads(line(custody_event(nationality="PL")))
        unknown_country["subject"]["nationality"] = "ZZ"
        unknown_country["subject"]["date_of_birth"] = "2999-01-01"
        text = "\n".join(["{not json", json.dumps(unknown_country), line(good)])
        results = await start_all(h.client, text, task_queue=h.task_queue, policy=Policy())
        await end(h.client, results)
        with pytest.raises(RPCError) as not_started:
            await h.client.get_workflow_handle(
                "encounter-hampshire-" + unknown_country["custody_reference"].upper()
            ).describe()
    assert [r.status for r in results] == ["rejected", "rejected", "started"]
    # Each rejection names its line and, for an invalid event, every field in error.
    assert results[0].detail.startswith("line 1:")
    assert results[1].detail.startswith("line 2:")
    assert "subject.nationality" in results[1].detail
    assert "subject.date_of_birth" in results[1].detail
    assert not_started.value.status == RPCStatusCode.NOT_FOUND


def test_future_times_are_refused_at_intake_only():
    from pydantic import ValidationError

    from models.event import INTAKE, CustodyEvent

    data = json.loads(line(custody_event()))
    data["encountered_at"] = "2999-01-01T00:00:00Z"
    try:
        CustodyEvent.model_validate(data, context=INTAKE)
        raise AssertionError("a custody event in the future was accepted at intake")
    except ValidationError as err:
        assert [(e["loc"], e["type"]) for e in err.errors()] == [
            (("encountered_at",), "value_error")
        ]
    # Inside a running case the same data still decodes (no clock in the model).
    assert CustodyEvent.model_validate(data).encountered_at.year == 2999


def test_an_oversized_line_is_refused_with_the_limit():
    from models.event import MAX_EVENT_BYTES

    [(n, item)] = parse_events('{"a": "' + "x" * MAX_EVENT_BYTES + '"}\n{')[:1]
    # Valid JSON, refused for its size alone.
    assert n == 1 and isinstance(item, ValueError) and not isinstance(item, json.JSONDecodeError)


def test_json_array_and_json_lines_are_both_read():
    assert [n for n, _ in parse_events('[{"a": 1}, {"a": 2}]')] == [1, 2]
    assert [n for n, _ in parse_events('{"a": 1}\n\n{"a": 2}\n')] == [1, 3]


def test_the_subject_key_is_keyed_by_the_deployments_secret():
    import hashlib

    event = custody_event(pnc_id="17/120401P")
    one, two = event.subject.subject_key("secret-1"), event.subject.subject_key("secret-2")
    assert one != two and len(one) == 24
    # Not the plain hash of the PNC ID anyone could compute by trying every PNC ID.
    assert one != hashlib.sha256(b"pnc:17/120401P").hexdigest()[:24]
    assert "120401" not in one
    assert event.subject.subject_key("secret-1") == one  # stable: finds the open case
