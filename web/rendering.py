"""The pages' templates: the Jinja environment (autoescaping everything, strict about
undefined names) with the filters the templates use, and the presentation helpers
behind them (times in the display zone, time left to a deadline, country names)."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from models.reference import countries
from web import labels
from web.reports import outcome_label, stage_label

TEMPLATES = Path(__file__).resolve().parent / "templates"


def time_left(due: datetime | None, now: datetime) -> str:
    """``3 d 4 h left`` or ``overdue by 2 h 5 min``."""
    if due is None:
        return ""
    delta = due - now
    span = abs(delta.total_seconds())
    days, rest = divmod(int(span), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    elif minutes:
        text = f"{minutes} min"
    else:
        text = f"{seconds} s"
    return f"{text} left" if delta.total_seconds() >= 0 else f"overdue by {text}"


def country_name(code: str | None) -> str:
    if not code:
        return ""
    found = countries().get(code)
    return f"{found.name} ({code})" if found else code


def environment(tz: tzinfo) -> Environment:
    """The templates, with times shown in ``tz``."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(at: datetime | date | None, fmt: str = "%d %b %Y %H:%M") -> str:
        if at is None:
            return ""
        if isinstance(at, datetime):
            aware = at if at.tzinfo else at.replace(tzinfo=UTC)  # the store keeps UTC
            return aware.astimezone(tz).strftime(fmt)
        return at.strftime("%d %b %Y")

    env.filters.update(
        when=when,
        pathq=lambda v: quote(str(v), safe=""),
        stage=stage_label,
        outcome=outcome_label,
        role=labels.role,
        decision=labels.decision,
        field=labels.field,
        country=country_name,
        action=lambda a: labels.ACCESS_ACTIONS.get(a, a),
    )
    env.globals.update(choice=labels.choice, time_left=time_left)
    return env
