"""Operators' tasks ``fno`` does straight to Temporal, not through the API: only
``fno notifications reconcile`` (trigger the reconciliation's Schedule). They need the
worker's connection settings and payload keys (``TEMPORAL_*``, ``FNO_*``); the rest of
``fno`` speaks HTTP and imports this module only when such a task runs."""

from __future__ import annotations

import asyncio
from typing import NoReturn

from cli.render import AUTH_EXIT, REFUSED_EXIT, err, out
from models.reconciliation import RECONCILIATION_SCHEDULE_ID
from runtime.codec import CodecConfigError
from runtime.config import connect
from runtime.shutdown import exit_now


def trigger_reconciliation() -> NoReturn:
    """Trigger the reconciliation's Schedule now; leave the process at once after (a
    process that used a Temporal client can crash in interpreter teardown:
    ``runtime.shutdown``)."""

    async def go() -> None:
        await (await connect()).get_schedule_handle(RECONCILIATION_SCHEDULE_ID).trigger()

    try:
        asyncio.run(go())
    except CodecConfigError as e:  # no (or bad) payload encryption keys
        err.print(f"Refused to start: {e}", style="red", markup=False)
        exit_now(AUTH_EXIT)
    except Exception as e:
        err.print(f"Could not trigger the reconciliation: {e}", style="red", markup=False)
        exit_now(REFUSED_EXIT)
    out.print("Reconciliation triggered: see `fno notifications alerts` in a moment.")
    exit_now(0)
