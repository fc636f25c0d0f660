"""Intake from a file of custody events (``starter.py FILE|-`` and ``fno intake FILE|-``):
one JSON object, a JSON array, or JSON Lines; one result line per event on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from access.intake import exit_status, start_all
from runtime.config import Settings, connect
from runtime.logs import configure_logging


async def intake_file(path: str) -> int:
    """Start a case for each event in ``path`` (``-``: stdin), with the worker's settings
    (``TEMPORAL_*``, ``FNO_*``); print each result as a JSON line. The exit status is 1
    if any event was rejected or conflicting, else 0."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    # Read whole before connecting: a batch file is small, and a bad path fails fast.
    text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")  # noqa: ASYNC240
    client = await connect()
    results = await start_all(
        client,
        text,
        task_queue=settings.task_queue,
        policy=settings.policy,
        subject_key_secret=settings.subject_key_secret,
    )
    for r in results:
        print(r.line())
    return exit_status(results)
