"""The simulated Home Office correspondence, ICE and ACRO of Stage 1 to removal (issue 21,
h2): notices served by a means (the service time comes back: served in person, via the
prison or to a representative on the day; by recorded post deemed served two days
after posting), the deportation order, ICE asked to detain with an evidence reference,
the submission to the CC Director, ACRO told an appeal was allowed, and the
notifications after removal, each with a reference.

A part of ``sim.world.Simulator``; its effects are kept as the rest are (``sim_effect``,
once per idempotency key: the same key gives the first answer again, one side effect).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sim.world_file import System

POSTED_DAYS = 2  # recorded post: deemed served on the second day after posting


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}-" + hashlib.sha256(key.encode()).hexdigest()[:10].upper()


class NoticesSimulator:
    """Notices, the order, ICE detention and the notifications; the rest of the world is
    ``sim.world.Simulator``."""

    def _days(self, n: float) -> timedelta:
        raise NotImplementedError

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

    def serve_notice_by(
        self, key: str, subject_key: str, notice: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]:
        """Serve ``notice`` by ``means``: its reference and when it was served (both
        follow from the key and the request, the same again on a repeat)."""
        served = as_of + (self._days(POSTED_DAYS) if means == "recorded_post" else timedelta(0))
        self._effect(key, "correspondence", "notice_served", subject_key, notice, served)
        return _ref("NOT", key), served

    def serve_deportation_order(
        self, key: str, subject_key: str, means: str, as_of: datetime
    ) -> tuple[str, datetime]:
        served = as_of + (self._days(POSTED_DAYS) if means == "recorded_post" else timedelta(0))
        self._effect(key, "correspondence", "deportation_order_served", subject_key, means, served)
        return _ref("DO", key), served

    def request_detention_with_evidence(self, key: str, subject_key: str, evidence_ref: str) -> str:
        self._effect(f"{key}:evidence", "ice", "detention_evidence", subject_key, evidence_ref)
        return self._effect(key, "ice", "asked_to_detain", subject_key, _ref("ICED", key))[0]

    def submit_to_director_with(self, key: str, subject_key: str, document_id: str) -> str:
        self._effect(
            f"{key}:document", "correspondence", "submission_document", subject_key, document_id
        )
        return self._effect(
            key, "correspondence", "director_submission", subject_key, _ref("SUB", key)
        )[0]

    def advise_acro_appeal_allowed(self, key: str, subject_key: str) -> str:
        return self._effect(key, "acro", "advised_appeal_allowed", subject_key, _ref("ACRO", key))[
            0
        ]

    def notify_with_refs(
        self, key: str, subject_key: str, recipients: list[str], subject_line: str
    ) -> dict[str, str]:
        return {
            r: self._effect(
                f"{key}:{r}", "correspondence", "notified", subject_key, _ref("N", f"{key}:{r}")
            )[0]
            for r in recipients
        }
