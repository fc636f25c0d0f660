"""The product phase's cases: custody events from the bench's force in the seeds' mix,
a simulated world in which every country answers at once, and the caseworker who
decides the serious ones over HTTP."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from models.event import ENCOUNTER_PREFIX

# The caseworker's part in a serious case the subject of which is located (bench world).
DECISIONS: dict[str, dict[str, Any]] = {
    "subject_located": {"case_owner": "Bench Caseworker"},
    "detention": {"detain": True},
    "deportation": {"decision": "deport"},
    "deportation_enforced": {"removed_on": "2026-01-05"},
}

EU = ["DE", "AT", "BE", "DK", "EE", "FI", "IT", "NL", "PL", "PT", "ES", "SE"]


@dataclass
class Plan:
    events: list[dict[str, Any]]
    world: dict[str, Any]
    branch: dict[str, str]  # case ID -> no_trace / not_serious / serious


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


def plan_cases(n: int, seed: int, tag: str) -> Plan:
    """``n`` custody events in the seeds' mix, and a world in which every country
    answers at once (the bench measures the product, not the countries)."""
    rng = random.Random(seed)
    serious = max(1, round(n * 0.01)) if n >= 20 else 0
    not_serious = round(n * 0.16)
    kinds = ["serious"] * serious + ["not_serious"] * not_serious
    kinds += ["no_trace"] * (n - len(kinds))
    rng.shuffle(kinds)
    events, subjects, branch = [], {}, {}
    for i, kind in enumerate(kinds):
        nationality = rng.choice(EU)
        pnc = f"{tag}/{i:07d}B"
        reply: dict[str, Any] = {"after_days": 0}
        if kind == "not_serious":
            reply["convictions"] = [{"offence": "THEFT", "convicted_on": "2012-03-15"}]
        elif kind == "serious":
            reply["convictions"] = [{"offence": "ROBBERY", "convicted_on": "2010-06-15"}]
            reply["certificate_purpose"] = "immigration_deportation"
        subjects[pnc] = {"replies": {nationality: reply}, "located_after_days": 0}
        reference = f"BENCH-{tag}-{i:06d}"
        events.append(bench_event(reference, f"Bench{i}", nationality, pnc))
        branch[f"{ENCOUNTER_PREFIX}benchshire-{reference}"] = kind
    return Plan(events, {"seed": seed, "subjects": subjects}, branch)


class Caseworker:
    """Sends the decisions a caseworker would, over the HTTP API, to cases awaiting one."""

    def __init__(
        self, client: Client, http: httpx.AsyncClient, credentials: dict[str, str]
    ) -> None:
        self.client = client
        self.http = http
        self.sent = 0
        self.refused = 0
        # Who decides comes from the token (the bench caseworker's); the reads say why.
        self.headers = credentials | {"X-Reason": "benchmark: deciding a case"}

    async def __call__(self, _closed: int = 0) -> None:
        query = (
            "FnoCaseKind = 'casework' AND ExecutionStatus = 'Running' "
            "AND FnoAwaitingRole = 'caseworker'"
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
                answer = await self.http.post(
                    f"/cases/{w.id}/decisions", json=body, headers=self.headers
                )
                if answer.status_code == 200:
                    self.sent += 1
                else:
                    self.refused += 1  # not awaited any more: looked at again next round
