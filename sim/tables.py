"""The simulated world's own tables (``sim_*``; not the product's, not migrated).

Side effects are kept keyed by the caller's idempotency key: a repeated call does
nothing new and returns the first answer, and tests count effects to prove each
happened exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SqlField
from sqlmodel import Session, SQLModel


# Tables ----------------------------------------------------------------------
class SimEffect(SQLModel, table=True):
    __tablename__ = "sim_effect"
    key: str = SqlField(primary_key=True, max_length=400)
    system: str = SqlField(index=True, max_length=20)
    action: str = SqlField(index=True, max_length=60)
    subject_key: str = SqlField(index=True, max_length=40)
    result: str = SqlField(default="")
    at: datetime | None = None


class SimCertificate(SQLModel, table=True):
    """What the country sent; content emptied for real when the certificate is destroyed."""

    __tablename__ = "sim_certificate"
    request_ref: str = SqlField(primary_key=True, max_length=200)
    subject_key: str = SqlField(index=True, max_length=40)
    country: str = SqlField(max_length=2)
    purpose: str = SqlField(max_length=40)
    requested_at: datetime
    content: str | None = None
    destroyed: bool = False


def record_effect_once(engine: Engine, effect: SimEffect) -> tuple[str, bool]:
    """Record a simulated side effect once per key: (its result, whether it was done
    now). A repeat, or a concurrent attempt that got there first, gets the first result."""
    key, result = effect.key, effect.result  # read before the commit expires the row
    with Session(engine) as session:
        found = session.get(SimEffect, key)
        if found is not None:
            return found.result, False
        session.add(effect)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            again = session.get(SimEffect, key)
            return (again.result if again else result), False
    return result, True


class SimPush(SQLModel, table=True):
    """The world service's pushes of replies to the product (``sim.pusher``): one row
    per request, its state kept so a restarted service neither loses nor re-sends one.

    ``state``: ``waiting`` (its time not come, or retrying), ``pushed`` (the product
    answered 2xx), ``dropped`` (marked pushed, never sent: a lost message), ``refused``
    (the product answered a 4xx other than 429: not retried), ``never`` (the country
    never replies), ``destroyed`` (the certificate went first). Times are UTC."""

    __tablename__ = "sim_push"
    request_ref: str = SqlField(primary_key=True, max_length=200)
    reply_id: str = SqlField(default="", max_length=220)
    state: str = SqlField(index=True, max_length=20)
    due_at: datetime | None = None
    next_at: datetime | None = SqlField(default=None, index=True)
    attempts: int = 0  # POSTs that did not get a 2xx
    sends: int = 0  # POSTs answered 2xx (more than one only across a crash)
    last_code: int | None = None
    status: str = SqlField(default="", max_length=40)  # the product's answer
    done_at: datetime | None = None


class SimSetting(SQLModel, table=True):
    """The world service's settings that outlive a restart (its run-time faults)."""

    __tablename__ = "sim_setting"
    name: str = SqlField(primary_key=True, max_length=60)
    value: str = ""
