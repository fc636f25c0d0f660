"""Reading a case, and the access log: every read states its purpose and is logged as a
*consultation* (Data Protection Act 2018 s.62); the access log of a case, or of an actor
since a date, is for supervisors only.

A case whose state query fails (its history cannot be replayed by the current workers,
or the query itself fails) raises ``CaseUnreadable`` with a reason code, the error's
first line, whether the case is listed as stuck and what an operator should do.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from access.diagnosis import RUNNING, describe, raise_if_cannot_replay, running_replay_error
from access.errors import (
    CANNOT_REPLAY,
    QUERY_FAILED,
    AccessRefused,
    CaseNotFound,
    CaseUnreadable,
    is_replay_failure,
    safe_error,
)
from access.kinds import CaseState, kind_of
from access.stuck import ClosedProbe, closed_candidates
from store.cases import AccessLogEntry, CaseStore

AUDIT_ROLES = ("supervisor", "director")


class Reader(BaseModel):
    actor: str
    role: str
    reason: str | None


def _require_reason(reader: Reader) -> str:
    if not reader.reason or not reader.reason.strip():
        raise AccessRefused(
            "State the purpose of this read: reading a case is logged with its "
            "justification (--reason, the X-Reason header, or FNO_REASON)."
        )
    return reader.reason.strip()


async def read_case(client: Client, store: CaseStore, case_id: str, reader: Reader) -> CaseState:
    """The case's whole state; the consultation is logged once the state is read, with
    its purpose. A read that reads nothing (no such case, a case that cannot be read
    now: ``CaseUnreadable``) is not a consultation and is not logged."""
    reason = _require_reason(reader)
    handle = client.get_workflow_handle(case_id)
    # A running case whose workflow task cannot be replayed answers no query (the query
    # waits for that task, which never completes, and times out): say so at once.
    await raise_if_cannot_replay(client, case_id)
    try:
        state = await handle.query(kind_of(case_id).state_query)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(f"no case {case_id!r}") from None
        await raise_if_cannot_replay(client, case_id)  # its task began failing meanwhile
        raise
    except WorkflowQueryFailedError as err:
        raise await _unreadable(client, case_id, err.message) from None
    store.log(
        actor=reader.actor,
        role=reader.role,
        action="consultation",
        case_id=case_id,
        justification=reason,
    )
    return state  # type: ignore[no-any-return]


async def _unreadable(client: Client, case_id: str, message: str) -> CaseUnreadable:
    """Why the case's state query failed, and whether the stuck listing shows the case
    (by the listing's own rules: its failing workflow task while it runs, the default
    look at recently closed cases once closed)."""
    why = CANNOT_REPLAY if is_replay_failure(message) else QUERY_FAILED
    listed = False
    closed_at: datetime | None = None
    try:
        described = await describe(client, case_id)
        info = described.workflow_execution_info
        if info.status == RUNNING:
            listed = await running_replay_error(client, described) is not None
        else:
            if info.HasField("close_time"):
                closed_at = info.close_time.ToDatetime(tzinfo=UTC)
            candidates = await closed_candidates(client, datetime.now(UTC), ClosedProbe())
            listed = case_id in {w.id for w in candidates}
    except (RPCError, CaseNotFound):
        pass  # the answer stays: the case cannot be read
    return CaseUnreadable(
        case_id, why, safe_error(message), closed_at=closed_at, listed_as_stuck=listed
    )


def audit(
    store: CaseStore,
    reader: Reader,
    *,
    case_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> list[AccessLogEntry]:
    """The access log, for supervisors: by case, or by actor since a date."""
    if reader.role not in AUDIT_ROLES:
        raise AccessRefused(
            f"Only a supervisor may read the access log (you are acting as {reader.role})."
        )
    if case_id is None and actor is None:
        raise AccessRefused("Name a case, or an actor (with --since), to audit.")
    return store.access_log(case_id, actor=actor, since=since)
