"""Intake: how custody events become cases, the same for every door (the HTTP API's
``POST /custody-events``, ``starter.py`` over files, ``fno intake``).

Each event becomes exactly one case, whose ID is derived from the force and the
custody reference. Re-sending an event starts nothing new: the result says
"already received" (same content) or "conflict" (same custody identity, different
content). An event larger than ``MAX_EVENT_BYTES``, not JSON, or failing the intake
checks (``models.event.INTAKE``) is refused with every field error and starts nothing.
A system sends only for the forces its credential names (``check_sender``): a Kent
custody system's event for Essex is refused and starts nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from identity.principal import Principal
from models.case import EncounterInput
from models.event import INTAKE, MAX_EVENT_BYTES, CustodyEvent
from models.json_input import JsonInputError, parse_json
from models.policy import Policy
from models.search import opening_search_attributes
from runtime.config import local_subject_key_secret
from workflows.encounter import EncounterWorkflow

StartStatus = Literal["started", "already_received", "conflict", "rejected"]


@dataclass
class Intake:
    """How custody events become cases: where, and under which policy. Who may send is
    proven by the systems' credentials (``identity.clients``)."""

    task_queue: str
    policy: Policy
    subject_key_secret: str


@dataclass
class StartResult:
    status: StartStatus
    case_id: str | None
    detail: str = ""

    def line(self) -> str:
        return json.dumps({"status": self.status, "case_id": self.case_id, "detail": self.detail})


# --- reading one event ------------------------------------------------------------------


class EventRefused(ValueError):
    """A custody event refused before any case is started."""


class EventTooLarge(EventRefused):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"custody event too large: {size} bytes, the limit is {MAX_EVENT_BYTES}")


class EventInvalid(EventRefused):
    """Not JSON, or failing the intake checks. ``errors``: every one, each with ``loc``
    (the path in the event; empty for the event as a whole), ``msg`` and ``type``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e["msg"]) for e in errors))


class SenderRefused(EventRefused):
    """A proven system sending for a force its credential does not name."""


def check_sender(sender: Principal, event: CustodyEvent) -> None:
    """Refuse an event for a force ``sender`` may not send for (``SenderRefused``)."""
    if not sender.may_send_for(event.force):
        mine = ", ".join(sender.forces) or "no force"
        raise SenderRefused(
            f"{sender.name} sends custody events for {mine} only; this event is for "
            f"{event.force}: nothing was started"
        )


def validate_event(item: Any) -> CustodyEvent:
    """The custody event in decoded JSON ``item``, with the checks that run only at
    intake (raises pydantic's ``ValidationError``)."""
    return CustodyEvent.model_validate(item, context=INTAKE)


def read_event(raw: bytes) -> CustodyEvent:
    """One custody event sent whole (an HTTP body): its size, its JSON, its fields."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventTooLarge(len(raw))
    try:
        body = parse_json(raw)
    except JsonInputError as exc:
        # Nested too deep, a number too long or not finite, not UTF-8, not JSON: said
        # without quoting the event.
        raise EventInvalid([{"loc": [], "msg": str(exc), "type": "json"}]) from None
    try:
        return validate_event(body)
    except ValidationError as exc:
        raise EventInvalid(
            [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def describe_validation_error(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(event)'}: {e['msg']}" for e in err.errors()
    )


def parse_events(text: str) -> list[tuple[int, Any]]:
    """(line number, decoded JSON or the decoding error) for a JSON document or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = parse_json(stripped)
        items = whole if isinstance(whole, list) else [whole]
        return [(i + 1, item) for i, item in enumerate(items)]
    except JsonInputError:
        pass
    out: list[tuple[int, Any]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(raw.encode()) > MAX_EVENT_BYTES:
            out.append((n, ValueError(f"larger than the limit of {MAX_EVENT_BYTES} bytes")))
            continue
        try:
            out.append((n, parse_json(raw)))
        except JsonInputError as err:
            out.append((n, err))
    return out


# --- starting cases ---------------------------------------------------------------------


def event_digest(event: CustodyEvent) -> str:
    """Fingerprint of the event's content, kept in the case's memo (no personal data)."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


async def start_case(
    client: Client,
    event: CustodyEvent,
    *,
    task_queue: str,
    policy: Policy,
    subject_key_secret: str | None = None,
    integrator: str = "batch intake",
) -> StartResult:
    """Start the encounter for ``event`` unless a case for it already exists.

    ``integrator`` (who sent it) is kept in the case's memo. ``subject_key_secret``
    (``FNO_SUBJECT_KEY_SECRET``) may be left out only in local mode (tests)."""
    if subject_key_secret is None:
        subject_key_secret = local_subject_key_secret()
    case_id = event.case_id()
    digest = event_digest(event)
    try:
        await client.start_workflow(
            EncounterWorkflow.run,
            EncounterInput(
                event=event,
                subject_key=event.subject.subject_key(subject_key_secret),
                policy=policy,
                search_attributes_at_start=True,
            ),
            id=case_id,
            task_queue=task_queue,
            # A custody event is one case for ever: never start it again once it has
            # completed — but a run that failed, was terminated or cancelled does not
            # hold the ID: a start that did not come through the front door (refused at
            # once by the worker) must not block the real event.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={"event_sha256": digest, "integrator": integrator},
            # Listed by kind, stage, nationality and force from the start, even before a
            # worker picks the case up (no personal data in any of them).
            search_attributes=opening_search_attributes(event),
            static_summary=f"Custody event {event.force} {event.custody_reference.upper()}",
            static_details=(
                f"Encounter ({event.reason}): ACRO check to "
                f"{', '.join(event.target_countries())} and the outcome. No personal data here."
            ),
        )
        return StartResult("started", case_id)
    except WorkflowAlreadyStartedError:
        described = await client.get_workflow_handle(case_id).describe()
        memo = await described.memo()
        if memo.get("event_sha256") == digest:
            return StartResult("already_received", case_id)
        return StartResult(
            "conflict",
            case_id,
            "a different event with the same force and custody reference was already received",
        )


async def start_all(
    client: Client,
    text: str,
    *,
    task_queue: str,
    policy: Policy,
    subject_key_secret: str | None = None,
) -> list[StartResult]:
    """A batch (``parse_events``): one result per event, in order; a bad line is
    ``rejected`` with every error and the rest go on."""
    results: list[StartResult] = []
    for n, item in parse_events(text):
        if isinstance(item, Exception):
            why = ""
            results.append(StartResult("rejected", None, f"line {n}: {why}{item}"))
            continue
        try:
            event = validate_event(item)
        except ValidationError as err:
            results.append(
                StartResult("rejected", None, f"line {n}: {describe_validation_error(err)}")
            )
            continue
        results.append(
            await start_case(
                client,
                event,
                task_queue=task_queue,
                policy=policy,
                subject_key_secret=subject_key_secret,
            )
        )
    return results


def exit_status(results: list[StartResult]) -> int:
    """A batch's exit status: 1 if any event was rejected or conflicting, else 0."""
    return 1 if any(r.status in ("rejected", "conflict") for r in results) else 0
