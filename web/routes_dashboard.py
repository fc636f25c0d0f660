"""``/dashboard``: the supervisors' and the Director's figures (``web.reports``) drawn
as SVG charts (``web.charts``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response
from temporalio.service import RPCError

from access.policy import Capability, may
from web import charts
from web.reports import dashboard
from web.visits import Config, Staff, Store, Temporal, problem, render

router = APIRouter()


@router.get("/dashboard", response_model=None)
async def dashboard_page(v: Staff, config: Config, store: Store, connect: Temporal) -> Response:
    if not may(v.principal, Capability.FIGURES):
        return problem(v, 403, "Not allowed", "The dashboard is for supervisors and the Director.")
    now = datetime.now(UTC)
    try:
        d = await dashboard(
            await connect(),
            store,
            v.principal,
            now=now,
            tz=config.tz,
            day_seconds=config.day_seconds,
        )
    except RPCError as err:
        return problem(v, 503, "Figures unavailable", f"Temporal did not answer: {err.message}")
    reply_series = [(c, d.replies.counts[c]) for c in d.replies.counts]
    return render(
        v,
        "dashboard.html",
        d=d,
        stage_chart=charts.bar_chart("Open cases by stage", d.by_stage),
        outcome_chart=charts.bar_chart("Cases by outcome", d.by_outcome),
        weeks_chart=charts.column_chart(
            "Cases opened and closed per week",
            d.weeks,
            [("opened", d.opened_per_week), ("closed", d.closed_per_week)],
        ),
        replies_chart=charts.column_chart(
            "Replies by time to answer (days), per channel", d.replies.buckets, reply_series
        ),
        funnel_chart=charts.funnel("From check to deportation", d.funnel),
    )
