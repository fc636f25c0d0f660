"""Start encounter cases from custody events: the integrators' entry point.

    python starter.py FILE|-     # one JSON object, a JSON array, or JSON Lines

Each event becomes exactly one case, whose ID is derived from the force and the
custody reference. Re-sending an event starts nothing new: the line says
"already received" (same content) or "conflict" (same custody identity, different
content). A bad line is reported with every field error and the rest go on; the
exit status is non-zero if any event was rejected.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.case import EncounterInput
from models.event import INTAKE, MAX_EVENT_BYTES, CustodyEvent
from models.policy import Policy
from models.search import opening_search_attributes
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from workflows.encounter import EncounterWorkflow

StartStatus = Literal["started", "already_received", "conflict", "rejected"]


@dataclass
class StartResult:
    status: StartStatus
    case_id: str | None
    detail: str = ""

    def line(self) -> str:
        return json.dumps({"status": self.status, "case_id": self.case_id, "detail": self.detail})


def event_digest(event: CustodyEvent) -> str:
    """Fingerprint of the event's content, kept in the case's memo (no personal data)."""
    return hashlib.sha256(event.model_dump_json().encode()).hexdigest()


async def start_case(
    client: Client,
    event: CustodyEvent,
    *,
    task_queue: str,
    policy: Policy,
    subject_key_secret: str = LOCAL_SUBJECT_KEY_SECRET,
    integrator: str = "batch intake",
) -> StartResult:
    """Start the encounter for ``event`` unless a case for it already exists.

    ``integrator`` (who sent it) is kept in the case's memo."""
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
            # A custody event is one case for ever: never start it again, even closed.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
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


def parse_events(text: str) -> list[tuple[int, Any]]:
    """(line number, decoded JSON or the decoding error) for a JSON document or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = json.loads(stripped)
        items = whole if isinstance(whole, list) else [whole]
        return [(i + 1, item) for i, item in enumerate(items)]
    except json.JSONDecodeError:
        pass
    out: list[tuple[int, Any]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(raw.encode()) > MAX_EVENT_BYTES:
            out.append((n, ValueError(f"larger than the limit of {MAX_EVENT_BYTES} bytes")))
            continue
        try:
            out.append((n, json.loads(raw)))
        except json.JSONDecodeError as err:
            out.append((n, err))
    return out


def describe_validation_error(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(event)'}: {e['msg']}" for e in err.errors()
    )


async def start_all(
    client: Client,
    text: str,
    *,
    task_queue: str,
    policy: Policy,
    subject_key_secret: str = LOCAL_SUBJECT_KEY_SECRET,
) -> list[StartResult]:
    results: list[StartResult] = []
    for n, item in parse_events(text):
        if isinstance(item, Exception):
            why = "not JSON: " if isinstance(item, json.JSONDecodeError) else ""
            results.append(StartResult("rejected", None, f"line {n}: {why}{item}"))
            continue
        try:
            event = CustodyEvent.model_validate(item, context=INTAKE)
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


async def main(argv: list[str]) -> int:
    from runtime.config import Settings, connect
    from runtime.logs import configure_logging

    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    # Read whole before connecting: a batch file is small, and a bad path fails fast.
    text = sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text("utf-8")  # noqa: ASYNC240
    client = await connect()
    results = await start_all(
        client,
        text,
        task_queue=settings.task_queue,
        policy=settings.policy,
        subject_key_secret=settings.subject_key_secret,
    )
    for r in results:
        print(r.line())
    return 1 if any(r.status in ("rejected", "conflict") for r in results) else 0


if __name__ == "__main__":
    from runtime.shutdown import run_and_exit

    run_and_exit(lambda: main(sys.argv[1:]))
