"""The product phase's cases: custody events from the bench's force in the seeds' mix,
a simulated world in which every country answers at once, and the caseworker who
decides the serious ones over HTTP."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from models.event import ENCOUNTER_PREFIX

# The caseworker's part in a serious case the subject of which is located (bench world).
DECISIONS: dict[str, dict[str, Any]] = {
    "subject_located": {},
    # issue 21: a CC manager allocates to the bench caseworker (``local:bench``).
    "allocate_case": {"owner_id": "local:bench", "owner_name": "Bench Caseworker", "team": "B"},
    # issue 21: the located checklist; managed non-detained (no Detention Gatekeeper here)
    "offending_history_review": {"offended_abroad_since": False},
    "investigating_officer_answer": {
        "officer_reference": "BENCH-IO",
        "information_held": False,
        "redocumentation": "none_held",
    },
    "pending_prosecution": {"charges": 0},
    "detention": {
        "detain": False,
        "not_detained_reason": "other",
        "reporting_conditions": "Reports weekly at the local reporting centre",
        "review_on": "2030-01-15",
    },
    "serve_stage1": {"means": "in_person", "sufficient_time": True},
    "deportation": {
        "decision": "deport",
        "address_known": True,
        "in_country_right_of_appeal": False,
        "foreign_convictions": "as certified",
        "uk_convictions": "as on the PNC",
        "outstanding_uk_activity": "none",
    },
    "serve_deportation_order": {"means": "in_person"},
    "deportation_enforced": {"removed_on": "2026-01-05", "removal_reference": "BENCH-REM"},
}
BY_MANAGER = {"allocate_case"}

EU = ["DE", "AT", "BE", "DK", "EE", "FI", "IT", "NL", "PL", "PT", "ES", "SE"]
NON_EU = ["US", "CA", "AU", "NZ", "NO", "ZA"]  # no identity field beyond the bench's own
# The non-EU reply's delay (DOMAIN.md: non-EU replies average ~66 days).
NON_EU_REPLY_DAYS = 66

# The branches the bench reports, with the outcome each must reach (``FnoOutcome``).
BRANCHES: dict[str, str] = {
    "no_trace": "NO_TRACE",
    "not_serious": "NOT_SERIOUS",
    "serious": "DEPORTED",
    # an EU country that never replies: chasers, no-response, the late-reply window
    "eu_no_response": "NO_RESPONSE",
    # a non-EU country answering "no trace" after ~66 days
    "non_eu": "NO_TRACE",
}


@dataclass
class Plan:
    events: list[dict[str, Any]]
    world: dict[str, Any]
    branch: dict[str, str]  # case ID -> a key of BRANCHES


def bench_event(
    reference: str,
    family_name: str,
    nationality: str,
    pnc_id: str,
    *,
    uk_matter: str = "theft",
    date_of_birth: str = "1985-04-12",
) -> dict[str, Any]:
    """A custody event from the bench's force, with every identity field a country
    may require (no case waits for the officer)."""
    return {
        "force": "benchshire",
        "custody_reference": reference,
        "reason": "arrest",
        "encountered_at": "2026-01-05T10:30:00Z",
        "uk_matter": uk_matter,
        "subject": {
            "family_name": family_name,
            "given_names": "Case",
            "date_of_birth": date_of_birth,
            "nationality": nationality,
            "father_name": "Jan",
            "mother_name": "Maria",
            "place_of_birth": "Somewhere",
            "pnc_id": pnc_id,
        },
        "requesting_officer": {"name": "PC Bench", "email": "pc.bench@example.police.uk"},
    }


def mix(n: int) -> dict[str, int]:
    """How many cases of each branch ``n`` cases hold: the seeds' mix (about 83% no
    trace, 16% not serious, 1% serious) and, from 20 cases on, one EU country that never
    replies and one non-EU reply per 600 cases (at least one each: every branch is
    measured, few enough that their long waits do not make the run's length)."""
    long_waits = max(1, round(n / 600)) if n >= 20 else 0
    counts = {
        "serious": max(1, round(n * 0.01)) if n >= 20 else 0,
        "not_serious": round(n * 0.16),
        "eu_no_response": long_waits,
        "non_eu": long_waits,
    }
    counts["no_trace"] = n - sum(counts.values())
    return counts


def plan_cases(n: int, seed: int, tag: str) -> Plan:
    """``n`` custody events in the bench's mix (``mix``), and a world in which every
    country answers at once but the long waits' (the bench measures the product, not
    the countries)."""
    rng = random.Random(seed)
    kinds = [kind for kind, count in mix(n).items() for _ in range(count)]
    rng.shuffle(kinds)
    events, subjects, branch = [], {}, {}
    for i, kind in enumerate(kinds):
        nationality = rng.choice(NON_EU if kind == "non_eu" else EU)
        pnc = f"{tag}/{i:07d}B"
        reply: dict[str, Any] = {"after_days": 0}
        if kind == "eu_no_response":
            reply["after_days"] = None
        elif kind == "non_eu":
            reply["after_days"] = NON_EU_REPLY_DAYS
        elif kind == "not_serious":
            reply["convictions"] = [{"offence": "THEFT", "convicted_on": "2012-03-15"}]
        elif kind == "serious":
            reply["convictions"] = [{"offence": "ROBBERY", "convicted_on": "2010-06-15"}]
            reply["certificate_purpose"] = "immigration_deportation"
        subjects[pnc] = {"replies": {nationality: reply}, "located_after_days": 0}
        reference = f"BENCH-{tag}-{i:06d}"
        events.append(bench_event(reference, f"Bench{i}", nationality, pnc))
        branch[f"{ENCOUNTER_PREFIX}benchshire-{reference}"] = kind
    return Plan(events, {"seed": seed, "subjects": subjects}, branch)


class Paced:
    """A bench caseworker's pace: a look at the worklist (a visibility query) at most
    every ``every_s`` seconds — a caseworker does not refresh a list four times a
    second, and each look is the server's CPU, charged to the phase."""

    every_s = 1.0

    def __init__(self) -> None:
        self.looked_at = float("-inf")

    def due(self) -> bool:
        """Whether it is time to look again (and, if so, the look is counted now)."""
        if time.monotonic() - self.looked_at < self.every_s:
            return False
        self.looked_at = time.monotonic()
        return True


class Caseworker(Paced):
    """Sends the decisions a caseworker would, over the HTTP API, to cases awaiting one,
    at its ``Paced`` pace."""

    def __init__(
        self,
        client: Client,
        http: httpx.AsyncClient,
        credentials: dict[str, str],
        manager: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.http = http
        self.sent = 0
        self.refused = 0
        # Who decides comes from the token (the bench caseworker's, the CC manager's for
        # the allocation); the reads say why.
        self.headers = credentials | {"X-Reason": "benchmark: deciding a case"}
        self.manager = (manager or credentials) | {"X-Reason": "benchmark: allocating"}

    async def __call__(self, _closed: int = 0) -> None:
        if not self.due():
            return
        query = (
            "FnoCaseKind = 'casework' AND ExecutionStatus = 'Running' "
            "AND FnoAwaitingRole IN ('caseworker', 'cc_manager')"
        )
        async for w in self.client.list_workflows(query):
            r = await self.http.get(f"/cases/{w.id}", headers=self.headers)
            if r.status_code != 200:
                continue
            for kind in r.json().get("awaiting", []):
                if kind not in DECISIONS:
                    continue
                body = {
                    "reason": "benchmark: the caseworker's decision",
                    "decision": {"kind": kind, **DECISIONS[kind]},
                }
                who = self.manager if kind in BY_MANAGER else self.headers
                answer = await self.http.post(f"/cases/{w.id}/decisions", json=body, headers=who)
                if answer.status_code == 200:
                    self.sent += 1
                else:
                    self.refused += 1  # not awaited any more: looked at again next round
