"""Start encounter cases from custody events: the integrators' entry point.

    python starter.py FILE|-     # one JSON object, a JSON array, or JSON Lines

Each event becomes exactly one case, whose ID is derived from the force and the
custody reference. Re-sending an event starts nothing new: the line says
"already received" (same content) or "conflict" (same custody identity, different
content). A bad line is reported with every field error and the rest go on; the
exit status is non-zero if any event was rejected.
"""

# A thin script over ``access.intake`` (the rules, shared with the HTTP API and ``fno``)
# and ``access.intake_files``; nothing imports it. The docstring above is its usage.
# It is a front door: it holds the front-door key (``runtime.front_door``) and starts
# each case as itself, so the worker trusts the start.

from __future__ import annotations

import sys

from access.intake_files import intake_file
from runtime.front_door import acting_as, require_front_door_keys
from runtime.shutdown import run_and_exit

STARTER = ("process:starter", "custody events file (starter.py)", "system")


async def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    require_front_door_keys()  # none: refuse at once, saying what to set
    with acting_as(*STARTER):
        return await intake_file(argv[0])


if __name__ == "__main__":
    run_and_exit(lambda: main(sys.argv[1:]))
