"""The runnable foundation: settings, logging, the embedded server, the run command."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from local.prepare import child_env
from models.policy import Policy
from models.search import SEARCH_ATTRIBUTES, STAGE
from runtime.config import DEFAULT_TASK_QUEUE, Settings, parse_policy, temporal_connect_config
from runtime.embedded import (
    PortInUseError,
    dev_server_command,
    register_search_attributes,
    search_attribute_flags,
    start_dev_server,
    stop_process,
    temporal_cli_path,
    test_server_path,
)
from runtime.logs import configure_logging, resolve_format
from tests.support import json_log_lines
from tests.support_logging_workflow import (
    LoggingWorkflow,
    log_in_activity,
    log_in_sync_activity,
)

# --- configuration ---------------------------------------------------------------


def test_parse_policy_statutory_and_compressed() -> None:
    assert parse_policy("statutory") == Policy()
    assert parse_policy("compressed:5").day_seconds == 5
    assert parse_policy("compressed:0.5").day_seconds == 0.5
    assert parse_policy("compressed").day_seconds == 2
    # Compression changes the length of a day, never the shape of the process.
    assert parse_policy("compressed:5").eu_reply_working_days == Policy().eu_reply_working_days


@pytest.mark.parametrize("text", ["", "fast", "compressed:abc", "compressed:0", "compressed:-3"])
def test_parse_policy_rejects_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="FNO_POLICY"):
        parse_policy(text)


def test_settings_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FNO_LOCAL_MODE": "1"})  # outside it: tests/test_secrets.py
    home = (tmp_path / ".fno").resolve()
    assert settings.home == home
    assert settings.database_url == f"sqlite:///{home / 'casework.db'}"
    assert settings.world_file is None
    assert settings.sim_seed == 2017
    assert settings.task_queue == DEFAULT_TASK_QUEUE
    assert settings.policy == Policy()
    assert settings.log_format == "auto"


def test_settings_from_env(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "FNO_HOME": str(tmp_path / "h"),
            "FNO_DATABASE_URL": "postgresql+psycopg://u@db/x",
            "FNO_WORLD_FILE": "world.json",
            "FNO_SIM_SEED": "7",
            "FNO_TASK_QUEUE": "tq",
            "FNO_POLICY": "compressed:3",
            "FNO_LOG_FORMAT": "json",
            "FNO_SUBJECT_KEY_SECRET": "s" * 32,
        }
    )
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.database_url == "postgresql+psycopg://u@db/x"
    assert settings.world_file == Path("world.json")
    assert settings.sim_seed == 7
    assert settings.task_queue == "tq"
    assert settings.policy.day_seconds == 3
    assert settings.log_format == "json"


def test_settings_reject_bad_values() -> None:
    local = {"FNO_LOCAL_MODE": "1"}
    with pytest.raises(ValueError, match="many"):
        Settings.from_env(local | {"FNO_SIM_SEED": "many"})
    with pytest.raises(ValueError, match="FNO_POLICY"):
        Settings.from_env(local | {"FNO_POLICY": "quick"})


def test_temporal_connection_from_env_and_profile(tmp_path: Path) -> None:
    profile = tmp_path / "temporal.toml"
    profile.write_text(
        '[profile.default]\naddress = "a.example:7233"\nnamespace = "n1"\n'
        '[profile.other]\naddress = "b.example:7233"\nnamespace = "n2"\n'
    )
    base = {"TEMPORAL_CONFIG_FILE": str(profile)}
    assert temporal_connect_config(base)["target_host"] == "a.example:7233"
    assert temporal_connect_config({**base, "TEMPORAL_PROFILE": "other"})["namespace"] == "n2"
    overridden = temporal_connect_config({**base, "TEMPORAL_ADDRESS": "c.example:1"})
    assert overridden["target_host"] == "c.example:1"
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert temporal_connect_config({"TEMPORAL_CONFIG_FILE": str(empty)})["target_host"] == (
        "localhost:7233"
    )


def test_run_command_points_children_at_the_embedded_server(tmp_path: Path) -> None:
    env = child_env(
        tmp_path,
        17999,
        base={
            "TEMPORAL_API_KEY": "secret",
            "TEMPORAL_PROFILE": "cloud",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": "/x",
            "PATH": "/bin",
        },
    )
    assert "TEMPORAL_API_KEY" not in env
    assert "TEMPORAL_PROFILE" not in env
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" not in env
    assert env["TEMPORAL_ADDRESS"] == "localhost:17999"
    assert env["FNO_POLICY"] == "compressed:5"
    assert env["PATH"] == "/bin"
    config = temporal_connect_config(env)
    assert config["target_host"] == "localhost:17999"
    assert "api_key" not in config or not config["api_key"]
    # An explicit policy is kept.
    assert child_env(tmp_path, 1, base={"FNO_POLICY": "statutory"})["FNO_POLICY"] == "statutory"


# --- logging -----------------------------------------------------------------------


def test_log_format_resolution() -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    class Pipe:
        def isatty(self) -> bool:
            return False

    assert resolve_format("json", Tty()) == "json"  # type: ignore[arg-type]
    assert resolve_format("console", Pipe()) == "console"  # type: ignore[arg-type]
    assert resolve_format("auto", Tty()) == "console"  # type: ignore[arg-type]
    assert resolve_format("auto", Pipe()) == "json"  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        resolve_format("xml")


def test_stdlib_and_structlog_lines_share_the_json_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from runtime.logs import get_logger

    configure_logging("json", force=True)
    get_logger("tests.runtime").info("structlog line", case="C-1")
    logging.getLogger("tests.stdlib").warning("stdlib line %s", "formatted")
    lines = json_log_lines(capsys.readouterr().err)
    by_event = {line["event"]: line for line in lines}
    assert by_event["structlog line"]["case"] == "C-1"
    assert by_event["structlog line"]["level"] == "info"
    assert by_event["stdlib line formatted"]["logger"] == "tests.stdlib"
    assert by_event["stdlib line formatted"]["level"] == "warning"
    assert "timestamp" in by_event["stdlib line formatted"]
    # Outside a workflow or activity nothing is invented.
    assert "workflow_id" not in by_event["structlog line"]


async def test_lines_inside_activities_and_workflows_carry_their_identity(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", force=True)
    workflow_id = f"logging-{uuid.uuid4()}"
    task_queue = f"logging-{uuid.uuid4()}"
    async with (
        await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(test_server_path())
        ) as env,
        Worker(
            env.client,
            task_queue=task_queue,
            workflows=[LoggingWorkflow],
            activities=[log_in_activity, log_in_sync_activity],
            activity_executor=ThreadPoolExecutor(2),
        ),
    ):
        result = await env.client.execute_workflow(
            LoggingWorkflow.run, "m-1", id=workflow_id, task_queue=task_queue
        )
    assert result == "m-1"
    lines = json_log_lines(capsys.readouterr().err)
    by_event = {line["event"]: line for line in lines}

    for event, activity_name in [
        ("structlog line in activity", "log_in_activity"),
        ("sdk line in activity", "log_in_activity"),
        ("structlog line in sync activity", "log_in_sync_activity"),
    ]:
        line = by_event[event]
        assert line["workflow_id"] == workflow_id, line
        assert line["workflow_type"] == "LoggingWorkflow", line
        assert line["activity"] == activity_name, line
        assert line["attempt"] == 1, line
        assert "temporal_activity" not in line
    assert by_event["structlog line in activity"]["marker"] == "m-1"

    in_workflow = by_event["sdk line in workflow"]
    assert in_workflow["workflow_id"] == workflow_id
    assert in_workflow["workflow_type"] == "LoggingWorkflow"
    assert in_workflow["logger"] == "temporalio.workflow"


# --- the embedded dev server ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dev_server_command_flags(tmp_path: Path) -> None:
    cmd = dev_server_command(tmp_path, 1234, 5678)
    assert cmd[0] == str(temporal_cli_path())
    assert cmd[1:3] == ["server", "start-dev"]
    joined = " ".join(cmd)
    assert f"--db-filename {tmp_path / 'temporal.db'}" in joined
    assert "--port 1234" in joined and "--ui-port 5678" in joined
    assert "--sqlite-pragma journal_mode=wal" in joined
    assert "--sqlite-pragma synchronous=normal" in joined
    flags = search_attribute_flags()
    assert "FnoStage=Keyword" in flags
    assert "FnoAwaitingRole=KeywordList" in flags
    assert "FnoNextDeadline=Datetime" in flags
    assert len(flags) == 2 * len(SEARCH_ATTRIBUTES)


def test_dev_server_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=str(port)):
            start_dev_server(tmp_path, port, _free_port())
    assert not (tmp_path / "temporal.db").exists()


async def _eventually_listed(client: Client, query: str, expected: str) -> list[str]:
    ids: list[str] = []
    for _ in range(50):
        ids = [wf.id async for wf in client.list_workflows(query)]
        if expected in ids:
            break
        await asyncio.sleep(0.2)
    return ids


@pytest.mark.devserver
async def test_dev_server_registers_attributes_and_keeps_cases_across_restarts(
    tmp_path: Path,
) -> None:
    server_home = tmp_path / "fno"
    port, ui_port = _free_port(), _free_port()
    workflow_id = f"restart-probe-{uuid.uuid4()}"
    stage_query = f"{STAGE.name} = 'probe' AND WorkflowId = '{workflow_id}'"

    server = start_dev_server(server_home, port, ui_port)
    try:
        client = await Client.connect(f"localhost:{port}")
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        for key in SEARCH_ATTRIBUTES:
            assert listed.custom_attributes[key.name] == int(key.indexed_value_type), key.name

        # Registration is idempotent and adds only what is missing.
        assert await register_search_attributes(client, "default") == []
        probe = SearchAttributeKey.for_keyword("FnoRuntimeProbe")
        assert await register_search_attributes(client, "default", [probe]) == [probe.name]
        assert await register_search_attributes(client, "default", [probe]) == []
        with pytest.raises(ValueError, match="FnoStage"):
            await register_search_attributes(
                client, "default", [SearchAttributeKey.for_int("FnoStage")]
            )

        # No worker polls this queue: the workflow stays running, durably stored.
        await client.start_workflow(
            "NoSuchWorkflow",
            id=workflow_id,
            task_queue="nobody-polls-this",
            search_attributes=TypedSearchAttributes([SearchAttributePair(STAGE, "probe")]),
        )
        assert workflow_id in await _eventually_listed(client, stage_query, workflow_id)
    finally:
        stop_process(server, "dev server", timeout=15)

    assert (server_home / "temporal.db").exists()
    # The server's log file: each start is written to it with the command line.
    assert str(temporal_cli_path()) in (server_home / "temporal-server.log").read_text()

    server = start_dev_server(server_home, port, ui_port)
    try:
        client = await Client.connect(f"localhost:{port}")
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert workflow_id in await _eventually_listed(client, stage_query, workflow_id)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert (
            listed.custom_attributes["FnoRuntimeProbe"]
            == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        )
    finally:
        stop_process(server, "dev server", timeout=15)
