"""Traces (issue 23, ``runtime.tracing``): one trace from ``POST /custody-events``
through the case's start, its workflow and its activities, collected by an in-memory
span exporter; and no span attribute holding the subject's data or the path as
requested."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from access.intake import Intake
from models.case import Outcome
from models.policy import Policy
from processes.worker import sandbox_runner
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.tracing import configure_tracing, temporal_interceptors
from sim.world_file import ReplySpec, SubjectSpec
from tests.support import CONVERTER, api_client, custody_event, harness, system_key
from tests.support_front_door import signing
from workflows import WORKFLOWS
from workflows.encounter import EncounterWorkflow

pytestmark = [pytest.mark.devserver]

KEY = system_key(name="Kent custody system", scopes=["custody-events"], forces=["*"])


async def test_one_trace_from_the_custody_event_through_the_cases_activities(dev_env, tmp_path):
    spans = InMemorySpanExporter()
    provider = configure_tracing("fno-test", {}, exporter=spans)
    try:
        client = Client(
            dev_env.client.service_client,
            namespace=dev_env.client.namespace,
            data_converter=CONVERTER,
            interceptors=[*temporal_interceptors(), signing()],
        )
        async with harness(dev_env, tmp_path, run_worker=False) as h:
            event = custody_event(nationality="DE")
            h.world(event, SubjectSpec(replies={"DE": ReplySpec(after_days=0)}))
            intake = Intake(
                task_queue=h.task_queue,
                policy=Policy(),
                subject_key_secret=LOCAL_SUBJECT_KEY_SECRET,
            )
            async with (
                h.running(client=client, workflow_runner=sandbox_runner(WORKFLOWS)),
                api_client(client, h.store, intake=intake, tracer_provider=provider) as http,
            ):
                body = json.loads(event.model_dump_json())
                started = await http.post("/custody-events", json=body, headers=KEY)
                assert started.status_code == 201, started.text
                h.started.append(started.json()["case_id"])
                case_id = started.json()["case_id"]
                handle = client.get_workflow_handle_for(EncounterWorkflow.run, case_id)
                result = await handle.result()
    finally:
        configure_tracing("fno-test", {})  # tracing off again for the tests after
    assert result.outcome is Outcome.NO_TRACE

    finished = spans.get_finished_spans()
    [intake_span] = [s for s in finished if s.name == "POST /custody-events"]
    trace = [s for s in finished if s.context.trace_id == intake_span.context.trace_id]
    names = {s.name for s in trace}
    assert "StartWorkflow:EncounterWorkflow" in names
    assert "RunWorkflow:EncounterWorkflow" in names
    activities = {n for n in names if n.startswith("RunActivity:")}
    assert {"RunActivity:register_encounter", "RunActivity:request_acro_check"} <= activities
    # Nothing of the subject, nor the path as requested, in any span's attributes.
    s = event.subject
    personal = {s.family_name, s.given_names, str(s.date_of_birth), s.pnc_id}
    values = {str(v) for span in finished for v in (span.attributes or {}).values()}
    assert not {v for v in values if any(p in v for p in personal)}
