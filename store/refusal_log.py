"""The case store's refusal log: the decisions a case refused (``RefusalEntry``), kept
here, never in the case's Temporal history — the newest ``REFUSALS_KEPT`` per case and a
count of all (``RefusalTally``). ``CaseStore`` has these methods (``store.cases``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, SQLModel, col, select

from store.access_log import commit_once
from store.case_tables import RefusalEntry, RefusalTally, utc_now

# The refusals kept per case, newest first; older ones are counted, not kept.
REFUSALS_KEPT = 100


class RefusalLog(SQLModel):
    """A case's refusals as kept: ``entries`` oldest first (at most the number kept),
    ``total`` ever recorded, ``dropped`` of them no longer kept individually (the oldest),
    ``first_at`` the time of the first of all."""

    entries: list[RefusalEntry]
    total: int = 0
    first_at: datetime | None = None

    @property
    def dropped(self) -> int:
        return max(self.total - len(self.entries), 0)


class RefusalLogStore:
    """The refusal log's part of ``CaseStore`` (over its ``engine``)."""

    engine: Engine

    def record_refusal(
        self,
        case_id: str,
        *,
        kind: str,
        actor: str,
        role: str,
        subject: str | None,
        code: str,
        reason: str,
        at: datetime | None = None,
        keep: int = REFUSALS_KEPT,
    ) -> None:
        """Log one refused decision on ``case_id``, count it, and forget the case's
        oldest beyond the newest ``keep`` (one transaction: a flood of refusals keeps
        the log's size per case bounded, and the tally says how many there were)."""
        when = at or utc_now()
        entry = RefusalEntry(
            case_id=case_id,
            at=when,
            kind=kind[:60],
            actor=actor[:120],
            role=role[:40],
            subject=subject[:300] if subject else None,
            code=code[:60],
            reason=reason[:2000],
        )
        self._ensure_tally(case_id, when)
        with Session(self.engine) as session:
            # The counter is raised in the database (concurrent refusals all count).
            session.exec(  # type: ignore[call-overload]
                update(RefusalTally)
                .where(col(RefusalTally.case_id) == case_id)
                .values(total=RefusalTally.total + 1, last_at=when)
            )
            session.add(entry)
            session.flush()
            newest = (
                select(RefusalEntry.id)
                .where(RefusalEntry.case_id == case_id)
                .order_by(col(RefusalEntry.id).desc())
                .limit(max(keep, 0))
            )
            kept = list(session.exec(newest))
            if kept:
                session.exec(  # type: ignore[call-overload]
                    delete(RefusalEntry).where(
                        col(RefusalEntry.case_id) == case_id,
                        col(RefusalEntry.id) < min(k for k in kept if k is not None),
                    )
                )
            session.commit()

    def _ensure_tally(self, case_id: str, at: datetime) -> None:
        with Session(self.engine) as session:
            if session.get(RefusalTally, case_id) is not None:
                return
            session.add(RefusalTally(case_id=case_id, total=0, first_at=at, last_at=at))
            commit_once(session)  # a concurrent first refusal made it: the same

    def refusals(self, case_id: str) -> RefusalLog:
        """The case's refusal log: the kept entries, oldest first, and the tally."""
        with Session(self.engine) as session:
            tally = session.get(RefusalTally, case_id)
            if tally is None:
                return RefusalLog(entries=[])
            rows = session.exec(
                select(RefusalEntry)
                .where(RefusalEntry.case_id == case_id)
                .order_by(col(RefusalEntry.id))
            )
            return RefusalLog(entries=list(rows), total=tally.total, first_at=tally.first_at)
