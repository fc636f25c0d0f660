"""One vocabulary for stages (issue 21): people read a stage in the guidance's words
(``Stage`` values) everywhere, the CLI and the web app alike; the code (``Stage``
names, the ``FnoStage`` search attribute) only where a filter needs it. A filter takes
either, case-insensitive (``stage_code``), and a wrong one is told the valid values.
"""

from __future__ import annotations

from models.case import Stage

_DASHES = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'"})


class UnknownStage(ValueError):
    """No stage has that code or those words; the message lists the valid ones."""


def _plain(text: str) -> str:
    return " ".join(text.translate(_DASHES).casefold().split())


def stage_code(text: str) -> str:
    """The stage code (``Stage`` name) for ``text``: a code or a stage's words, in any
    case (a hyphen for a dash is fine). ``UnknownStage`` otherwise."""
    wanted = _plain(text)
    for stage in Stage:
        if wanted in (stage.name.casefold(), _plain(stage.value)):
            return stage.name
    raise UnknownStage(
        f"no stage {text.strip()!r}; give a code or the words of one of: " + valid_stages()
    )


def valid_stages() -> str:
    return "; ".join(f"{s.name} ({s.value})" for s in Stage)


def stage_words(code: str | None) -> str | None:
    """A stage code's words (a code no stage has is shown as it is)."""
    if code is None:
        return None
    try:
        return Stage[code].value
    except KeyError:
        return code
