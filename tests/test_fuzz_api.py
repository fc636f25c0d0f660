"""A property-based fuzzer over the API's own ``/openapi.json`` (schemathesis): every
operation, with valid and invalid parameters, headers and bodies, sent by each kind of
caller (people in several roles, a custody system and the PNC feed, nobody) to the HTTP
process as it serves (``server.app.create_app``, on a live uvicorn, Temporal the dev
server): no answer is a 5xx.

Bounded and repeatable: ``EXAMPLES`` examples per operation, derandomised (the same
examples on every run), no shrinking; well under two minutes on a busy 2-core machine.
The custody system may send only for a force no generated event names, so nothing the
fuzzer sends starts a case on the shared dev server.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from access.intake import Intake
from models.policy import Policy
from server.app import create_app
from store.cases import CaseStore
from tests.support import api_identity, bearer, system_key
from tests.support_web import live_server

pytestmark = pytest.mark.devserver

EXAMPLES = 25  # per operation and generation mode (valid, invalid)
BUDGET_S = 110  # the whole run, on a busy machine


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_: Any, value: Any) -> bytes:
    """A daily file's body (the schema says: a string); anything else as a JSON line."""
    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def callers() -> dict[str, dict[str, str]]:
    feed_and_custody = system_key(
        scopes=("custody-events", "daily-files"), forces=(f"fuzz{uuid.uuid4().hex[:6]}",)
    )
    return {
        "caseworker": bearer("caseworker", X_Reason="fuzzing the API"),
        "senior caseworker": bearer("senior_caseworker", "Alex Morgan"),
        "supervisor": bearer("supervisor", "Sue Park", X_Reason="fuzzing the API"),
        "director": bearer("director", "Dana Reid"),
        "police officer": bearer("police_officer", "Pat Quinn", force="hampshire"),
        "systems": feed_and_custody,
        "nobody": {},
    }


async def test_the_api_fuzzed_from_its_openapi_document_answers_no_5xx(dev_env, tmp_path):
    store = CaseStore.migrated(f"sqlite:///{tmp_path / 'casework.db'}")

    async def connect() -> Any:
        return dev_env.client

    app = create_app(
        connect,
        store,
        identity=api_identity(),
        intake=Intake(
            task_queue=f"tq-fuzz-{uuid.uuid4()}", policy=Policy(), subject_key_secret="f" * 40
        ),
        docs=True,
    )
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the API is in the document
    who = callers()
    found: list[str] = []
    sent: list[tuple[str, int]] = []

    def fuzz(url: str) -> None:
        session = requests.Session()
        for op in operations:
            fuzz_one(op, url, session)

    def fuzz_one(op: Any, url: str, session: requests.Session) -> None:
        strategy = st.one_of(
            op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=EXAMPLES * 2,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, caller=st.sampled_from(sorted(who)))
        def one(case: Any, caller: str) -> None:
            headers = {k: v for k, v in (case.headers or {}).items()}
            if caller != "nobody" or "Authorization" not in headers:
                headers.update(who[caller])
            case.headers = headers
            try:
                answer = case.call(base_url=url, session=session, timeout=30)
            except requests.RequestException as err:  # a reset is a fault too
                found.append(f"{op.label} as {caller}: {type(err).__name__}")
                return
            sent.append((op.label, answer.status_code))
            if answer.status_code >= 500:
                found.append(
                    f"{op.label} as {caller}: {answer.status_code} {answer.text[:300]}\n"
                    f"  {case.method} {case.formatted_path} query={case.query} "
                    f"body={str(case.body)[:300]}"
                )

        one()

    started = time.monotonic()
    async with live_server(app) as url:
        await asyncio.to_thread(fuzz, url)
    took = time.monotonic() - started
    assert not found, "\n".join(found[:20])
    assert len(sent) >= len(operations) * EXAMPLES  # the examples were all sent
    assert {label for label, _ in sent} == {op.label for op in operations}
    assert took < BUDGET_S, took
