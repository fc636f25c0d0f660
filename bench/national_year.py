"""``python -m bench --national-year force|nation``: a year of custody encounters
through the HTTP intake on the compressed policy.

``force`` is a force's year (3,442 encounters: Hampshire 2018/19), ``nation`` the
nation's (150,000). The encounters arrive evenly over the compressed year (a day is
``--day-seconds``); each subject is drawn by the simulated world from the published
figures (``sim.world_file``: ~16.7% with convictions, ~0.84% serious, EU replies in
~6 days, non-EU in ~66, some never), 85% EU nationals and 15% non-EU. The bench's
caseworker decides the serious cases that reach a decision it knows. The run ends when
every encounter has closed or at ``--limit-minutes`` (then it says how far it got).

It prints the funnel (encounters, ACRO checks, replies, chasers, outcomes, referred to
Criminal Casework, still open), the backlog's peak (open encounters and casework cases,
sampled), the worst and the 95th-percentile reply-to-triage delay (from the moment
the country's reply was there — the simulated world's due time — to the moment the
case took it in: the certificate's storing, where the case triages it), the history
bytes written (every workflow's history, serialized as the server stores it) and the
server database's growth. Nothing is extrapolated: a cut-short run reports what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import Session, select

from bench.cases import Caseworker, bench_event
from bench.credentials import MANAGER, bench_identity
from bench.measure import CpuMeter, histories, percentile
from bench.report import progress_bar, save
from bench.servers import child, dev_server, free_port, measured_pid, wait_for_worker
from bench.world import world_for
from models.case import ENCOUNTER_WORKFLOW
from models.reference import countries
from runtime.config import LOCAL_SUBJECT_KEY_SECRET, connect
from sim.tables import SimCertificate, SimEffect
from sim.world import Simulator
from sim.world_file import load_world
from store.case_tables import Document
from store.cases import CaseStore

YEARS = {"force": 3_442, "nation": 150_000}
NON_EU_SHARE = 0.15
SAMPLE_SECONDS = 5.0
CERTIFICATE = "acro_certificate"  # the case store's kind of a country's reply


def plan_year(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    eu = sorted(c.code for c in countries().values() if c.eu)
    non_eu = sorted(c.code for c in countries().values() if not c.eu)
    events = []
    for i in range(n):
        nationality = rng.choice(non_eu if rng.random() < NON_EU_SHARE else eu)
        reference = f"YEAR-{i:06d}"
        events.append(bench_event(reference, f"Year{i}", nationality, f"19/{i:07d}Y"))
    return events


async def national_year(args: argparse.Namespace) -> int:
    n = args.encounters or YEARS[args.national_year]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    home = args.out / "runs" / f"year-{stamp}"
    home.mkdir(parents=True)
    events = plan_year(n, args.seed)
    world_file = home / "world.json"
    world_file.write_text(json.dumps({"seed": args.seed, "subjects": {}}))
    db_url = f"sqlite:///{home / 'casework.db'}"
    store = CaseStore.migrated(db_url)
    api_port = free_port()
    task_queue = "bench-year"
    identity = bench_identity(home, "benchshire")
    year_s = 365 * args.day_seconds
    limit_s = args.limit_minutes * 60
    with dev_server(home) as server:
        env = server.env(
            FNO_TASK_QUEUE=task_queue,
            FNO_DATABASE_URL=db_url,
            FNO_WORLD_FILE=str(world_file),
            FNO_SIM_SEED=str(args.seed),
            FNO_POLICY=f"compressed:{args.day_seconds}",
            FNO_HTTP_PORT=str(api_port),
        )
        with (
            world_for(args.world, env, home, api_port, identity.acro_credential) as (wenv, _),
            child(["worker.py"], env | wenv, home / "worker.log") as worker,
            child(["-m", "server.app"], env | identity.env | wenv, home / "api.log") as api,
        ):
            client = await connect(env)
            await wait_for_worker(client, task_queue, worker)
            db_start = server.database_bytes()
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}",
                timeout=60,
                limits=httpx.Limits(max_connections=args.concurrency),
            ) as http:
                await _ready(http, api)
                manager = await identity.caseworker(http, MANAGER)
                caseworker = Caseworker(client, http, await identity.caseworker(http), manager)
                meter = CpuMeter(
                    {
                        "worker": measured_pid(worker),
                        "server": server.process.pid,
                        "api": measured_pid(api),
                    }
                )
                statuses: Counter[int] = Counter()
                backlog: list[tuple[float, int, int]] = []
                t0 = time.monotonic()
                sem = asyncio.Semaphore(args.concurrency)

                async def post(i: int, event: dict[str, Any]) -> None:
                    due = i * year_s / n  # seconds after t0
                    if due > limit_s:  # after the limit: never posted (nor waited for)
                        return
                    await asyncio.sleep(max(0.0, t0 + due - time.monotonic()))
                    if time.monotonic() - t0 > limit_s:
                        return
                    async with sem:
                        r = await http.post("/custody-events", json=event, headers=identity.custody)
                        statuses[r.status_code] += 1

                posting = asyncio.gather(*(post(i, e) for i, e in enumerate(events)))
                encounter = f"WorkflowType = '{ENCOUNTER_WORKFLOW}'"
                with progress_bar() as progress:
                    posted = progress.add_task("year: posted", total=n)
                    closed = progress.add_task("year: closed", total=n)
                    while True:
                        await asyncio.sleep(SAMPLE_SECONDS)
                        open_enc = (
                            await client.count_workflows(
                                f"{encounter} AND ExecutionStatus = 'Running'"
                            )
                        ).count
                        open_cw = (
                            await client.count_workflows(
                                "FnoCaseKind = 'casework' AND ExecutionStatus = 'Running'"
                            )
                        ).count
                        done = (
                            await client.count_workflows(
                                f"{encounter} AND ExecutionStatus = 'Completed'"
                            )
                        ).count
                        elapsed = time.monotonic() - t0
                        backlog.append((round(elapsed, 1), open_enc, open_cw))
                        progress.update(posted, completed=sum(statuses.values()))
                        progress.update(closed, completed=done)
                        await caseworker()
                        if done >= n or elapsed > limit_s:
                            break
                cut_short = done < n
                await posting
                cpu = meter.used()
                wall = time.monotonic() - t0
            # Not timed: the funnel, the delays, the histories.
            outcomes: Counter[str] = Counter()
            ids: list[str] = []
            async for w in client.list_workflows(encounter):
                ids.append(w.id)
                outcomes[str(w.search_attributes.get("FnoOutcome", ["(open)"])[0])] += 1
            casework: Counter[str] = Counter()
            async for w in client.list_workflows("FnoCaseKind = 'casework'"):
                ids.append(w.id)
                stage = w.search_attributes.get("FnoOutcome") or w.search_attributes.get(
                    "FnoStage", ["?"]
                )
                casework[str(stage[0])] += 1
            counts = await histories(client, ids)
            db_growth = server.database_bytes() - db_start
    sim = Simulator(
        store.engine,
        load_world(world_file, args.seed),
        day_seconds=args.day_seconds,
        subject_key_secret=LOCAL_SUBJECT_KEY_SECRET,
    )
    delays = reply_delays(store, sim, args.day_seconds)
    funnel = {
        "encounters_planned": n,
        "encounters_posted": statuses.get(201, 0),
        "intake_refused": {str(k): v for k, v in statuses.items() if k != 201},
        **store_funnel(store),
        "encounter_outcomes": dict(outcomes.most_common()),
        "referred_to_criminal_casework": sum(casework.values()),
        "criminal_casework_by_outcome_or_stage": dict(casework.most_common()),
        "decisions_sent": caseworker.sent,
    }
    result = {
        "kind": f"national-year-{args.national_year}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "encounters": n,
            "day_seconds": args.day_seconds,
            "year_seconds": year_s,
            "limit_minutes": args.limit_minutes,
            "seed": args.seed,
            "world": args.world,
        },
        "wall_seconds": round(wall, 1),
        "cut_short": cut_short,
        "funnel": funnel,
        "backlog_peak": {
            "open_encounters": max((b[1] for b in backlog), default=0),
            "open_casework": max((b[2] for b in backlog), default=0),
            "open_total": max((b[1] + b[2] for b in backlog), default=0),
        },
        "backlog_samples": backlog,
        "reply_to_triage": delays,
        "history": {
            "workflows": len(counts),
            "events": sum(c.events for c in counts.values()),
            "bytes": sum(c.bytes for c in counts.values()),
        },
        "server_db_growth_mib": round(db_growth / 2**20, 1),
        "cpu_seconds": cpu,
    }
    path = save(result, args.out)
    show(result)
    print(f"results: {path}")
    return 0


async def _ready(http: httpx.AsyncClient, api: Any) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if (await http.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if api.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the HTTP API did not become ready")
        await asyncio.sleep(0.2)


def store_funnel(store: CaseStore) -> dict[str, Any]:
    with Session(store.engine) as session:
        checks = session.exec(
            select(func.count())
            .select_from(SimCertificate)
            .where(SimCertificate.purpose == "criminal_proceedings")
        ).one()
        certificates = session.exec(
            select(Document.purpose, func.count())
            .where(Document.kind == CERTIFICATE)
            .group_by(Document.purpose)
        ).all()
        effects = session.exec(
            select(SimEffect.system, SimEffect.action, func.count()).group_by(
                SimEffect.system, SimEffect.action
            )
        ).all()
    return {
        "acro_checks": checks,
        "replies_taken_in": {str(p): c for p, c in certificates},
        "world_side_effects": {f"{s}:{a}": c for s, a, c in effects},
    }


def reply_delays(store: CaseStore, sim: Simulator, day_seconds: float) -> dict[str, Any]:
    """From the reply's being there (the world's due time) to the case's storing it."""
    seconds: list[float] = []
    with Session(store.engine) as session:
        docs = session.exec(select(Document).where(Document.kind == CERTIFICATE)).all()
        for doc in docs:
            req = session.get(SimCertificate, doc.id.removeprefix("certificate-"))
            if req is None:
                continue
            taken_in = doc.received_at.replace(tzinfo=UTC)
            # The world's own due time (destroyed certificates included: their request
            # row stays); ``reply_due_at`` answers None for a destroyed one.
            due = sim._replied_at(req, taken_in)
            if due is None:
                continue
            seconds.append((taken_in - due).total_seconds())
    if not seconds:
        return {"replies": 0}
    return {
        "replies": len(seconds),
        "worst_days": round(max(seconds) / day_seconds, 2),
        "p95_days": round(percentile(seconds, 95) / day_seconds, 2),
        "mean_days": round(sum(seconds) / len(seconds) / day_seconds, 2),
        "worst_wall_seconds": round(max(seconds), 1),
    }


