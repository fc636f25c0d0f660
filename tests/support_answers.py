"""Move a Criminal Casework case on by answering what it awaits, as its people would.

Issue 21 made the located subject's path long (allocation, the checklist, the
Gatekeeper, Stage 1 on instruction, the order). A test about one step says where it
wants the case (an awaited kind, a stage, or any predicate) and ``answer_until`` sends
the usual answer to whatever else the case awaits on the way, each from the person whose
task it is (the case owner for owner decisions, a CC manager, the Gatekeeper, ICE).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from models.case import Stage
from tests.support import decide, decision, state_of, until

OWNER = ("Sam Jones", "caseworker")
OWNER_ID = "tests:Sam Jones"  # what ``tests.support.decide`` proves for Sam Jones
CC_MANAGER = ("Morgan Lee", "cc_manager")
GATEKEEPER = ("Dana Cole", "detention_gatekeeper")
ICE = ("Officer Hale", "ice_officer")
DIRECTOR = ("Director Amis", "director")

FACTORS = {
    "foreign_convictions": "serious violent offending abroad, on the certificate",
    "uk_convictions": "the UK conviction of this encounter",
    "outstanding_uk_activity": "none known to the police",
}
# kind -> (actor, role), decision fields
ANSWERS: dict[str, tuple[tuple[str, str], dict[str, Any]]] = {
    "allocate_case": (
        CC_MANAGER,
        {"owner_id": OWNER_ID, "owner_name": OWNER[0], "team": "CC Team North"},
    ),
    "subject_located": (ICE, {}),
    "offending_history_review": (OWNER, {"offended_abroad_since": False}),
    "investigating_officer_answer": (
        OWNER,
        {
            "officer_reference": "IO/REF/1",
            "information_held": False,
            "redocumentation": "none_held",
        },
    ),
    "pending_prosecution": (OWNER, {"charges": 0}),
    "prosecution_consideration": (OWNER, {"proceed_with_deportation": True}),
    "prosecution_outcome": (OWNER, {"outcome": "dropped"}),
    "detention": (OWNER, {"detain": True}),
    "detention_gatekeeper": (GATEKEEPER, {"accept": True}),
    "serve_stage1": (OWNER, {"means": "in_person", "sufficient_time": True}),
    "deportation": (
        OWNER,
        {"decision": "deport", "address_known": True, "in_country_right_of_appeal": False}
        | FACTORS,
    ),
    "serve_deportation_order": (OWNER, {"means": "in_person"}),
    "deportation_enforced": (ICE, {"removed_on": None, "removal_reference": "ICE/REM/1"}),
    "director_approval": (DIRECTOR, {"approve": True}),
    "admin_removal_referral": (OWNER, {"refer": True}),
}


def answer(kind: str, today: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """The usual decision of ``kind`` (``today``: the case's date, for dates asked)."""
    (actor, role), fields = ANSWERS[kind]
    fields = {k: (today if v is None else v) for k, v in fields.items()} | dict(overrides or {})
    return decision(actor, role, "as the case file shows", kind=kind, **fields)


async def answer_until(
    h: Any,
    handle: WorkflowHandle[Any, Any],
    stop: str | Stage | Callable[[Any], bool],
    *,
    answers: Mapping[str, Mapping[str, Any]] | None = None,
    skip: Any = None,
    within: float = 120.0,
) -> Any:
    """Answer what ``handle`` awaits until ``stop`` holds — an awaited kind, a stage, or a
    predicate on the state — and return that state. ``answers`` overrides the usual
    fields per kind. Kinds with no usual answer are left for the test."""
    if isinstance(stop, Stage):
        stage = stop
        done: Callable[[Any], bool] = lambda s: s.stage is stage  # noqa: E731
    elif isinstance(stop, str):
        wanted = stop
        done = lambda s: wanted in s.awaiting  # noqa: E731
    else:
        done = stop
    env = skip if skip is not None else getattr(h, "env", None)
    while True:
        state = await until(
            handle,
            lambda s: done(s) or any(k in ANSWERS for k in s.awaiting),
            what="a decision to answer",
            within=within,
            skip=env,
        )
        if done(state):
            return state
        kind = next(k for k in state.awaiting if k in ANSWERS)
        today = _today(state)
        try:
            await decide(handle, answer(kind, today, (answers or {}).get(kind)))
        except (WorkflowUpdateFailedError, RPCError) as err:
            # Taken meanwhile (the case moved on): look again; refused while still
            # awaited: the usual answer does not fit this case, which the test must say.
            if kind in (await state_of(handle)).awaiting:
                cause = getattr(err, "cause", None) or err
                raise AssertionError(f"the usual {kind} was refused: {cause}") from err


def _today(state: Any) -> str:
    """The date of the case's latest entry: never after the case's own clock."""
    latest = max((e.at for e in state.timeline), default=None)
    return latest.date().isoformat() if latest is not None else "2018-01-01"
