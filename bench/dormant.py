"""``python -m bench --dormant [K]``: K cases left dormant, then 1% woken.

A national deployment holds hundreds of thousands of open cases, most of them asleep
for years as "liable to deport – wanted/missing". This mode starts K custody events
(default 10,000) whose subjects have serious convictions and are never located by ICE,
waits until every Criminal Casework case is dormant (its encounter waiting for it),
then reports the worker's memory, the server's database size and how long it takes
to wake 1% of them with a caseworker's "subject located" decision (the update
answers once the case has acted on it: replayed from the server if the worker had
evicted it from its cache).

The cases' policy is the compressed one, with the dormant review pushed past the
run (a review every 30 compressed days would wake every case again and again within
minutes, which a real 30-day review of 10,000 cases — a few an hour — never does).
They are started through the Temporal client (``starter.start_case``), not HTTP:
intake is measured by the throughput mode.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from access.decisions import request_for, send_decision
from access.intake import start_case
from bench.cases import EU, bench_event
from bench.measure import histories, latency_summary, peak_rss_mib, rss_mib, wait_closed
from bench.report import fmt, machine, progress_bar, save, shown
from bench.servers import child, dev_server, wait_for_worker
from identity.principal import Principal
from models.case import casework_id_for
from models.event import CustodyEvent
from models.policy import compressed_policy
from runtime.config import LOCAL_SUBJECT_KEY_SECRET, connect
from runtime.front_door import Actor
from sim.world_file import pnc_subject_key
from store.cases import CaseStore

BENCH_INTAKE = Actor(actor_id="process:bench", actor="bench intake", role="system")
DORMANT_QUERY = (
    "FnoCaseKind = 'casework' AND ExecutionStatus = 'Running' "
    "AND FnoStage = 'LIABLE_TO_DEPORT_WANTED'"
)


def dormant_event(i: int, nationality: str) -> dict[str, Any]:
    return bench_event(
        f"DORMANT-{i:07d}",
        f"Dormant{i}",
        nationality,
        f"25/{i:07d}D",
        uk_matter="burglary",
        date_of_birth="1980-02-02",
    )


async def dormant(args: argparse.Namespace) -> int:
    k = args.dormant
    if k < 100:
        raise SystemExit("--dormant K needs K >= 100 (1% of them are woken)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    home = args.out / "runs" / f"dormant-{stamp}"
    home.mkdir(parents=True)
    day = args.day_seconds if args.day_seconds != 0.05 else 0.2
    policy = compressed_policy(day).model_copy(
        update={"dormant_review_days": 36_500.0, "name": f"bench dormant ({day:g}s days)"}
    )
    events, subjects, casework_ids = [], {}, []
    for i in range(k):
        nationality = EU[i % len(EU)]
        event = dormant_event(i, nationality)
        pnc = event["subject"]["pnc_id"]
        subjects[pnc] = {
            "replies": {
                nationality: {
                    "after_days": 0,
                    "convictions": [{"offence": "ROBBERY", "convicted_on": "2010-06-15"}],
                    "certificate_purpose": "immigration_deportation",
                }
            },
            "left_uk": False,
            "located_after_days": None,
        }
        events.append(CustodyEvent.model_validate(event))
        casework_ids.append(casework_id_for(pnc_subject_key(pnc, LOCAL_SUBJECT_KEY_SECRET)))
    world_file = home / "world.json"
    world_file.write_text(json.dumps({"seed": args.seed, "subjects": subjects}))
    db_url = f"sqlite:///{home / 'casework.db'}"
    CaseStore.migrated(db_url)
    task_queue = "bench-dormant"
    rows: dict[str, Any] = {"cases": k, "day_seconds": day}
    with dev_server(home) as server, progress_bar() as progress:
        env = server.env(
            FNO_TASK_QUEUE=task_queue,
            FNO_DATABASE_URL=db_url,
            FNO_WORLD_FILE=str(world_file),
            FNO_POLICY=f"compressed:{day}",
        )
        with child(["worker.py"], env, home / "worker.log") as worker:
            # Its starts carry the front door's assertion, as intake's do.
            client = await connect(env, acting_for=BENCH_INTAKE)
            await wait_for_worker(client, task_queue, worker)
            sem = asyncio.Semaphore(args.concurrency)
            started = progress.add_task("dormant: started", total=k)

            async def start(event: CustodyEvent) -> None:
                async with sem:
                    result = await start_case(
                        client, event, task_queue=task_queue, policy=policy, integrator="bench"
                    )
                    if result.status != "started":
                        raise RuntimeError(f"{result.case_id}: {result.status}")
                    progress.advance(started)

            window = args.dormant_window
            fed = 0

            async def feed(asleep: int) -> None:
                """Start cases as earlier ones fall asleep: at most ``window`` on the way
                at once. Cases reach a deployment over months, not in one burst; 10,000
                at once would each wake several times while far more workflows are
                active than the worker caches, and be replayed from the server each
                time — measuring the cache's thrashing, not a dormant deployment."""
                nonlocal fed
                room = window - (fed - asleep)
                if room > 0 and fed < k:
                    batch = events[fed : fed + room]
                    await asyncio.gather(*(start(e) for e in batch))
                    fed += len(batch)

            t0 = time.monotonic()
            await wait_closed(
                client,
                DORMANT_QUERY,
                k,
                progress,
                "dormant: asleep",
                limit_seconds=4 * 3600,
                tick=feed,
            )
            to_dormant = time.monotonic() - t0
            await asyncio.sleep(5)  # let the worker settle before reading its memory
            rows |= {
                "seconds_to_dormant": round(to_dormant, 1),
                "cases_per_s_to_dormant": round(k / to_dormant, 2),
                "worker_rss_mib_dormant": rss_mib(worker.pid),
                "worker_peak_rss_mib": peak_rss_mib(worker.pid),
                "server_db_mib": round(server.database_bytes() / 2**20, 1),
                "case_store_mib": round(
                    sum(p.stat().st_size for p in home.glob("casework.db*")) / 2**20, 1
                ),
            }
            sample = casework_ids[:: max(1, k // 50)]
            counts = await histories(client, sample)
            rows["history_events_per_dormant_casework"] = statistics.mean(
                c.events for c in counts.values()
            )

            # Wake 1%: the caseworker hears the subject has been found.
            wake = casework_ids[::100][: k // 100]
            latencies: list[float] = []
            woken = progress.add_task("dormant: woken", total=len(wake))

            bench_caseworker = Principal(
                subject="bench:caseworker", name="Bench Caseworker", role="caseworker"
            )

            async def located(case_id: str) -> None:
                req = request_for(
                    bench_caseworker,
                    "benchmark: subject located by the police",
                    {"kind": "subject_located", "case_owner": "Bench Owner"},
                )
                async with sem:
                    t = time.perf_counter()
                    await send_decision(client, case_id, bench_caseworker, req)
                    latencies.append(time.perf_counter() - t)
                    progress.advance(woken)

            t1 = time.monotonic()
            await asyncio.gather(*(located(c) for c in wake))
            rows |= {
                "woken": len(wake),
                "seconds_to_wake": round(time.monotonic() - t1, 2),
                "wake_latency_ms": latency_summary(latencies),
                "worker_peak_rss_mib": peak_rss_mib(worker.pid),
            }
    table = Table(title=f"FNO dormant scale — {k} cases asleep, 1% woken")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("cases started → dormant (s)", fmt(rows["seconds_to_dormant"]))
    table.add_row("cases/s to dormant", fmt(rows["cases_per_s_to_dormant"], 2))
    table.add_row("worker RSS while dormant (MiB)", fmt(rows["worker_rss_mib_dormant"]))
    table.add_row("worker peak RSS (MiB)", fmt(rows["worker_peak_rss_mib"]))
    table.add_row("server database (MiB)", fmt(rows["server_db_mib"]))
    table.add_row("case store (MiB)", fmt(rows["case_store_mib"]))
    table.add_row(
        "history events per dormant casework case",
        fmt(rows["history_events_per_dormant_casework"], 0),
    )
    table.add_row(f"time to wake {rows['woken']} cases (s)", fmt(rows["seconds_to_wake"], 2))
    for p in ("p50", "p95", "p99"):
        table.add_row(f"wake latency {p} (ms)", fmt(rows["wake_latency_ms"][p]))
    Console().print(table)
    result = {
        "kind": "dormant",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "cases": k,
            "day_seconds": day,
            "concurrency": args.concurrency,
            "window": args.dormant_window,
        },
        "figures": rows,
    }
    path = save(result, args.out)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    print(f"results: {shown(path)}")
    return 0
