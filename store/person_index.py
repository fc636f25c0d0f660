"""The person index (migration 0006): which Criminal Casework case a person is, by keys
that reveal nothing of them.

A subject referred to Criminal Casework is indexed under their keys
(``models.person_match.person_keys``: HMACs of the PNC ID, and of each name variant ×
date of birth × nationality, under ``FNO_SUBJECT_KEY_SECRET``), each row pointing at
the casework workflow ID. A new custody event looks its own keys up
(``activities.located_steps``) to find an open case of the same person, even without
the PNC ID and under an alias. No name, date of birth or PNC ID is stored in clear.

Adding is idempotent (a row per key and case, the pair unique); rows are never
removed by the product — a key pointing at a closed case matches nothing, since only a
running casework case is told.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from models.person_match import KeyKind


def _now() -> datetime:
    return datetime.now(UTC)


class PersonIndexEntry(SQLModel, table=True):
    __tablename__ = "person_index"
    key: str = Field(primary_key=True, max_length=64, description="HMAC of a PNC ID or name.")
    casework_id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=10, description="pnc | name")
    indexed_at: datetime = Field(default_factory=_now)


class PersonIndex:
    """The index over the case store's engine (its schema at 0006 or later)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, keys: Iterable[tuple[KeyKind, str]], casework_id: str) -> int:
        """Point each of ``keys`` at ``casework_id``; answer how many were new."""
        wanted = dict((key, kind) for kind, key in keys)
        if not wanted:
            return 0
        with Session(self.engine) as session:
            have = set(
                session.exec(
                    select(PersonIndexEntry.key).where(
                        PersonIndexEntry.casework_id == casework_id,
                        col(PersonIndexEntry.key).in_(list(wanted)),
                    )
                )
            )
            new = [k for k in wanted if k not in have]
            for key in new:
                session.add(PersonIndexEntry(key=key, casework_id=casework_id, kind=wanted[key]))
            try:
                session.commit()
            except IntegrityError:  # a concurrent attempt added some first: one by one
                session.rollback()
                return self._add_one_by_one(new, wanted, casework_id)
        return len(new)

    def _add_one_by_one(self, new: list[str], wanted: Mapping[str, str], casework_id: str) -> int:
        added = 0
        for key in new:
            with Session(self.engine) as session:
                if session.get(PersonIndexEntry, (key, casework_id)) is not None:
                    continue
                session.add(PersonIndexEntry(key=key, casework_id=casework_id, kind=wanted[key]))
                try:
                    session.commit()
                    added += 1
                except IntegrityError:
                    session.rollback()
        return added

    def cases_of(self, keys: Iterable[tuple[KeyKind, str]]) -> list[str]:
        """The casework IDs any of ``keys`` points at, oldest indexing first, each once."""
        wanted = [key for _, key in keys]
        if not wanted:
            return []
        with Session(self.engine) as session:
            rows = session.exec(
                select(PersonIndexEntry)
                .where(col(PersonIndexEntry.key).in_(wanted))
                .order_by(col(PersonIndexEntry.indexed_at))
            )
            return list(dict.fromkeys(r.casework_id for r in rows))

    def same_person(self, keys: Iterable[tuple[KeyKind, str]]) -> list[str]:
        """The casework IDs of the same person: by PNC ID, or by name (or alias), date
        of birth and nationality — unless the event names a PNC ID and the case's person
        has another (two PNC IDs: two people, however alike their names). Oldest first."""
        keys = list(keys)
        wanted = [key for _, key in keys]
        if not wanted:
            return []
        has_pnc = any(kind == "pnc" for kind, _ in keys)
        with Session(self.engine) as session:
            rows = list(
                session.exec(
                    select(PersonIndexEntry)
                    .where(col(PersonIndexEntry.key).in_(wanted))
                    .order_by(col(PersonIndexEntry.indexed_at))
                )
            )
            by_pnc = {r.casework_id for r in rows if r.kind == "pnc"}
            by_name = {r.casework_id for r in rows if r.kind == "name"} - by_pnc
            other_pnc: set[str] = set()
            if has_pnc and by_name:
                other_pnc = set(
                    session.exec(
                        select(PersonIndexEntry.casework_id).where(
                            PersonIndexEntry.kind == "pnc",
                            col(PersonIndexEntry.casework_id).in_(sorted(by_name)),
                        )
                    )
                )
        same = by_pnc | (by_name - other_pnc)
        return list(dict.fromkeys(r.casework_id for r in rows if r.casework_id in same))
