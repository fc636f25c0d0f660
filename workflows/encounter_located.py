"""The encounter's part in "located later" (DOMAIN.md step 7) and corrections of its
custody event (step 1): a mixin of ``EncounterWorkflow``.

- ``told_open_casework``: registering the event (``register_encounter``,
  ``activities.located_steps``) also looks for an open Criminal Casework case of the
  same person (the person index, by PNC ID or by name or alias with date of birth and
  nationality) and tells it the subject is located — at this force, since the
  encounter (``InCustody``); the encounter records that it did (``told_by``). Every
  reason counts: a victim or a witness is located as much as an arrested person (the
  police met them, and know where). No command of its own, so no patch: an encounter
  registered before the lookup sent no subject and its recorded result is empty.
- ``amend_event`` (an update): the integrator's correction of the event
  (``EventAmendment``; ``POST /custody-events/{case_id}/amendments``) replaces the
  corrected fields and records a timeline step naming the fields, never their values.
  The same ``amendment_id`` again changes nothing. A closed case takes none. An update
  issues no command, so no patch: a history has one only when an amendment was sent.
  The person index is brought up to date by the route (``access.amendments``).

No I/O here: models and activities come in through passed-through imports.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.base import CaseWorkflow

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from models.case import EncounterState, Stage
    from models.event import Subject
    from models.located import (
        AMEND_EVENT_UPDATE,
        AmendmentResult,
        EventAmendment,
        LocatedResult,
    )

# The ApplicationError type of an amendment the case refuses because it is closed.
AMENDMENT_CASE_CLOSED = "case_closed"


def told_by(state: EncounterState) -> list[str]:
    """The casework cases this encounter told the subject is located. Kept on the
    timeline only, in entries naming the ``casework_id``: a police officer's view of the
    encounter withholds those (``access.policy.redact``), as all of Criminal Casework."""
    return [
        e.data["casework_id"]
        for e in state.timeline
        if e.data.get("located_by") == "custody_event" and "casework_id" in e.data
    ]


class LocatedEncounter(CaseWorkflow):
    s: EncounterState

    def told_open_casework(self, result: LocatedResult | None) -> None:
        """Record the open Criminal Casework cases the registration told (none for an
        encounter registered before the lookup: its recorded result is empty)."""
        if result is None:
            return
        event = self.s.event
        for casework_id in result.told:
            if casework_id in told_by(self.s):
                continue
            self.record(
                "step",
                f"The subject has an open Criminal Casework case: told it the subject is "
                f"located ({event.reason}, {event.force})",
                casework_id=casework_id,
                located_by="custody_event",
            )

    @workflow.update(name=AMEND_EVENT_UPDATE)
    def amend_event(self, amendment: EventAmendment) -> AmendmentResult:
        """Replace the corrected fields of the custody event, once per amendment ID."""
        correction = amendment.correction
        if correction.amendment_id in self.s.amendments_applied:
            return AmendmentResult(applied=False, casework_id=self.s.casework_id)
        event = self.s.event
        updates: dict[str, Any] = {}
        changed: list[str] = []
        if correction.subject is not None:
            given = correction.subject.given()
            changed = [f"subject.{k}" for k, v in given.items() if getattr(event.subject, k) != v]
            updates["subject"] = event.subject.model_copy(update=given)
        if correction.whereabouts is not None:
            if correction.whereabouts != event.whereabouts:
                changed.append("whereabouts")
            updates["whereabouts"] = correction.whereabouts
        self.s.event = event.model_copy(update=updates)
        self.s.amendments_applied.append(correction.amendment_id)
        if changed:
            self.record(
                "step",
                f"Custody event corrected by {amendment.by}: {', '.join(changed)}",
                actor=amendment.by,
                role="system",
                fields=changed,
                amendment_id=correction.amendment_id,
                actor_id=amendment.by_id,
            )
        return AmendmentResult(applied=True, changed=changed, casework_id=self.s.casework_id)

    @amend_event.validator
    def _validate_amendment(self, amendment: EventAmendment) -> None:
        if self.s.stage is Stage.CLOSED:
            raise ApplicationError(
                f"Refused: the case is closed ({self.s.outcome}); its custody event can no "
                "longer be corrected.",
                type=AMENDMENT_CASE_CLOSED,
            )
        if self._renewing:
            raise ApplicationError(
                "Refused for now: the case is renewing its history; send the amendment again."
            )
        subject = amendment.correction.subject
        if subject is not None:
            try:  # the checks that need no clock (the door ran those that do)
                Subject.model_validate(self.s.event.subject.model_dump() | subject.given())
            except ValidationError as err:
                fields = ", ".join(".".join(map(str, e["loc"])) for e in err.errors())
                raise ApplicationError(f"Refused: invalid correction of {fields}") from None
