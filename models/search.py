"""Custom search attributes the product upserts as a case moves.

None carries personal data: no names, no dates of birth. The run command registers
them on the embedded server; on a real cluster, see the README.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from models.case import Stage, opening_stage
from models.event import CustodyEvent

CASE_KIND = SearchAttributeKey.for_keyword("FnoCaseKind")
STAGE = SearchAttributeKey.for_keyword("FnoStage")
OUTCOME = SearchAttributeKey.for_keyword("FnoOutcome")
NATIONALITY = SearchAttributeKey.for_keyword("FnoNationality")
FORCE = SearchAttributeKey.for_keyword("FnoForce")
CASE_OWNER = SearchAttributeKey.for_keyword("FnoCaseOwner")
AWAITING_ROLE = SearchAttributeKey.for_keyword_list("FnoAwaitingRole")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("FnoNextDeadline")
# issue 21: tasks. Staff identities of the tasks' assignees (never a subject's data),
# the highest priority of the open tasks, and the case owner's team.
ASSIGNEE = SearchAttributeKey.for_keyword_list("FnoAssignee")
PRIORITY = SearchAttributeKey.for_keyword("FnoPriority")
TEAM = SearchAttributeKey.for_keyword("FnoTeam")

SEARCH_ATTRIBUTES: list[SearchAttributeKey] = [
    CASE_KIND,
    STAGE,
    OUTCOME,
    NATIONALITY,
    FORCE,
    CASE_OWNER,
    AWAITING_ROLE,
    NEXT_DEADLINE,
    ASSIGNEE,
    PRIORITY,
    TEAM,
]


def opening_search_attributes(event: CustodyEvent) -> TypedSearchAttributes:
    """What an encounter's first upsert would set, for intake to set at the start: the
    case is then listed by kind, stage, nationality and force from the moment it exists,
    even before a worker has picked it up, and that upsert is not needed."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_KIND, "encounter"),
        SearchAttributePair(STAGE, opening_stage(event).name),
        SearchAttributePair(NATIONALITY, event.subject.nationality),
        SearchAttributePair(FORCE, event.force),
    ]
    return TypedSearchAttributes(pairs)


def casework_opening_search_attributes(nationality: str, force: str) -> TypedSearchAttributes:
    """What a Criminal Casework case's first upsert would set, for the referral to set
    at its start (issue 22): listed from the moment it exists, one upsert fewer."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_KIND, "casework"),
        SearchAttributePair(STAGE, Stage.DISCLOSABILITY_CHECK.name),
        SearchAttributePair(NATIONALITY, nationality),
        SearchAttributePair(FORCE, force),
    ]
    return TypedSearchAttributes(pairs)


def changed_only(
    updates: list[SearchAttributeUpdate[Any]], current: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that change something: a value other than the current one, or an
    unset of an attribute that is set (an empty keyword list counts as unset)."""
    return [u for u in updates if _value(current.get(u.key)) != _value(u.value)]


def _value(v: Any) -> Any:
    return None if v == [] else v
