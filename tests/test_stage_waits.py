"""The table of every stage's wait (``models.stage_waits``) is the code's and the docs'.

Every stage is listed; a stage that waits has a deadline, or offers decisions to a
role, or says why it is dormant by design; the decision kinds and policy fields it
names are the code's own; docs/casework.md holds the table as the code prints it."""

from __future__ import annotations

from pathlib import Path

from models.case import Stage
from models.decisions import ROLES_FOR
from models.notification_policy import NotificationPolicy
from models.stage_waits import AUTOMATIC, CLOSED, DORMANT, WAITING, WAITS, markdown

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "casework.md"
BEGIN, END = "<!-- stage-waits:begin -->", "<!-- stage-waits:end -->"


def test_every_stage_says_what_it_waits_for_and_who_is_told():
    assert list(WAITS) == list(Stage), "every stage, in the order of models.case.Stage"
    for stage, wait in WAITS.items():
        assert wait.kind in (WAITING, AUTOMATIC, DORMANT, CLOSED), stage
        for kind in wait.decisions:
            assert kind in ROLES_FOR, (stage, kind)
        for field in wait.policy:
            assert field in NotificationPolicy.model_fields, (stage, field)
        if wait.kind == WAITING:
            assert wait.deadline and wait.policy and wait.told, stage
        if wait.kind == DORMANT:
            assert wait.why, stage
        if wait.kind == AUTOMATIC:
            assert not wait.decisions, stage


def test_the_docs_hold_the_table_the_code_prints():
    text = DOCS.read_text("utf-8")
    assert BEGIN in text and END in text, f"docs/casework.md needs {BEGIN} … {END}"
    held = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert held == markdown().strip(), "run `python -m models.stage_waits` and paste it"


def test_the_policy_fields_named_are_the_ones_the_workflows_read():
    """A deadline named in the table is one the case process actually sets."""
    sources = "".join(p.read_text("utf-8") for p in (ROOT / "workflows").glob("*.py"))
    sources += (ROOT / "models" / "notification_policy.py").read_text("utf-8")
    for stage, wait in WAITS.items():
        for field in wait.policy:
            assert f".{field}" in sources or f"{field}:" in sources, (stage, field)
