"""England and Wales bank holidays, 1990-2100: a committed table (``models.policy``
reads it once, at import).

The table (``models/reference_data/bank_holidays.json``) is what the ``holidays``
package computes for ``country_holidays("GB", subdiv="ENG")``. Every process reads the
table, not the package: ``holidays`` imports some 280 modules (~8 MB in each process,
the worker's and the HTTP API's) and cannot run inside the workflow sandbox (it reads
the locale and the local time zone). ``holidays`` is a test and development dependency
only; tests/test_working_days.py fails when the installed package computes another
table (an upgrade that learns a new holiday, a proclaimed one) until it is regenerated:

    python -m models.bank_holidays        # rewrite the table from the installed package
"""

from __future__ import annotations

import json
import sys
from datetime import date
from importlib import resources
from pathlib import Path

FIRST_YEAR, LAST_YEAR = 1990, 2100
TABLE = "bank_holidays.json"
ABOUT = (
    "England and Wales bank holidays (with substitute days) from the holidays package's "
    'country_holidays("GB", subdiv="ENG"). Generated: python -m models.bank_holidays; '
    "tests/test_working_days.py checks it against the installed package."
)


def computed() -> dict[date, str]:
    """The table as the installed ``holidays`` package computes it (tests, regeneration)."""
    import holidays  # a test and development dependency: never imported at run time

    years = range(FIRST_YEAR, LAST_YEAR + 1)
    return dict(sorted(holidays.country_holidays("GB", subdiv="ENG", years=years).items()))


def render(table: dict[date, str]) -> str:
    """The table file's text: one holiday a line, in date order."""
    data = {
        "_about": ABOUT,
        "first_year": FIRST_YEAR,
        "last_year": LAST_YEAR,
        "holidays": {day.isoformat(): name for day, name in sorted(table.items())},
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def committed() -> dict[date, str]:
    """The committed table (``models/reference_data/bank_holidays.json``)."""
    text = resources.files("models").joinpath("reference_data").joinpath(TABLE).read_text("utf-8")
    data = json.loads(text)
    if (data["first_year"], data["last_year"]) != (FIRST_YEAR, LAST_YEAR):
        raise ValueError(f"{TABLE} covers other years: regenerate it (python -m {__name__})")
    return {date.fromisoformat(day): name for day, name in data["holidays"].items()}


def main(argv: list[str]) -> int:
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(__file__).resolve().parent / "reference_data" / TABLE
    table = computed()
    path.write_text(render(table), encoding="utf-8")
    print(f"{path}: {len(table)} bank holidays, {FIRST_YEAR}-{LAST_YEAR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
