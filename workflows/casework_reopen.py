"""Criminal Casework: a closed case reopened, with its history (issue 21).

A closed case is reopened as a new run of the same workflow ID, started through the
front door (``access.reopening``) with the closed run's state and a
``models.casework_progress.Reopening``: wrongly closed, or the subject returned to the
UK after leaving (or after removal). The reopening is recorded on the timeline (who,
why, the grounds, the previous outcome) and in ``progress.reopenings``; the outcome and
``closed_at`` are cleared; every decision taken once the subject was located is reset,
so the case goes back to allocation (a subject who returned is here again: located,
to be allocated). The timeline before it is kept whole.

Steps run again: their idempotency keys carry the reopening's number
(``CaseworkCase.key``), so the systems called do not take them for repeats of the
first closure's.

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from types import MappingProxyType

from temporalio import workflow

from workflows.casework_case import CaseworkCase
from workflows.changes import CASE_REOPENED

with workflow.unsafe.imports_passed_through():
    from models.case import Outcome
    from models.casework_progress import Progress, Reopening

GROUNDS = MappingProxyType(
    {
        "wrongly_closed": "the case was wrongly closed",
        "returned_to_uk": "the subject has returned to the UK",
    }
)


class Reopen(CaseworkCase):
    """The start of a reopened run of ``CriminalCaseworkWorkflow``."""

    _reopened = False
    _notified: set[str]  # the referring encounters told of the outcome (``conclude``)

    def take_reopening(self, reopen: Reopening | None) -> bool:
        """Whether this run reopens a closed case: if so, it is recorded and the case
        made ready for allocation (``run`` goes on from there)."""
        if reopen is None or not workflow.patched(CASE_REOPENED):
            return False
        s = self.s
        previous = s.outcome.name if s.outcome is not None else reopen.previous_outcome
        reopening = reopen.model_copy(update={"previous_outcome": previous})
        s.progress.reopenings.append(reopening)
        self._reopened = True
        self.record(
            "step",
            f"Case reopened: {GROUNDS[reopen.grounds]}; back to allocation to a CC case owner",
            actor=reopen.by,
            role=reopen.role,
            reason=reopen.reason,
            grounds=reopen.grounds,
            previous_outcome=previous,
            reopening=len(s.progress.reopenings),
            actor_id=reopen.by_id,
        )
        s.outcome = None
        s.closed_at = None
        if reopen.grounds == "returned_to_uk" or previous == Outcome.LEFT_UK.name:
            s.left_uk = False
        # Every decision since the subject was located is taken again.
        s.located = False
        s.case_owner = None
        s.whereabouts = None
        s.in_custody = None
        s.detained = None
        s.detention_power = None
        s.serving_prison_sentence = False
        s.stage1_notice = None
        s.deportation_decision = None
        s.not_pursued_by = None
        s.not_pursued_by_id = None
        s.director_approved = None
        s.overdue = []
        s.deadlines = []
        s.progress = Progress(
            references=dict(s.progress.references),
            reopenings=list(s.progress.reopenings),
        )
        # The referring encounters were told of the first outcome; they have ended.
        self._notified.update(r.encounter_id for r in s.referrals)
        return True

    @property
    def reopened(self) -> bool:
        return self._reopened
