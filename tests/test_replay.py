"""Every recorded history replays against today's workflow code.

A change to a workflow that would break cases already running fails here. To
record histories after a deliberate change (behind ``workflow.patched``), run
``FNO_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_workflow_*.py`` and
commit the new files in ``tests/histories/`` beside the old ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support import CONVERTER
from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_of_every_branch_are_recorded():
    names = {p.name.split("-")[0] for p in HISTORIES}
    kinds = {p.stem.rsplit("-", 1)[-1] for p in HISTORIES}
    assert kinds == {"encounter", "casework"}
    assert len(names) >= 15, names


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(p.stem, p.read_text()) for p in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_recorded_history_replays(history: WorkflowHistory):
    # The product's converter, with encryption: these histories were recorded before
    # it (or decrypted when recorded) and their plain payloads pass through.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
