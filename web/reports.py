"""The supervisors' dashboard figures. None of them needs personal data, and none is
read from a case's state: the case list comes from Temporal's visibility store
(search attributes, through ``access.listing.list_cases``), reply times from the case
store's document and access-log rows (times, countries and request references only;
no document content is read).

- counts by stage (open cases) and by outcome (every case with one);
- cases opened and closed per week (Monday to Sunday, in the display time zone);
- replies by time to answer, per channel (EU / non-EU): from the ACRO request (its
  *disclosure* entry in the access log, which names the request reference) to the
  reply's collection (the document ``certificate-<reference>``), in the policy's days;
- the funnel of the seeds: checks (encounters) → convictions returned → serious
  offending (encounters referred) → referred (Criminal Casework cases, one per
  subject) → deported;
- notifications out (``access.notifications.notification_counts``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from temporalio.client import Client

from access.listing import CaseFilter, CaseRow, list_cases
from access.notifications import NotificationSummary, notification_counts
from identity.principal import Principal
from models.case import Outcome, Stage
from models.reference import countries
from store.cases import AccessLogEntry, CaseStore, Document
from store.notifications import NotificationStore

# Cases read for the dashboard at most (visibility listing); more are not counted.
MAX_CASES = 50_000
REPLY_BUCKETS: list[tuple[str, float, float]] = [
    ("< 1", 0, 1),
    ("1-5", 1, 5),
    ("5-10", 5, 10),
    ("10-20", 10, 20),
    ("20-40", 20, 40),
    ("40-60", 40, 60),
    ("60-90", 60, 90),
    ("90+", 90, float("inf")),
]
CHANNELS = ("EU", "non-EU")
CASEWORK_OUTCOMES = {
    Outcome.LEFT_UK.name,
    Outcome.LIABLE_TO_DEPORT_WANTED.name,
    Outcome.DEPORTED.name,
    Outcome.NOT_PURSUED.name,
    Outcome.NOT_PURSUED_ADMIN_REMOVAL.name,
}
# The request reference of an ACRO request's disclosure entry. The access log keeps it
# only in the entry's words ("... via ACRO (purpose): request ACRO-…"): the row has no
# column for it (its document_id is empty) and the store no row of the request itself;
# the case's own record of it (request_ref, requested_at) is in the workflow's state,
# which the dashboard does not read.
_REQUEST_REF = re.compile(r"request (\S+)$")


def stage_label(name: str | None) -> str:
    """A stage's words in the guidance from its search-attribute name."""
    if not name:
        return ""
    member = Stage.__members__.get(name)
    return member.value if member else name


def outcome_label(name: str | None) -> str:
    if not name:
        return ""
    member = Outcome.__members__.get(name)
    return member.value if member else name


class ReplyTimes(BaseModel):
    buckets: list[str]
    counts: dict[str, list[int]]  # channel -> count per bucket
    mean_days: dict[str, float | None]
    replies: dict[str, int]


class Dashboard(BaseModel):
    as_of: datetime
    cases: int
    open_cases: int
    awaiting_decision: int
    overdue: int
    by_stage: list[tuple[str, int]]
    by_outcome: list[tuple[str, int]]
    weeks: list[str]
    opened_per_week: list[int]
    closed_per_week: list[int]
    replies: ReplyTimes
    funnel: list[tuple[str, int]]
    truncated: bool = False
    notifications: NotificationSummary | None = None


