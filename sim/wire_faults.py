"""The world service's faults on the wire, set at run time (``POST /_world/faults``)
for the chaos test: answers made slow, answers of 503, replies dropped (marked pushed,
never sent: a lost message, for the product's safety net to find with ``fetch_reply``).

Kept in the world's database (``sim_setting``), so a killed and restarted service goes
on as it was told. The world file's own faults (``FaultSpec``) work as before, besides.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

from sim.tables import SimPush, SimSetting

_NAME = "wire_faults"


class WireFaults(BaseModel):
    slow_seconds: float = Field(default=0.0, ge=0, le=600, description="Each answer this late.")
    error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of gateway calls answered 503, before the work."
    )
    drop_replies: bool = Field(default=False, description="Every reply due is dropped.")
    drop_rate: float = Field(default=0.0, ge=0, le=1, description="Share of replies dropped.")


def ensure_tables(engine: Engine) -> None:
    own = [SimPush.__table__, SimSetting.__table__]  # type: ignore[attr-defined]
    SQLModel.metadata.create_all(engine, tables=own)


def load_faults(engine: Engine) -> WireFaults:
    with Session(engine) as session:
        row = session.get(SimSetting, _NAME)
        return WireFaults.model_validate_json(row.value) if row else WireFaults()


def save_faults(engine: Engine, faults: WireFaults) -> None:
    with Session(engine) as session:
        row = session.get(SimSetting, _NAME) or SimSetting(name=_NAME)
        row.value = faults.model_dump_json()
        session.add(row)
        session.commit()
