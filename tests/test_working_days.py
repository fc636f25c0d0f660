"""Working days in England and Wales (``models.policy``) from the committed table of bank
holidays (``models.bank_holidays``): the table is what the installed ``holidays``
package computes, and the processes never import that package."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from models.bank_holidays import FIRST_YEAR, LAST_YEAR, TABLE, committed, computed, render
from models.policy import Policy, add_working_days, is_working_day

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_table_is_what_the_holidays_package_computes():
    # Fails after an upgrade of ``holidays`` that learns a holiday (a proclaimed one, a
    # moved one) until the table is regenerated: python -m models.bank_holidays
    assert committed() == computed(), "regenerate: python -m models.bank_holidays"
    text = (ROOT / "models" / "reference_data" / TABLE).read_text("utf-8")
    assert text == render(committed()), "regenerate: python -m models.bank_holidays"
    assert min(committed()).year == FIRST_YEAR and max(committed()).year == LAST_YEAR


def test_the_table_holds_the_one_off_and_substitute_days():
    table = committed()
    assert table[date(2022, 6, 3)] == "Platinum Jubilee of Elizabeth II"
    assert table[date(2022, 9, 19)] == "State Funeral of Queen Elizabeth II"
    assert table[date(2023, 5, 8)] == "Coronation of Charles III"
    assert table[date(2021, 12, 27)] == "Christmas Day (observed)"  # the 25th a Saturday
    assert date(2022, 5, 30) not in table  # Spring bank holiday moved to 2 June that year
    assert table[date(2022, 6, 2)] == "Spring Bank Holiday"


def test_working_days_skip_weekends_and_bank_holidays():
    assert not is_working_day(date(2025, 12, 25)) and not is_working_day(date(2025, 12, 27))
    assert is_working_day(date(2025, 12, 24))
    assert add_working_days(date(2025, 12, 24), 1) == date(2025, 12, 29)
    assert add_working_days(date(2025, 12, 24), 3) == date(2025, 12, 31)
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)  # Easter
    start = datetime(2025, 12, 24, 9, 30, tzinfo=UTC)
    assert Policy().working_days_after(start, 1) == datetime(2025, 12, 29, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="2101"):
        is_working_day(date(2101, 1, 3))
    with pytest.raises(ValueError, match="1989"):
        is_working_day(date(1989, 12, 29))
