"""Located later (DOMAIN.md step 7): the person index, and telling an open Criminal
Casework case that a new custody event has located its subject.

- ``index_person``: the referral (``refer_to_criminal_casework``) indexes the subject
  under their keys (``models.person_match``: HMACs of the PNC ID and of each name
  variant × date of birth × nationality), pointing at the casework workflow ID.
- ``register_encounter`` (an activity): the custody event's record in the case store
  (the collection logged); then its subject's keys are looked up, and also its own
  subject key's casework ID (a case referred before the index existed); each candidate
  whose workflow is RUNNING is signalled ``subject_in_custody`` with
  ``InCustody(encounter_id, force, since)``. The case takes one signal per encounter,
  so a retried activity is harmless. One activity, not two: the lookup adds no event
  to any encounter's history (an encounter recorded before it sends no subject, and
  gets no lookup).

The keys are made under ``FNO_SUBJECT_KEY_SECRET`` (``runtime.config``), read here,
never passed through a workflow. Part of ``CaseActivities`` (``activities.steps``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from activities.core import CoreActivities, refusals_surface
from models.case import SUBJECT_IN_CUSTODY_SIGNAL, InCustody, casework_id_for
from models.event import Subject
from models.located import LocatedResult
from models.person_match import person_keys
from models.steps import EncounterOpened
from runtime.config import subject_key_secret
from store.cases import EncounterRecord
from store.person_index import PersonIndex

log = structlog.get_logger("fno.activities")
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


class LocatedActivities(CoreActivities):
    """The person index and the re-arrest lookup, over the case store's engine."""

    # The HMAC's secret; None: ``FNO_SUBJECT_KEY_SECRET`` (the worker checked it at start).
    person_key_secret: str | None = None

    def _secret(self) -> str:
        return self.person_key_secret or subject_key_secret()

    def index_person(self, subject: Subject, casework_id: str) -> int:
        """Index ``subject`` as the person of ``casework_id`` (idempotent)."""
        added = PersonIndex(self.store.engine).add(
            person_keys(subject, self._secret()), casework_id
        )
        self._record_subject(casework_id, subject)  # issue 21 (h4): who, for lists
        log.info("person indexed", casework_id=casework_id, keys=added)
        return added

    @activity.defn(name="register_encounter")
    async def register_encounter(self, req: EncounterOpened) -> LocatedResult | None:
        """The custody event's record; then an open casework case of the person is told."""
        await asyncio.to_thread(self._record_encounter, req)
        if req.subject is None or req.encountered_at is None:
            return None  # an encounter recorded before the lookup
        return await self._tell_open_casework(req, req.subject, req.encountered_at)

    @refusals_surface
    def _record_encounter(self, req: EncounterOpened) -> None:
        self.store.open_encounter(
            EncounterRecord(
                case_id=req.case_id,
                force=req.force,
                custody_reference=req.custody_reference,
                reason=req.reason,
                nationality=req.nationality,
                subject_key=req.subject_key,
                opened_at=req.opened_at,
            ),
            officer=req.officer,
        )
        if req.subject is not None:
            self._record_subject(req.case_id, req.subject)

    def _record_subject(self, case_id: str, subject: Subject) -> None:
        """Who the case is about, for lists (``store.case_subjects``; once per case)."""
        self.store.record_subject(
            case_id,
            name=f"{subject.given_names} {subject.family_name}",
            nationality=subject.nationality,
            date_of_birth=subject.date_of_birth,
        )

    async def _tell_open_casework(
        self, req: EncounterOpened, subject: Subject, encountered_at: datetime
    ) -> LocatedResult:
        keys = person_keys(subject, self._secret())
        found = await asyncio.to_thread(PersonIndex(self.store.engine).same_person, keys)
        candidates = list(dict.fromkeys([*found, casework_id_for(req.subject_key)]))
        told: list[str] = []
        for casework_id in candidates:
            if not await self._running(casework_id):
                continue
            await (
                activity.client()
                .get_workflow_handle(casework_id)
                .signal(
                    SUBJECT_IN_CUSTODY_SIGNAL,
                    InCustody(encounter_id=req.case_id, force=req.force, since=encountered_at),
                )
            )
            told.append(casework_id)
        log.info("open casework looked up", candidates=len(candidates), told=len(told))
        return LocatedResult(told=told)

    async def _running(self, casework_id: str) -> bool:
        # The raw answer: its search attributes are not decoded (nothing here needs
        # them, and a closed case's may not decode on every server).
        client = activity.client()
        request = DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=casework_id)
        )
        try:
            described = await client.workflow_service.describe_workflow_execution(request)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return bool(described.workflow_execution_info.status == RUNNING)
