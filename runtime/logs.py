"""Structured logging for the worker, the starter and the run command.

One configuration for every log line the process writes:

* ``structlog`` loggers (``get_logger``) and standard-library loggers — including
  ``temporalio.workflow`` (``workflow.logger``), ``temporalio.activity``
  (``activity.logger``) and the SDK's own — all end in one ``stderr`` handler whose
  ``structlog.stdlib.ProcessorFormatter`` renders them alike.
* Format: JSON lines when ``fmt == "json"``, or with ``fmt == "auto"`` when stderr is
  not a terminal (CI, containers, log shippers); a readable console rendering in a
  terminal (``fmt == "console"``, or ``auto`` on a TTY).
* Every line emitted inside an activity carries ``workflow_id``, ``workflow_type``,
  ``activity`` (the activity type name) and ``attempt``; every line emitted inside a
  workflow carries ``workflow_id`` and ``workflow_type``. No call site has to pass them.

**Never log personal data.** The rule, and the processors and filter that enforce it
(``redact_fields``, ``scrub_exception``, ``describe_exception``, ``PrivacyFilter``,
``Vetted``), are in ``runtime.log_privacy``, re-exported here; this module configures
the logs so that every line passes through them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
import temporalio.activity
import temporalio.workflow
from structlog.typing import EventDict, Processor, WrappedLogger

from runtime.log_privacy import (
    ALLOWED_FIELDS,
    REDACTED,
    PrivacyFilter,
    Vetted,
    add_record_error,
    describe_exception,
    redact_fields,
    scrub_exception,
)

__all__ = [
    "ALLOWED_FIELDS",
    "FORMATS",
    "REDACTED",
    "PrivacyFilter",
    "Vetted",
    "add_temporal_context",
    "build_formatter",
    "configure_logging",
    "describe_exception",
    "get_logger",
    "redact_fields",
    "resolve_format",
    "scrub_exception",
]

FORMATS = ("auto", "json", "console")

_configured = False
_handler: logging.Handler | None = None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is *now*.

    Resolving the stream at each emit keeps the handler correct when stderr is
    replaced after configuration (pytest's capture, daemonising wrappers).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _flatten_temporal_extra(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Turn the SDK's ``temporal_workflow`` / ``temporal_activity`` extras into flat keys."""
    wf = event_dict.pop("temporal_workflow", None)
    if isinstance(wf, dict):
        for key in ("workflow_id", "workflow_type", "run_id"):
            if wf.get(key) is not None:
                event_dict.setdefault(key, wf[key])
    act = event_dict.pop("temporal_activity", None)
    if isinstance(act, dict):
        for src, dst in (
            ("workflow_id", "workflow_id"),
            ("workflow_type", "workflow_type"),
            ("activity_type", "activity"),
            ("attempt", "attempt"),
        ):
            if act.get(src) is not None:
                event_dict.setdefault(dst, act[src])
    # The full info objects (``full_*_info_on_extra``) are not JSON and too verbose.
    event_dict.pop("workflow_info", None)
    event_dict.pop("activity_info", None)
    return event_dict


def add_temporal_context(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Add the current activity's or workflow's identity to the event dict.

    Runs synchronously where the line is logged, so the SDK's context variables
    are those of the activity or workflow that logs. Outside both it does nothing.
    """
    try:
        if temporalio.activity.in_activity():
            info = temporalio.activity.info()
            if info.workflow_id is not None:
                event_dict.setdefault("workflow_id", info.workflow_id)
            if info.workflow_type is not None:
                event_dict.setdefault("workflow_type", info.workflow_type)
            event_dict.setdefault("activity", info.activity_type)
            event_dict.setdefault("attempt", info.attempt)
            return event_dict
    except Exception:  # never let logging break an activity
        pass
    try:
        if temporalio.workflow.in_workflow():
            winfo = temporalio.workflow.info()
            event_dict.setdefault("workflow_id", winfo.workflow_id)
            event_dict.setdefault("workflow_type", winfo.workflow_type)
    except Exception:  # never let logging break a workflow task
        pass
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _flatten_temporal_extra,
        add_temporal_context,
        add_record_error,
    ]


def resolve_format(fmt: str = "auto", stream: TextIO | None = None) -> str:
    """``json`` or ``console`` for ``fmt`` (``auto`` looks at whether stderr is a TTY)."""
    fmt = (fmt or "auto").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    return "console" if _isatty(sys.stderr if stream is None else stream) else "json"


def build_formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter for ``json`` or ``console`` that renders structlog and stdlib records."""
    renderer: Processor
    # Exceptions by type and frames only, then every field checked: what reaches the
    # renderer carries no exception value and no free text (``runtime.log_privacy``).
    final: list[Processor] = [
        scrub_exception,
        redact_fields,
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    ]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(default=str)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(sys.stderr))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(
                allow=[
                    "temporal_workflow",
                    "temporal_activity",
                    "workflow_info",
                    "activity_info",
                    # workflow code's ``workflow.logger`` fields (``extra=``)
                    "kind",
                    "entry",
                ]
            ),
            *_shared_processors(),
        ],
        processors=[*final, renderer],
    )


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure_logging(fmt: str = "auto", *, level: int = logging.INFO, force: bool = False) -> str:
    """Configure structlog and stdlib logging once; later calls do nothing.

    ``fmt`` is ``auto``, ``json`` or ``console``. Returns the format in force.
    ``force=True`` replaces an earlier configuration (tests).
    """
    global _configured, _handler
    resolved = resolve_format(fmt)
    if _configured and not force:
        return getattr(_handler, "fno_format", resolved)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    handler = _StderrHandler()
    handler.addFilter(PrivacyFilter())
    handler.setFormatter(build_formatter(resolved))
    handler.fno_format = resolved  # type: ignore[attr-defined]
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler

    # The identity travels as fields; the SDK's "(…{'workflow_id': …})" message
    # suffix would only repeat it.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    _configured = True
    return resolved


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; ``initial`` key/values are bound to every line."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger
