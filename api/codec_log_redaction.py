"""The codec server's log redaction: nothing after ``/codec/`` but a bare ``decode`` or
``encode``, whatever the path (``redact_codec_paths``), in any log line of the HTTP
process — uvicorn's access and error lines, the product's own — by a ``logging.Filter``
(``RedactCodecTokens``) that ``install_log_redaction`` puts on uvicorn's loggers and the
root logger's handlers. A token put in a codec URL by mistake is written to no log line.
Re-exported by ``api.codec_server``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# ``/codec/`` (or its percent-encoded slashes) and whatever follows up to a space or a
# quote: the path's rest and its query string.
_CODEC_PATH = re.compile(r"(?:/|%2f)codec(?:/|%2f)([^\s\"']*)", re.IGNORECASE)
_KEPT = frozenset({"decode", "encode"})
REDACTED_PATH = "/codec/<redacted>"


def redact_codec_paths(text: str) -> str:
    """``text`` with anything after ``/codec/`` replaced, but a bare ``decode`` or
    ``encode``: a token put in a codec URL by mistake, on whatever path."""
    return _CODEC_PATH.sub(
        lambda m: m[0] if m[1] in _KEPT else REDACTED_PATH,
        text,
    )


def _redacted(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_codec_paths(value)
    if depth < 4 and isinstance(value, dict):
        return {k: _redacted(v, depth + 1) for k, v in value.items()}
    if depth < 4 and isinstance(value, (list, tuple)):
        return type(value)(_redacted(v, depth + 1) for v in value)
    return value


class RedactCodecTokens(logging.Filter):
    """Hide whatever follows ``/codec/`` (but ``decode``/``encode``) in every log line it
    sees: the message, its arguments (uvicorn's access line has the path there), a
    structlog event's fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = _redacted(record.args)
        elif isinstance(record.args, dict):
            record.args = _redacted(record.args)
        if isinstance(record.msg, (str, dict)):
            record.msg = _redacted(record.msg)
        return True


_FILTER = RedactCodecTokens()
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn")


def install_log_redaction() -> None:
    """Put the filter on uvicorn's loggers and their handlers, and on the handlers of
    the root logger (where every other line ends: the product's own, the SDK's): a
    logger's filter does not see lines that only propagate through it. Call it after
    ``runtime.logs.configure_logging``; calling it again adds nothing."""
    targets: list[logging.Filterer] = []
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        targets += [logger, *logger.handlers]
    targets += logging.getLogger().handlers
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
