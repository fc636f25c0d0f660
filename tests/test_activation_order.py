"""``workflows.activation_order`` changes nothing the SDK wrote.

The histories in ``tests/histories/activation_order/`` were recorded on the dev server
by temporalio 1.35.0 *without* the workaround, with the toy workflow of
``tests/support_toy_workflow.py``, in each way an update can share a workflow task
with other events: a timer fired while the worker was stopped (``timer``) or killed
with SIGKILL so that its sticky task timed out (``timer-kill``); an update the
validator refuses until the timer has fired (``timer_validator``); a signal that wakes
the workflow (``signal_wakes``), signals before and after the update
(``signal_update``, ``update_signal``); a timer that ends the workflow (``complete``).
In all of them the SDK took the update first; with the workaround installed they
must still replay — only an update the case would have refused before the events is
judged after them, and no such update can be in a history the SDK wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support_toy_workflow import Toy
from workflows import activation_order

HISTORIES = sorted((Path(__file__).parent / "histories" / "activation_order").glob("*.json"))


def test_every_shape_is_recorded():
    assert {p.stem for p in HISTORIES} == {
        "timer",
        "timer-kill",
        "timer_validator",
        "signal_wakes",
        "signal_update",
        "update_signal",
        "complete",
    }


@pytest.mark.parametrize(
    "history",
    [WorkflowHistory.from_json(p.stem, json.loads(p.read_text())) for p in HISTORIES],
    ids=[p.stem for p in HISTORIES],
)
async def test_histories_the_sdk_wrote_update_first_still_replay(history: WorkflowHistory):
    activation_order.install()
    assert activation_order.installed()
    result = await Replayer(workflows=[Toy]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
