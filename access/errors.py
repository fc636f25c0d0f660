"""What a request to a case can come back with instead of an answer: a refusal (no
purpose; the policy's ``NotPermitted``), no such case, a decision the case refused, and
a case that exists but cannot be read now (``CaseUnreadable``, with its reason code and
what an operator should do); and how a Temporal error's text is judged and cut for
listing."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class AccessRefused(Exception):
    """The request lacks what the law or policy needs (a purpose, a role)."""


class NotPermitted(AccessRefused):
    """The need-to-know policy (``access.policy``) refuses this person this act: their
    role, force or the kind of case. ``code`` says which, in a word (``not_permitted``,
    ``other_force``, ``not_yours``); nothing of the case was read."""

    def __init__(self, detail: str, code: str = "not_permitted") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class CaseNotFound(Exception):
    pass


class DecisionRefused(Exception):
    """The case refused the decision; the message is the workflow's reason."""


class CaseBusy(Exception):
    """Back-pressure, not a fault: the case is taking as many decisions as Temporal lets
    one case have in flight (its server's ``history.maxInFlightUpdates``, 10 by default,
    answered RESOURCE_EXHAUSTED), or the cluster's rate limit was reached, and it stayed
    so through the retries (``access.decisions``). Nothing was sent: send the decision
    again after ``retry_after`` seconds (the API's 429 with ``Retry-After``)."""

    def __init__(self, case_id: str, retry_after: int) -> None:
        self.case_id = case_id
        self.retry_after = max(1, retry_after)
        self.detail = (
            f"Case {case_id} is taking other decisions at this moment: yours was not sent. "
            f"Send it again in {self.retry_after} s (the Retry-After header says the same)."
        )
        super().__init__(self.detail)


# Reason codes of a case that cannot be read (``CaseUnreadable.why``, ``StuckCase.why``).
CANNOT_REPLAY = "cannot_replay"  # its history cannot be replayed by the current workers
QUERY_FAILED = "query_failed"  # the state query failed for another reason

# What an operator does about a case whose history the workers cannot replay.
REPLAY_ACTION = (
    "Nothing is lost: the case's history is intact in Temporal. Run workers whose workflow "
    "code replays it — roll back the change that broke it, or put the change behind "
    "workflow.patched (README: 'Changing workflow code under running cases'); a running "
    "case then carries on by itself. Its error is in 'fno cases --stuck' and in its "
    "history in the Temporal Web UI."
)
QUERY_ACTION = (
    "The case's state query failed: see the error in 'fno cases --stuck' and the case's "
    "history in the Temporal Web UI, and fix the workflow code."
)


class CaseUnreadable(Exception):
    """The case exists but its state cannot be read now: ``why`` is a reason code
    (``cannot_replay``, ``query_failed``), ``error`` the error's first line (no payload
    data), ``listed_as_stuck`` whether the stuck listing shows the case."""

    def __init__(
        self,
        case_id: str,
        why: str,
        error: str,
        *,
        closed_at: datetime | None,
        listed_as_stuck: bool,
    ) -> None:
        self.case_id = case_id
        self.why = why
        self.error = error
        self.closed_at = closed_at
        self.listed_as_stuck = listed_as_stuck
        super().__init__(self.detail)

    @property
    def action(self) -> str:
        return REPLAY_ACTION if self.why == CANNOT_REPLAY else QUERY_ACTION

    @property
    def detail(self) -> str:
        cause = (
            "its history cannot be replayed by the current workers (their workflow code "
            "no longer matches what the case did)"
            if self.why == CANNOT_REPLAY
            else "its state query failed"
        )
        if self.listed_as_stuck:
            listed = "It is listed as stuck (fno cases --stuck, GET /stuck-cases)."
        elif self.closed_at is None:
            listed = (
                "It will be listed as stuck when its next step runs and fails (a timer "
                "firing, a decision or a reply arriving)."
            )
        else:
            listed = (
                "It is not among the recently closed cases the stuck listing asks about "
                "by default: list it with fno cases --stuck --closed-within-hours H "
                "--probe-closed N."
            )
        return f"Case {self.case_id} cannot be read right now: {cause}. {listed} {self.action}"

    def as_dict(self) -> dict[str, Any]:
        """The structured answer (HTTP body, ``fno show --json``)."""
        return {
            "detail": self.detail,
            "case_id": self.case_id,
            "why": self.why,
            "error": self.error,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "listed_as_stuck": self.listed_as_stuck,
            "action": self.action,
        }


# Temporal's nondeterminism error ([TMPRL1100], from the SDK's core) and the Python
# SDK's own NondeterminismError: the workers' code cannot replay the history.
_REPLAY_MARKERS = ("[TMPRL1100]", "nondeterminism", "nondeterministic")


def is_replay_failure(message: str) -> bool:
    lowered = message.lower()
    return any(marker.lower() in lowered for marker in _REPLAY_MARKERS)


def safe_error(message: str, limit: int = 300) -> str:
    """An error's first line, at most ``limit`` characters, cut before anything that
    could carry payload data: what may be listed and logged. (Temporal's replay errors
    name history events and command types, never their payloads; other messages of the
    product's workflows are encrypted — "Encoded failure" — unless decoded.)"""
    lines = message.strip().splitlines()
    first = lines[0].strip() if lines else ""
    lowered = first.lower()
    cuts = [at for word in ("payload", "data:", "metadata") if (at := lowered.find(word)) >= 0]
    if cuts:
        first = first[: min(cuts)].rstrip() + " …"
    return first if len(first) <= limit else first[: limit - 1] + "…"
