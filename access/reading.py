"""Reading a case, and the access log: every read is first allowed by the need-to-know
policy (``access.policy``: refused before anything is read), states its purpose and is
logged as a *consultation* (Data Protection Act 2018 s.62) naming the proven person —
their name, role and subject; a police officer gets their own force's encounters,
redacted (``access.policy.RedactedEncounter``: no certificates). The access log of a
case, or of an actor since a date, is for supervisors and the Director.

    await read_case(client, store, case_id, principal, reason=None) -> CaseState
    audit(store, principal, *, case_id=None, actor=None, since=None) -> [AccessLogEntry]

The timeline read carries the case's refused decisions from the case store's refusal
log (``store.cases.RefusalLog``: a refusal writes nothing to Temporal), merged by time,
entries of kind ``refusal``: the newest kept, and one entry counting the older ones the
log no longer keeps.

A case whose state query fails (its history cannot be replayed by the current workers,
or the query itself fails) raises ``CaseUnreadable`` with a reason code, the error's
first line, whether the case is listed as stuck and what an operator should do.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

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
from access.policy import Access, Capability, redact, require, require_read, resolve_case
from access.stuck import ClosedProbe, closed_candidates
from identity.principal import Principal
from models.case import EncounterState, TimelineEntry
from runtime.logs import get_logger
from store.cases import AccessLogEntry, CaseStore, RefusalLog

log = get_logger("fno.access")


def _require_reason(stated: str | None, principal: Principal) -> str:
    reason = (stated or "").strip() or (principal.reason or "").strip()
    if not reason:
        raise AccessRefused(
            "State the purpose of this read: reading a case is logged with its "
            "justification (--reason, the X-Reason header, or FNO_REASON)."
        )
    return reason


async def read_case(
    client: Client,
    store: CaseStore,
    case_id: str,
    principal: Principal,
    reason: str | None = None,
) -> CaseState:
    """The case's state as ``principal`` may see it, read for ``reason`` (the stated
    purpose; else the principal's default purpose). The policy is asked first
    (``NotPermitted``: nothing read, nothing logged); the consultation is logged once
    the state is read. A read that reads nothing (no such case, a case that cannot be
    read now: ``CaseUnreadable``) is not a consultation and is not logged."""
    ref = await resolve_case(client, case_id, principal)
    try:
        access = require_read(principal, ref)
    except AccessRefused as err:
        code = getattr(err, "code", "not_permitted")
        log.warning("read refused", case_id=case_id, kind=ref.kind, role=principal.role, why=code)
        raise
    purpose = _require_reason(reason, principal)
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
    refused = await asyncio.to_thread(store.refusals, case_id)
    if refused.total:
        state = state.model_copy(update={"timeline": with_refusals(list(state.timeline), refused)})
    if access is Access.REDACTED:
        if not isinstance(state, EncounterState):  # the policy redacts encounters only
            raise AccessRefused(f"case {case_id} has no redacted view")
        state = redact(state)
    store.log(
        actor=principal.name,
        role=principal.role,
        subject=principal.subject,
        action="consultation",
        case_id=case_id,
        justification=purpose,
    )
    return state  # type: ignore[no-any-return]


def with_refusals(timeline: list[TimelineEntry], refused: RefusalLog) -> list[TimelineEntry]:
    """``timeline`` with the refusals of the case store's log, by time (a stable sort:
    entries at the same moment keep their order, the case's own first)."""
    entries = [
        TimelineEntry(
            at=r.at,
            kind="refusal",
            text=f"{r.kind.replace('_', ' ')} refused: {r.reason}",
            actor=r.actor,
            role=r.role,
            data={"code": r.code, "decision_kind": r.kind},
        )
        for r in refused.entries
    ]
    if refused.dropped and refused.first_at is not None:
        until = refused.entries[0].at if refused.entries else refused.first_at
        entries.insert(
            0,
            TimelineEntry(
                at=refused.first_at,
                kind="refusal",
                text=f"{refused.dropped} earlier refused decision(s) between "
                f"{refused.first_at:%Y-%m-%d %H:%M} and {until:%Y-%m-%d %H:%M} UTC: "
                f"counted, not kept (the log keeps the newest {len(refused.entries)})",
                data={"code": "refusals_not_kept", "count": refused.dropped},
            ),
        )
    return sorted([*timeline, *entries], key=lambda e: _utc(e.at))


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
    principal: Principal,
    *,
    case_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> list[AccessLogEntry]:
    """The access log, for supervisors and the Director: by case, or by actor (a name
    or a subject) since a date."""
    require(principal, Capability.AUDIT)
    if case_id is None and actor is None:
        raise AccessRefused("Name a case, or an actor (with --since), to audit.")
    return store.access_log(case_id, actor=actor, since=since)
