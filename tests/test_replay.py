"""Every recorded history replays against today's workflow code.

A change to a workflow that would break cases already running fails here, replayed
as the worker runs them: with the front door's checks. To
record histories after a deliberate change (behind ``workflow.patched``), run
``FNO_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/test_workflow_*.py`` and
commit the new files in ``tests/histories/`` beside the old ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from tests.support import CODEC_KEYS
from tests.support_front_door import replayer

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
    # The product's converter and the worker's front door; these histories were recorded
    # before encryption (or decrypted when recorded), so they replay with the switch
    # FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1, and before the front door, so their cases
    # carry on as started (``processes.front_door``).
    result = await replayer(CODEC_KEYS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
