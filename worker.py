"""The worker: runs the casework workflows and activities.

    python worker.py        (or: make worker)

A script over ``processes.worker`` (see there); nothing imports it. Connection from
``TEMPORAL_*`` variables / profile, product settings from ``FNO_*``; SIGINT or SIGTERM
stops it gracefully.
"""

from __future__ import annotations

from access.stuck import stuck_cases
from processes.worker import main
from runtime.shutdown import run_and_exit

if __name__ == "__main__":
    run_and_exit(lambda: main(stuck_cases))
