"""What a log line may carry: the privacy half of the logs (``runtime.logs`` configures
them and puts these processors and this filter in every line's way; it re-exports the
public names).

**Never log personal data.** A case concerns a person in police custody: names,
aliases, dates of birth, addresses, parents' names, document numbers and PNC IDs must
not appear in a log line, neither as the message nor as a field. Log identifiers the
product mints (workflow IDs, case and event references), stages, outcomes, country
codes and counts. Log lines leave the system (terminals, CI output, log shippers)
without the access controls the case store has.

That rule is enforced here, not only asked of call sites:

* ``redact_fields`` (a structlog processor, run for structlog and stdlib lines alike)
  passes a field only if its name is in ``ALLOWED_FIELDS`` (identifiers, codes, kinds,
  counts), or its value is a number, a boolean, a lowercase code (``invalid_grant``,
  ``m-1``) or text a call site vouches for (``Vetted``: start-up errors in the
  product's own words). Any other value becomes ``"[redacted]"``: free text (timeline
  text, names, offence text, ``str(err)``) never reaches the renderer.
* Exceptions are logged by type, never by value: ``error_type`` (the exception's
  class), ``error_chain`` (the classes of its causes), ``error_code`` (an
  ``ApplicationError``'s type) and ``traceback`` (file, line and function of each
  frame) — no message, no frame locals. The value of an exception may hold anything
  the failing code held; the failure itself is kept, encrypted, in Temporal.
* ``PrivacyFilter`` (a ``logging.Filter`` on the handler) does the same to every
  stdlib record before formatting, and cuts the SDK's own messages that embed an
  exception value (``temporalio``: "Completing as failure during heartbeat with error
  of type …: <value>", "Exception handling failed, original error: <value>", the
  asyncio handler's multi-line context) down to their first, value-free part. The
  SDK's lines keep the workflow ID, workflow type, run ID and activity they carry.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from structlog.typing import EventDict, WrappedLogger

REDACTED = "[redacted]"

# Fields whose values pass as they are: identifiers the product mints, codes, kinds,
# stages, counts, settings and the log machinery's own. Anything else is redacted
# unless it is a number, a boolean or a lowercase code (``_CODE``). Not ``purpose``
# nor ``reason``: a person types those ("checking <a name>"); a purpose code such as
# ``criminal_proceedings`` passes as a code.
ALLOWED_FIELDS = frozenset(
    {
        # the machinery
        "event", "level", "logger", "timestamp", "stack",
        # Temporal identity
        "workflow_id", "workflow_type", "run_id", "activity", "attempt", "task_queue",
        "namespace", "address", "schedule_id",
        # the product's identifiers and codes
        "case", "case_id", "casework_id", "encounter_id", "notification_id", "document_id",
        "ref", "key", "cases", "kind", "stage", "outcome", "status", "code", "why", "alert",
        "role", "user", "subject", "country", "channel", "chaser", "fields",
        "convictions", "policy", "result", "setting", "sequence", "file_sequence",
        "file_date", "due_at", "escalation", "withheld", "added", "already_present",
        "reason_code", "entry", "entries", "count", "history_length",
        # exceptions, by type (``describe_exception``)
        "error_type", "error_chain", "error_code", "traceback",
        # processes, ports, files of the local run
        "port", "ui_port", "home", "path", "events", "exit_code", "signal",
        "grace_seconds", "version", "method", "status_code",
    }
)  # fmt: skip
_CODE = re.compile(r"[a-z][a-z0-9_]*(?:[.:-][a-z0-9_]+)*")
_CODE_MAX = 64
# The structlog/ProcessorFormatter keys that are not fields of the line.
_INTERNAL = frozenset({"_record", "_from_structlog", "exc_info", "stack_info"})
_TRACEBACK_FRAMES = 12


class Vetted(str):
    """Text a call site vouches for: the product's own words, free of personal data
    by construction (a setting's name and what is wrong with it). ``redact_fields``
    lets it through; use it for start-up and configuration errors only, never for an
    exception raised while a case is handled."""

    __slots__ = ()


def _safe_value(value: Any) -> Any:
    if isinstance(value, Vetted):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= _CODE_MAX and _CODE.fullmatch(value):
        return value
    return REDACTED


def redact_fields(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Redact every field not in ``ALLOWED_FIELDS`` whose value is not a number, a
    boolean or a lowercase code (see the module's docstring)."""
    for key in list(event_dict):
        if key in ALLOWED_FIELDS or key in _INTERNAL:
            continue
        event_dict[key] = _safe_value(event_dict[key])
    return event_dict


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as the logs may carry it: its class, its causes' classes, an
    ``ApplicationError``'s type code and its frames — never its message or locals."""
    chain: list[str] = []
    seen = {id(exc)}
    inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while inner is not None and id(inner) not in seen and len(chain) < 8:
        seen.add(id(inner))
        chain.append(_type_name(inner))
        inner = inner.__cause__ or (None if inner.__suppress_context__ else inner.__context__)
    described: dict[str, Any] = {"error_type": _type_name(exc)}
    if chain:
        described["error_chain"] = chain
    code = getattr(exc, "type", None)  # temporalio.exceptions.ApplicationError
    if isinstance(code, str) and code:
        described["error_code"] = code if _CODE.fullmatch(code.lower()) else REDACTED
    frames = traceback.extract_tb(exc.__traceback__)[-_TRACEBACK_FRAMES:]
    if frames:
        described["traceback"] = [f"{f.filename}:{f.lineno} in {f.name}" for f in frames]
    return described


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def scrub_exception(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Replace ``exc_info`` (``log.exception``, ``exc_info=True``, a stdlib record's
    exception) by ``describe_exception``'s fields: the renderer never sees a value."""
    exc_info = event_dict.pop("exc_info", None)
    exc = _exception_of(exc_info)
    if exc is not None:
        for key, value in describe_exception(exc).items():
            event_dict.setdefault(key, value)
    event_dict.pop("exception", None)  # a pre-rendered traceback (text, with the value)
    return event_dict


# The SDK's messages that end in an exception's value: keep the part before it.
_SDK_VALUE_SUFFIXES = (
    re.compile(r"^(Completing as failure during heartbeat with error of type [^:]*): .*", re.S),
    re.compile(r"^(Exception handling failed, original error): .*", re.S),
)


def _sdk_message(message: str) -> str:
    for pattern in _SDK_VALUE_SUFFIXES:
        match = pattern.match(message)
        if match:
            return match.group(1)
    # Multi-line SDK messages (the asyncio handler's context: the future's repr, the
    # exception's repr) keep their first line only.
    return message.split("\n", 1)[0]


class PrivacyFilter(logging.Filter):
    """Scrub a stdlib record before any formatter sees it: its exception becomes
    ``describe_exception``'s fields (kept on the record as ``fno_error``), and a
    ``temporalio`` record's message loses any exception value it embeds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            exc = _exception_of(record.exc_info)
            if exc is not None:
                record.fno_error = describe_exception(exc)
            record.exc_info = None
            record.exc_text = None
        if record.name.startswith("temporalio") and not isinstance(record.msg, Mapping):
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: say so, without its arguments
                message = str(record.msg)
            record.msg, record.args = _sdk_message(message), ()
        return True


def add_record_error(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Bring ``PrivacyFilter``'s ``fno_error`` onto the line."""
    record = event_dict.get("_record")
    described = getattr(record, "fno_error", None)
    if isinstance(described, dict):
        for key, value in described.items():
            event_dict.setdefault(key, value)
    return event_dict
