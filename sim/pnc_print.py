"""The simulated systems' side of the located checklist (issue 21, DOMAIN.md step 8):
the subject's PNC print (the offences recorded on the PNC for them: a conviction ACRO
could not record, ``ConvictionSpec.recordable_on_pnc`` false, is not on it), a further
ACRO check, and the investigating officer told of CC's interest.

A part of ``sim.world.Simulator``; its effects are kept as the rest are (``sim_effect``,
once per idempotency key).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from sim.tables import SimEffect
from sim.world_file import System


def _ref(prefix: str, key: str) -> str:
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:8].upper()


class ChecklistSimulator:
    """The checklist's steps; the rest of the world is ``sim.world.Simulator``."""

    engine: Engine

    def _effect(
        self,
        key: str,
        system: System,
        action: str,
        subject_key: str,
        result: str = "",
        at: datetime | None = None,
    ) -> tuple[str, bool]:
        raise NotImplementedError

    def pnc_print(self, key: str, subject_key: str) -> list[str]:
        """The offence codes on the subject's PNC record (the print is counted once per key)."""
        self._effect(key, "pnc", "pnc_print_obtained", subject_key)
        with Session(self.engine) as session:
            rows = session.exec(
                select(SimEffect).where(
                    SimEffect.subject_key == subject_key,
                    SimEffect.action == "conviction_recorded",
                )
            )
            return sorted({e.result for e in rows})

    def request_further_check(self, key: str, subject_key: str, as_of: datetime) -> str:
        """A further ACRO check (offending abroad since the referral): its reference."""
        ref = _ref("ACRO-FC-", key)
        return self._effect(key, "acro", "further_check_requested", subject_key, ref, as_of)[0]

    def tell_investigating_officer(self, key: str, case_id: str, subject_key: str) -> str:
        """The investigating officer told of CC's interest and asked what they hold."""
        ref = _ref("IO-", key)
        return self._effect(key, "police", "investigating_officer_contacted", subject_key, ref)[0]