def _week_start(at: datetime, tz: tzinfo) -> datetime:
    local = at.astimezone(tz)
    day = local - timedelta(days=local.weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def per_week(
    rows: Sequence[CaseRow], now: datetime, tz: tzinfo, weeks: int = 12
) -> tuple[list[str], list[int], list[int]]:
    """The last ``weeks`` weeks (oldest first, the current one last): labels (the
    Monday) and the cases opened and closed in each."""
    this_week = _week_start(now, tz)
    starts = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    index = {s.date(): n for n, s in enumerate(starts)}
    opened = [0] * weeks
    closed = [0] * weeks
    for r in rows:
        n = index.get(_week_start(r.opened_at, tz).date())
        if n is not None:
            opened[n] += 1
        if r.closed_at is not None:
            n = index.get(_week_start(r.closed_at, tz).date())
            if n is not None:
                closed[n] += 1
    return [f"{s:%d %b}" for s in starts], opened, closed


def seed_funnel(rows: Sequence[CaseRow]) -> list[tuple[str, int]]:
    encounters = [r for r in rows if r.kind == "encounter"]
    referred_encounters = [
        r
        for r in encounters
        if r.stage == Stage.REFERRED_TO_CRIMINAL_CASEWORK.name or r.outcome in CASEWORK_OUTCOMES
    ]
    with_convictions = len(referred_encounters) + sum(
        1 for r in encounters if r.outcome == Outcome.NOT_SERIOUS.name
    )
    casework = [r for r in rows if r.kind == "casework"]
    return [
        ("ACRO checks", len(encounters)),
        ("Convictions returned", with_convictions),
        ("Serious offending", len(referred_encounters)),
        ("Referred to Criminal Casework", len(casework)),
        ("Deported", sum(1 for r in casework if r.outcome == Outcome.DEPORTED.name)),
    ]


def reply_times(store: CaseStore, *, day_seconds: float, since: datetime) -> ReplyTimes:
    """Replies since ``since`` by time to answer (policy days), per channel."""
    since = since.astimezone(UTC)  # the store's times are UTC (naive on SQLite)
    with Session(store.engine) as session:
        requests = session.exec(
            select(AccessLogEntry.at, AccessLogEntry.justification).where(
                AccessLogEntry.action == "disclosure", col(AccessLogEntry.at) >= since
            )
        ).all()
        replies = session.exec(
            select(Document.id, Document.country, Document.received_at).where(
                Document.kind == "acro_certificate", col(Document.received_at) >= since
            )
        ).all()
    asked: dict[str, datetime] = {}
    for at, justification in requests:
        m = _REQUEST_REF.search(justification or "")
        if m:
            asked.setdefault(m.group(1), at)
    counts = {c: [0] * len(REPLY_BUCKETS) for c in CHANNELS}
    days: dict[str, list[float]] = {c: [] for c in CHANNELS}
    known = countries()
    for document_id, country, received_at in replies:
        sent = asked.get(document_id.removeprefix("certificate-"))
        if sent is None or country is None:
            continue
        channel = "EU" if country in known and known[country].eu else "non-EU"
        elapsed = (_aware(received_at) - _aware(sent)).total_seconds() / day_seconds
        days[channel].append(max(elapsed, 0.0))
        for n, (_, low, high) in enumerate(REPLY_BUCKETS):
            if low <= elapsed < high or (n == 0 and elapsed < 0):
                counts[channel][n] += 1
                break
    return ReplyTimes(
        buckets=[b[0] for b in REPLY_BUCKETS],
        counts=counts,
        mean_days={c: (round(sum(v) / len(v), 1) if v else None) for c, v in days.items()},
        replies={c: len(v) for c, v in days.items()},
    )


def _aware(at: datetime) -> datetime:
    # SQLite gives back naive datetimes; the store writes UTC.
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def notification_figures(
    store: CaseStore, principal: Principal, now: datetime
) -> NotificationSummary | None:
    """Notifications out (``access.notifications.notification_counts``): per state and in
    total, the daily files, the open alerts; None if the store cannot say (a database
    not migrated to them)."""
    try:
        return notification_counts(NotificationStore(store.engine), principal, now)
    except SQLAlchemyError:
        return None


async def dashboard(
    client: Client,
    store: CaseStore,
    principal: Principal,
    *,
    now: datetime,
    tz: tzinfo,
    day_seconds: float,
    weeks: int = 12,
) -> Dashboard:
    """The figures, for those the policy lets see them (``NotPermitted`` otherwise):
    counts over every case, from search attributes only."""
    rows = await list_cases(
        client, principal, CaseFilter(), now=now, page_size=MAX_CASES, figures=True
    )
    running = [r for r in rows if r.status == "RUNNING"]
    by_stage = Counter(stage_label(r.stage) for r in running if r.stage)
    by_outcome = Counter(outcome_label(r.outcome) for r in rows if r.outcome)
    labels, opened, closed = per_week(rows, now, tz, weeks)
    return Dashboard(
        as_of=now,
        cases=len(rows),
        open_cases=len(running),
        awaiting_decision=sum(1 for r in running if r.awaiting_roles),
        overdue=sum(1 for r in running if r.next_deadline is not None and r.next_deadline < now),
        by_stage=sorted(by_stage.items(), key=lambda kv: (-kv[1], kv[0])),
        by_outcome=sorted(by_outcome.items(), key=lambda kv: (-kv[1], kv[0])),
        weeks=labels,
        opened_per_week=opened,
        closed_per_week=closed,
        replies=reply_times(store, day_seconds=day_seconds, since=now - timedelta(days=366)),
        funnel=seed_funnel(rows),
        truncated=len(rows) >= MAX_CASES,
        notifications=notification_figures(store, principal, now),
    )
