"""Every duration and retry count the process uses, in one model.

The policy in force is recorded on each case (it travels in the workflow input and
across continue-as-new), so a case keeps the rules it was opened under. Durations
are expressed in days; ``day_seconds`` is the length of one day, which demos and
tests compress (a "day" of a few seconds) without changing the shape of the
process. Working days skip weekends and England and Wales bank holidays.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from models.bank_holidays import FIRST_YEAR, LAST_YEAR, committed

DAY = 86_400.0


class Policy(BaseModel):
    """Statutory and operational durations. Defaults are the statutory ones."""

    name: str = "statutory"
    day_seconds: float = Field(default=DAY, gt=0, description="Length of one day in seconds.")

    # Step 2: a country needs identity fields the event lacks.
    missing_data_working_days: int = Field(default=10, ge=1)
    # Step 3: EU channel (ECRIS / UK-CRIS): reply due within 20 working days.
    eu_reply_working_days: int = Field(default=20, ge=1)
    eu_chaser_working_days: int = Field(default=10, ge=1)
    eu_max_chasers: int = Field(default=2, ge=0)
    # Non-EU (Interpol i24/7, bilateral): no duty to reply; mean ~66 days.
    non_eu_first_chaser_days: int = Field(default=90, ge=1)
    non_eu_chaser_interval_days: int = Field(default=30, ge=1)
    non_eu_max_chasers: int = Field(default=2, ge=0)
    # A reply after the no-response close is still accepted and acted on.
    late_reply_window_days: int = Field(default=365, ge=0)
    late_reply_poll_days: float = Field(default=7, gt=0)
    # How often ACRO is asked for a reply: quickly at first ("no trace" can come
    # back in minutes), then daily.
    reply_poll_schedule_days: list[float] = Field(
        default_factory=lambda: [10 / 1440, 1 / 24, 6 / 24, 12 / 24]
    )
    reply_poll_days: float = Field(default=1, gt=0)
    # Step 7: ICE tasking before the case is declared unable to be located, then
    # how often ICE is asked again while the case sleeps.
    ice_tasking_days: float = Field(default=28, gt=0)
    ice_status_poll_days: float = Field(default=7, gt=0)
    dormant_review_days: float = Field(default=30, gt=0)
    # Step 10: Stage 1 notice response windows.
    stage1_days_serving_sentence: int = Field(default=20, ge=1)
    stage1_days_other: int = Field(default=10, ge=1)
    # Long life: continue-as-new when the server suggests it or at this length.
    continue_as_new_after_events: int = Field(default=2_000, ge=50)
    # issue 20 (h2): step 4, an ACRO officer triages a reply the offence table cannot
    # classify within this many working days (then the case is listed as overdue); a
    # serious reply lacking the nature of an offence: further details asked of the
    # country, polled this often, chased once the working days pass, then the referral
    # goes on with what is known.
    acro_triage_working_days: int = Field(default=2, ge=1)
    further_details_working_days: int = Field(default=10, ge=1)
    further_details_poll_days: float = Field(default=1, gt=0)
    further_details_max_chasers: int = Field(default=1, ge=0)
    # issue 20 (h4): every wait of the located subject has a deadline and someone told.
    # Located (whereabouts known, ICE found them, a custody event): a CC manager
    # allocates a case owner within this many working days.
    allocation_working_days: int = Field(default=2, ge=1)
    # ICE tasking ended without ICE's answer: a caseworker decides (liable to deport,
    # or extend the tasking) within this many working days.
    ice_review_working_days: int = Field(default=5, ge=1)
    # Decision to deport: enforcement is reviewed when it has not happened in this time.
    enforcement_review_days: float = Field(default=28, gt=0)
    # Located by a custody event: detention is considered before the police release
    # the subject (PACE: 24 hours of detention without charge, from ``since``).
    custody_detention_hours: float = Field(default=24, gt=0)
    # The other decisions of steps 7-10 (our own operational rule: the guidance sets no
    # period): working days from when the case offers them; then the case is listed
    # overdue and a senior caseworker is told (``Located.decide_by``).
    exclusion_consultation_working_days: int = Field(default=10, ge=1)
    detention_decision_working_days: int = Field(default=5, ge=1)
    deportation_decision_working_days: int = Field(default=10, ge=1)
    director_decision_working_days: int = Field(default=10, ge=1)
    admin_removal_working_days: int = Field(default=10, ge=1)
    # issue 20 (h3): the immigration re-request that failed (no answer after the
    # chasers, or still not disclosable) is decided by a caseworker within this.
    immigration_decision_working_days: int = Field(default=5, ge=1)
    # issue 21 (our own operational rules where the guidance sets no period): each step
    # of the located checklist; the prosecution awaited (reviewed when it passes); the
    # Detention Gatekeeper; the owner's instruction to serve Stage 1; the deportation
    # order; the appeal window from the order's service (14 days: First-tier Tribunal,
    # appellant in the UK) and the appeal's review while it is pending.
    located_action_working_days: int = Field(default=5, ge=1)
    prosecution_review_days: float = Field(default=28, gt=0)
    gatekeeper_working_days: int = Field(default=2, ge=1)
    stage1_instruction_working_days: int = Field(default=5, ge=1)
    deportation_order_working_days: int = Field(default=5, ge=1)
    appeal_window_days: float = Field(default=14, gt=0)
    appeal_review_days: float = Field(default=90, gt=0)
    # issue 22 (h2): the safety net over replies pushed in. Every ``reply_reconcile_days``
    # (a Temporal Schedule, not per case) ACRO's log of replies sent is read and the
    # replies of requests with no reply delivered fetched, asked more than
    # ``reply_reconcile_grace_days`` and less than
    # ``reply_reconcile_horizon_days`` ago (beyond it the late-reply window is over).
    reply_reconcile_days: float = Field(default=1, gt=0)
    reply_reconcile_grace_days: float = Field(default=1, ge=0)
    reply_reconcile_horizon_days: float = Field(default=600, gt=0)

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    def working_days_after(self, start: datetime, n: int) -> datetime:
        """The moment ``n`` working days after ``start`` (same time of day, compressed)."""
        calendar_days = (add_working_days(start.date(), n) - start.date()).days
        return start + self.days(calendar_days)


# England and Wales bank holidays, read once at import from the committed table
# (``models.bank_holidays``): workflow code reads them through a passed-through import.
_BANK_HOLIDAYS: frozenset[date] = frozenset(committed())


def is_working_day(day: date) -> bool:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"no bank-holiday calendar for {day.year}")
    return day.weekday() < 5 and day not in _BANK_HOLIDAYS


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` in England and Wales."""
    day = start
    remaining = n
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def compressed_policy(day_seconds: float = 2.0) -> Policy:
    """The statutory shape with short days, for demos and tests on a real server."""
    return Policy(name=f"compressed ({day_seconds:g}s days)", day_seconds=day_seconds)
