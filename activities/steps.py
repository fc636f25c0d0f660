"""Activities: every step of the process that touches another system.

Each is a thin adapter over a gateway (``activities.gateways``): the simulator by
default, a real system by configuration. Each passes the step's idempotency key
through, so a retry, a crash or a replay does the thing once. A gateway's
permanent refusal becomes a non-retryable ``ApplicationError`` that the workflow
records on the case; anything else is retried with backoff.

``CaseActivities`` gathers the case process's activities: the encounter's
(``activities.encounter_steps``), Criminal Casework's (``activities.casework_steps``)
and the core's (``activities.core``).
"""

from __future__ import annotations

from activities.casework_steps import CaseworkActivities
from activities.deportation_steps import DeportationActivities
from activities.encounter_steps import EncounterActivities
from activities.gateways import Gateways
from activities.located_checklist import LocatedChecklistActivities
from activities.located_steps import LocatedActivities
from store.cases import CaseStore


class CaseActivities(
    EncounterActivities,
    CaseworkActivities,
    LocatedActivities,
    DeportationActivities,
    LocatedChecklistActivities,
):
    """The activities of both workflows, over one set of gateways and the case store,
    with the core's (``activities.core.CoreActivities``: recording a decision).
    ``all()`` lists every one of them for a worker of the case process."""

    def __init__(self, gateways: Gateways, store: CaseStore) -> None:
        super().__init__(store)
        self.g = gateways
