"""The kinds of case, in one registry: for each, the prefix of its workflow IDs, its
workflow (and so the workflow type Temporal stores), its state query, the model that
query answers with, the ``FnoCaseKind`` search attribute value and a label in words.

Everything that needs to know what kind a case is — which query reads it, what a page
shows of it — asks here (``kind_of``, ``kind_of_state``) rather than guessing from the
ID itself. A case ID of no known prefix is an encounter, as it always was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

from models.case import CASEWORK_PREFIX, CaseView, CaseworkState, EncounterState
from models.event import ENCOUNTER_PREFIX
from models.notification import NOTIFICATION_PREFIX, NotificationState
from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow
from workflows.notification import NotificationWorkflow


def workflow_type(cls: type) -> str:
    """The workflow type Temporal stores for a ``@workflow.defn`` class (its ``name=``,
    or the class name): what a visibility query names in ``WorkflowType = '…'``."""
    # The SDK's own reading of the decorator (exported, though underscored): the name
    # is written once, where the class is defined.
    name = workflow._Definition.must_from_class(cls).name
    if name is None:
        raise TypeError(f"{cls.__name__} is a dynamic workflow: it has no type name")
    return name


@dataclass(frozen=True)
class CaseKind:
    name: str  # the FnoCaseKind search attribute value (the workflow's ``kind``)
    prefix: str  # every workflow ID of the kind starts so
    workflow: type
    state_query: Callable[..., Any]  # the workflow's ``state`` query method
    state_model: type[CaseView]
    label: str

    @property
    def workflow_type(self) -> str:
        return workflow_type(self.workflow)

    @property
    def state_query_name(self) -> str:
        """The state query's name: asked by name, its answer comes undecoded."""
        defined = workflow._QueryDefinition.from_fn(self.state_query)
        if defined is None or not defined.name:
            raise TypeError(f"{self.state_query!r} is not a named @workflow.query")
        return defined.name

    def owns(self, case_id: str) -> bool:
        return case_id.startswith(self.prefix)


ENCOUNTER = CaseKind(
    name=EncounterWorkflow.kind,
    prefix=ENCOUNTER_PREFIX,
    workflow=EncounterWorkflow,
    state_query=EncounterWorkflow.state,
    state_model=EncounterState,
    label="Encounter (ACRO check)",
)
CASEWORK = CaseKind(
    name=CriminalCaseworkWorkflow.kind,
    prefix=CASEWORK_PREFIX,
    workflow=CriminalCaseworkWorkflow,
    state_query=CriminalCaseworkWorkflow.state,
    state_model=CaseworkState,
    label="Criminal Casework case",
)
NOTIFICATION = CaseKind(
    name=NotificationWorkflow.kind,
    prefix=NOTIFICATION_PREFIX,
    workflow=NotificationWorkflow,
    state_query=NotificationWorkflow.state,
    state_model=NotificationState,
    label="Conviction notification to an EU state",
)

KINDS: tuple[CaseKind, ...] = (ENCOUNTER, CASEWORK, NOTIFICATION)
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)

CaseState = EncounterState | CaseworkState | NotificationState
"""The state of a case of any kind (what ``read_case`` answers with)."""


def kind_of(case_id: str) -> CaseKind:
    """The kind of the case with this ID (an ID of no known prefix: an encounter)."""
    return next((k for k in KINDS if k.owns(case_id)), ENCOUNTER)


def kind_of_state(state: CaseView) -> CaseKind | None:
    """The kind whose state model this is, or None."""
    return next((k for k in KINDS if isinstance(state, k.state_model)), None)
