"""``fno`` prints stored text literally: Rich markup in an actor's name, a reason, a
timeline entry or an alert's detail (written by other people and systems) neither ends
the command nor styles what it prints.

The commands run in-process (``typer.testing.CliRunner``) on the API's answers as JSON,
with ``cli.fno.call`` answering in place of the HTTP API; the terminal check renders
through a console that believes it is a colour terminal, where markup would show."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import fno, notifications, render
from cli.client import Api

HOSTILE_ACTOR = "Sam [/x] [bold]Jones[/bold]"
HOSTILE_REASON = "[red]urgent[/red] [link=http://evil.example]click[/link] :warning: [/]"
HOSTILE_TEXT = "Referred [blink]now[/blink] [/bold]"
AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC).isoformat()

CASE = {
    "case_id": "encounter-kent-[b]CU-1[/b]",
    "stage": "[/stage]",
    "outcome": "[i]none[/i]",
    "awaiting": ["identity_data_supplied"],
    "awaiting_role": ["[/role]"],
    "deadlines": [],
    "timeline": [
        {"at": AT, "text": HOSTILE_TEXT, "actor": HOSTILE_ACTOR, "role": "[/r]"},
        {
            "at": AT,
            "text": "Decision",
            "actor": "Ann",
            "role": "caseworker",
            "reason": HOSTILE_REASON,
        },
    ],
}
AUDIT = [
    {
        "at": AT,
        "action": "consultation",
        "actor": HOSTILE_ACTOR,
        "role": "[/role]",
        "case_id": "encounter-kent-CU-1",
        "justification": HOSTILE_REASON,
    }
]
ALERTS = [
    {"id": 7, "kind": "[/kind]", "raised_at": AT, "detail": HOSTILE_TEXT, "resolved_at": None}
]
ANSWERS: dict[str, Any] = {
    "/cases/encounter-kent-%5Bb%5DCU-1%5B/b%5D": CASE,
    "/audit": AUDIT,
    "/notification-alerts": ALERTS,
}
STORED = [HOSTILE_ACTOR, HOSTILE_REASON, HOSTILE_TEXT, "[/stage]", "[/role]", "[i]none[/i]"]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's answers, as ``cli.client.call`` returns them."""

    def call(_api: Api, method: str, path: str, **_: Any) -> httpx.Response:
        assert method == "GET", path
        return httpx.Response(200, json=ANSWERS[path])

    person = Api(url="http://api.test", authorization="Bearer t", kind="person")
    monkeypatch.setattr(fno, "call", call)
    monkeypatch.setattr(fno, "person", lambda: person)
    monkeypatch.setattr(notifications, "call", call)
    monkeypatch.setattr(notifications, "person", lambda: person)


def _wide(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Console:
    console = Console(width=400, highlight=False, **kw)
    monkeypatch.setattr(render, "out", console)
    monkeypatch.setattr(notifications, "out", console)
    return console


def _flat(text: str) -> str:
    """Table output as one line per row, cell borders and padding removed."""
    return re.sub(r"\s*│\s*", "|", text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["show", CASE["case_id"], "--reason", "why"],
            [CASE["case_id"], "[/stage]", HOSTILE_TEXT, HOSTILE_ACTOR, HOSTILE_REASON],
        ),
        (["audit", "encounter-kent-CU-1"], [HOSTILE_ACTOR, "[/role]", HOSTILE_REASON]),
        (["notifications", "alerts"], ["[/kind]", HOSTILE_TEXT]),
    ],
    ids=["show", "audit", "alerts"],
)
def test_stored_markup_is_printed_as_it_is(api, monkeypatch, args, expected):
    _wide(monkeypatch, file=None)
    result = CliRunner().invoke(fno.app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    flat = _flat(result.output)
    for text in expected:
        assert text in flat, (text, result.output)


def test_stored_markup_styles_nothing_on_a_colour_terminal(monkeypatch):
    console = _wide(monkeypatch, force_terminal=True, color_system="truecolor", record=True)
    render.case(CASE)
    render.audit(AUDIT)
    segments = list(console._record_buffer)  # what was written, with its styles
    text = "".join(s.text for s in segments)
    for stored in STORED:
        assert stored in _flat(text), stored
    # Only the case ID in the heading and the tables' own headers carry a style; nothing
    # of a stored text does (no red, blink, link; no highlighted numbers or quotes).
    styled = {s.text for s in segments if s.style and (s.style.color or s.style.link)}
    assert not styled, styled
    bold = "".join(s.text for s in segments if s.style and s.style.bold)
    assert "Jones" not in bold and "urgent" not in bold
    assert not any(s.style and (s.style.blink or s.style.italic) for s in segments)
