"""JSON from outside, decoded with bounds: what every door that parses a body by hand
(intake, daily files, the codec server) and the HTTP process's JSON guard use instead
of ``json.loads``, and the validation errors they answer with, bounded and without the
input they were given.

``json.loads`` alone turns 30,000 nested ``[`` into a ``RecursionError``, a 5,000-digit
number into a ``ValueError`` about the interpreter's digit limit, ``1e999`` into
``inf`` (which then fails when the answer is written) and accepts ``NaN``: each a 500 at
the door that called it. ``parse_json`` refuses all of them with a ``JsonInputError``
(a ``ValueError``) whose message and ``code`` never quote the input.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any, Literal

MAX_DEPTH = 64  # no document the product takes nests deeper than ~6
MAX_NUMBER_CHARS = 100  # a number's text: no field needs more than ~20

JsonErrorCode = Literal["too_deep", "number", "not_utf8", "syntax"]

# A JSON string (escapes included); what is left once they are removed is structure.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonInputError(ValueError):
    """JSON refused: ``code`` says why (``too_deep``, ``number``, ``not_utf8``,
    ``syntax``); the message says where at most (line and column), never what."""

    def __init__(self, code: JsonErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: JsonErrorCode = code


def nesting_depth(text: str) -> int:
    """How deep ``text``'s arrays and objects nest (brackets inside strings ignored);
    linear in the text's length, without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, *accumulate(1 if c in "[{" else -1 for c in brackets))


def parse_json(
    data: bytes | bytearray | str,
    *,
    max_depth: int = MAX_DEPTH,
    max_number_chars: int = MAX_NUMBER_CHARS,
) -> Any:
    """``data`` decoded as JSON, or ``JsonInputError``: nested deeper than
    ``max_depth``, a number longer than ``max_number_chars`` or not finite (``NaN``,
    ``Infinity``, ``1e999``), not UTF-8, or not JSON."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise JsonInputError("not_utf8", f"not UTF-8 (byte {err.start})") from None
    else:
        text = data
    if nesting_depth(text) > max_depth:
        raise JsonInputError(
            "too_deep", f"JSON nested deeper than {max_depth} levels: nothing was read"
        )

    def number(token: str) -> None:
        if len(token) > max_number_chars:
            raise JsonInputError(
                "number", f"a number longer than {max_number_chars} characters: nothing was read"
            )

    def to_int(token: str) -> int:
        number(token)
        return int(token)

    def to_float(token: str) -> float:
        number(token)
        value = float(token)
        if not math.isfinite(value):
            raise JsonInputError("number", "a number too large to represent: nothing was read")
        return value

    def constant(token: str) -> Any:
        raise JsonInputError("number", f"{token} is not a JSON number: nothing was read")

    try:
        return json.loads(text, parse_int=to_int, parse_float=to_float, parse_constant=constant)
    except JsonInputError:
        raise
    except json.JSONDecodeError as err:
        raise JsonInputError(
            "syntax", f"not JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:  # the depth check above makes this unreachable; kept as a 4xx
        raise JsonInputError("too_deep", "JSON nested too deeply: nothing was read") from None


# --- validation errors, as answered -----------------------------------------------------

MAX_ERRORS = 20
MAX_MSG_CHARS = 300
MAX_LOC_CHARS = 40


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrubbed(e: Mapping[str, Any]) -> str:
    """The error's message without what was sent: some of pydantic's messages quote the
    input (``Input tag 'X' found using 'kind'…``), so the input and the context's
    quoted values (``tag``) are replaced by ``…``."""
    msg = str(e.get("msg", ""))
    ctx = e.get("ctx")
    quoted = [e.get("input")] + ([ctx.get("tag")] if isinstance(ctx, Mapping) else [])
    for value in quoted:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 2 and text in msg:
                msg = msg.replace(text, "…")
    return msg


def bounded_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors (pydantic's or FastAPI's) as answered to the caller: ``loc``,
    ``msg`` and ``type`` only — never ``input`` or ``ctx`` (which repeat what was sent),
    messages without the input they quote, each part cut short (a ``loc`` may be a key
    the caller chose), at most ``MAX_ERRORS`` of them and a last one counting the
    rest."""
    out: list[dict[str, Any]] = []
    total = 0
    for e in errors:
        total += 1
        if len(out) >= MAX_ERRORS:
            continue
        loc = [p if isinstance(p, int) else _short(str(p), MAX_LOC_CHARS) for p in e.get("loc", ())]
        out.append(
            {
                "loc": loc,
                "msg": _short(_scrubbed(e), MAX_MSG_CHARS),
                "type": _short(str(e.get("type", "")), MAX_LOC_CHARS),
            }
        )
    if total > len(out):
        out.append(
            {
                "loc": [],
                "msg": f"{total - len(out)} more errors not shown",
                "type": "too_many_errors",
            }
        )
    return out
