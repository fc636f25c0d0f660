"""Custom search attributes the product upserts as a case moves.

None carries personal data: no names, no dates of birth. The run command registers
them on the embedded server; on a real cluster, see the README.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_KIND = SearchAttributeKey.for_keyword("FnoCaseKind")
STAGE = SearchAttributeKey.for_keyword("FnoStage")
OUTCOME = SearchAttributeKey.for_keyword("FnoOutcome")
NATIONALITY = SearchAttributeKey.for_keyword("FnoNationality")
FORCE = SearchAttributeKey.for_keyword("FnoForce")
CASE_OWNER = SearchAttributeKey.for_keyword("FnoCaseOwner")
AWAITING_ROLE = SearchAttributeKey.for_keyword_list("FnoAwaitingRole")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("FnoNextDeadline")

SEARCH_ATTRIBUTES: list[SearchAttributeKey] = [
    CASE_KIND,
    STAGE,
    OUTCOME,
    NATIONALITY,
    FORCE,
    CASE_OWNER,
    AWAITING_ROLE,
    NEXT_DEADLINE,
]
