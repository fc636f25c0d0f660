"""A year of PNC daily files with one in three lost in transit (seed 004's failure),
through the real intake, reconciliation and notification workflows on the
time-skipping server: every gap seen within a day of the file being due, every file
sent again until it is taken whole, every conviction notified exactly once to each
EU state of nationality. The figures are printed in CI's log (``bench.notifications_year``)."""

from __future__ import annotations

from bench.notifications_year import simulate


async def test_a_year_with_one_file_in_three_lost_loses_no_notification(
    ts_env, tmp_path, ci_figures
):
    figures = await simulate(ts_env, tmp_path, days=365, drop_rate=1 / 3)
    with ci_figures():  # the figures go to CI's log, passed or failed
        print("\n" + figures.lines())
    assert figures.problems() == []
    assert figures.dropped_in_transit > 100  # the seed's failure did happen
    assert figures.gaps_detected == figures.gaps_detected_within_a_day > 100
    assert figures.max_hours_from_due_to_detection <= 24
    assert figures.files_ingested_complete == 365
    assert figures.dual_nationals_notified_twice > 0
    assert (
        figures.notifications_expected
        == figures.notifications_sent_exactly_once
        == figures.notifications_acknowledged
    )
    assert figures.sent_within_28_days == figures.notifications_sent