def show(result: dict[str, Any]) -> None:
    s, f = result["settings"], result["funnel"]
    print(
        f"national year: {s['encounters']:,} encounters over a compressed year of "
        f"{s['year_seconds']:.0f}s (day = {s['day_seconds']:g}s), {result['wall_seconds']:.0f}s "
        + ("— CUT SHORT at the time limit" if result["cut_short"] else "— all closed")
    )
    print(
        f"funnel: posted {f['encounters_posted']:,}; ACRO checks {f['acro_checks']:,}; "
        f"replies taken in {sum(f['replies_taken_in'].values()):,}; "
        f"referred to Criminal Casework {f['referred_to_criminal_casework']:,}"
    )
    print(f"  encounter outcomes: {f['encounter_outcomes']}")
    print(f"  casework: {f['criminal_casework_by_outcome_or_stage']}")
    print(f"  world side effects: {f['world_side_effects']}")
    b = result["backlog_peak"]
    print(
        f"backlog peak: {b['open_encounters']:,} open encounters, {b['open_casework']:,} open "
        f"casework cases ({b['open_total']:,} together)"
    )
    d = result["reply_to_triage"]
    if d.get("replies"):
        print(
            f"reply to triage: worst {d['worst_days']} days, p95 {d['p95_days']}, mean "
            f"{d['mean_days']} (compressed days; {d['replies']:,} replies)"
        )
    h = result["history"]
    print(
        f"history written: {h['events']:,} events, {h['bytes'] / 2**20:,.1f} MiB "
        f"({h['workflows']:,} workflows); server database growth "
        f"{result['server_db_growth_mib']:,.1f} MiB"
    )
