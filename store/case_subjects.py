"""Who each case is about, for lists (issue 21): the subject's name, nationality and
date of birth per case ID, kept in the case store when the case's custody event is
recorded (an encounter) or the person is indexed (a casework case). Never in a
search attribute: lists read it from here, for those who may read the case, and each
case so labelled is logged as a consultation (``label_cases``).

A case recorded before this table has no row: a list shows it without a name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from store.access_log import commit_once
from store.case_tables import AccessLogEntry, utc_now


class CaseSubject(SQLModel, table=True):
    __tablename__ = "case_subject"
    case_id: str = Field(primary_key=True, max_length=200)
    name: str = Field(max_length=330)
    nationality: str = Field(max_length=2)
    date_of_birth: date | None = None
    at: datetime = Field(default_factory=utc_now)


class SubjectLabel(BaseModel):
    """Who a case is about, as a list shows it."""

    name: str
    nationality: str
    date_of_birth: date | None = None


class CaseSubjectsStore:
    """The part of ``CaseStore`` over ``case_subject`` (its ``engine``)."""

    engine: Engine

    def record_subject(
        self, case_id: str, *, name: str, nationality: str, date_of_birth: date | None
    ) -> bool:
        """Keep who ``case_id`` is about, once (a repeat, or a later case's, changes
        nothing: the first custody event's name stays)."""
        with Session(self.engine) as session:
            if session.get(CaseSubject, case_id) is not None:
                return False
            session.add(
                CaseSubject(
                    case_id=case_id,
                    name=name,
                    nationality=nationality,
                    date_of_birth=date_of_birth,
                )
            )
            return commit_once(session)

    def label_cases(
        self, case_ids: Iterable[str], *, actor: str, role: str, subject: str, purpose: str
    ) -> dict[str, SubjectLabel]:
        """Who each of ``case_ids`` is about (those with a row); each case labelled is
        logged as a consultation of ``actor`` for ``purpose``, in one transaction."""
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return {}
        with Session(self.engine, expire_on_commit=False) as session:
            rows = session.exec(select(CaseSubject).where(col(CaseSubject.case_id).in_(ids))).all()
            for row in rows:
                session.add(
                    AccessLogEntry(
                        actor=actor,
                        role=role,
                        subject=subject,
                        action="consultation",
                        case_id=row.case_id,
                        justification=f"case list, who the case is about: {purpose}",
                    )
                )
            session.commit()
            return {
                r.case_id: SubjectLabel(
                    name=r.name, nationality=r.nationality, date_of_birth=r.date_of_birth
                )
                for r in rows
            }
