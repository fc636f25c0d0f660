"""The figures of a simulated year of notifications out (``bench.notifications_year``):
what the year was to show (``problems``) and how it is printed (``lines``)."""

from __future__ import annotations

from pydantic import BaseModel


class YearFigures(BaseModel):
    days: int
    drop_rate: float
    truncate_rate: float
    files_produced: int
    deliveries: int
    dropped_in_transit: int
    truncated_in_transit: int
    files_missing_when_due: int
    files_incomplete_when_due: int
    gaps_detected: int
    gaps_detected_within_a_day: int
    max_hours_from_due_to_detection: float
    resend_requests: int
    files_ingested_complete: int
    days_after_the_year_to_close_everything: int
    eu_convictions: int
    dual_nationals_notified_twice: int
    notifications_expected: int
    notifications_registered: int
    notifications_sent: int
    notifications_sent_exactly_once: int
    notifications_acknowledged: int
    notifications_open: int
    sent_within_28_days: int
    max_days_recorded_to_sent: float
    max_days_file_lost: int
    wall_seconds: float

    def problems(self) -> list[str]:
        """What the simulation was to show, and did not."""
        out: list[str] = []
        gaps = self.files_missing_when_due + self.files_incomplete_when_due
        if self.gaps_detected != gaps:
            out.append(f"{gaps - self.gaps_detected} gap(s) never detected")
        if self.gaps_detected_within_a_day != self.gaps_detected:
            out.append("a gap was detected more than a day after the file was due")
        if self.files_ingested_complete != self.files_produced:
            out.append(f"{self.files_produced - self.files_ingested_complete} file(s) never taken")
        if self.notifications_registered != self.notifications_expected:
            out.append("notifications registered differ from those the files call for")
        if self.notifications_sent_exactly_once != self.notifications_expected:
            out.append("a notification was not sent exactly once")
        if self.notifications_open:
            out.append(f"{self.notifications_open} notification(s) still open")
        return out

    def lines(self) -> str:
        return "\n".join(
            [
                f"notifications year: {self.days} days, {self.files_produced} daily files, "
                f"drop rate {self.drop_rate:.3f}, truncation rate {self.truncate_rate:.3f}",
                f"  transfer:       {self.deliveries} deliveries, {self.dropped_in_transit} "
                f"dropped, {self.truncated_in_transit} cut short",
                f"  gaps:           {self.files_missing_when_due} files missing and "
                f"{self.files_incomplete_when_due} incomplete when due; {self.gaps_detected} "
                f"detected, {self.gaps_detected_within_a_day} within a day (latest "
                f"{self.max_hours_from_due_to_detection:.1f} h after the file was due)",
                f"  re-sends:       {self.resend_requests} asked of the PNC; "
                f"{self.files_ingested_complete}/{self.files_produced} files finally taken "
                f"whole (longest a file stayed lost: {self.max_days_file_lost} day(s)); "
                f"{self.days_after_the_year_to_close_everything} day(s) after the year to "
                "close everything",
                f"  convictions:    {self.eu_convictions} of EU nationals, "
                f"{self.dual_nationals_notified_twice} dual nationals notified to two states",
                f"  notifications:  {self.notifications_expected} due, "
                f"{self.notifications_registered} registered, {self.notifications_sent} sent "
                f"({self.notifications_sent_exactly_once} exactly once), "
                f"{self.notifications_acknowledged} acknowledged, {self.notifications_open} open",
                f"  deadline:       {self.sent_within_28_days}/{self.notifications_sent} sent "
                f"by the deadline (end of the 28 days beginning with the UK day of recording; "
                f"latest {self.max_days_recorded_to_sent:.1f} days after recording)",
                f"  wall time:      {self.wall_seconds:.1f} s",
            ]
        )
