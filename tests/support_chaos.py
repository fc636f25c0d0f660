"""The chaos tests' machinery (``tests/test_chaos.py``): the cases and their world, the
worker and HTTP API processes, a private PostgreSQL cluster that can be stopped or
made read-only, a TCP proxy that can hold Temporal's answers to the API, and the
progress of every case polled cheaply (visibility first, one query per closed case).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from access.decisions import request_for, send_decision
from identity.principal import Principal
from models.case import Outcome
from models.event import CustodyEvent
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.embedded import start_dev_server, stop_process
from sim.world import Simulator
from sim.world_file import WorldFile, pnc_subject_key
from store.cases import AccessLogEntry, EncounterRecord, SubjectCase
from tests.support import custody_event
from workflows.casework import CriminalCaseworkWorkflow
from workflows.encounter import EncounterWorkflow

ROOT = Path(__file__).resolve().parent.parent
DAY = 0.1  # seconds: a compressed policy
FORCE = "chaos"
CASEWORKER = Principal(subject="local:sam", name="Sam Jones", role="caseworker")
CC_MANAGER = Principal(subject="local:cora", name="Cora Lind", role="cc_manager")

DECISIONS: list[tuple[str, dict[str, Any]]] = [
    ("subject_located", {}),
    # issue 21: a CC manager allocates the located case to the caseworker.
    ("allocate_case", {"owner_id": "local:sam", "owner_name": "Sam Jones", "team": "CC Team 1"}),
    # issue 21: the located checklist; not detained (no Detention Gatekeeper here);
    # Stage 1 and the order on instruction; the decisions' needed fields.
    ("offending_history_review", {"offended_abroad_since": False}),
    (
        "investigating_officer_answer",
        {"officer_reference": "IO-1", "information_held": False, "redocumentation": "none_held"},
    ),
    ("pending_prosecution", {"charges": 0}),
    (
        "detention",
        {
            "detain": False,
            "not_detained_reason": "other",
            "reporting_conditions": "Reports weekly",
            "review_on": "2030-01-15",
        },
    ),
    ("serve_stage1", {"means": "in_person", "sufficient_time": True}),
    (
        "deportation",
        {
            "decision": "deport",
            "address_known": True,
            "in_country_right_of_appeal": False,
            "foreign_convictions": "as certified",
            "uk_convictions": "as on the PNC",
            "outstanding_uk_activity": "none",
        },
    ),
    ("serve_deportation_order", {"means": "in_person"}),
    ("deportation_enforced", {"removed_on": "2026-01-05", "removal_reference": "R-1"}),
]
EFFECTS = [
    "check_requested:criminal_proceedings",
    "conviction_recorded",
    "cid_record_created",
    "wanted_marker_added",
    "wanted_marker_removed",
    "notice_served",
    "notified",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plan(i: int) -> tuple[str, dict[str, Any], Outcome]:
    """(nationality, what the world does, expected outcome) of case ``i``."""
    kind = i % 10
    if kind <= 5:
        return "DE", {"replies": {"DE": {"after_days": 0.5}}}, Outcome.NO_TRACE
    if kind <= 7:
        reply = {"after_days": 1, "convictions": [{"offence": "THEFT"}]}
        return "FR", {"replies": {"FR": reply}}, Outcome.NOT_SERIOUS
    reply = {
        "after_days": 1,
        "convictions": [{"offence": "ROBBERY", "sentence": "3 years"}],
        "certificate_purpose": "immigration_deportation",
    }
    if kind == 8:
        return "SE", {"replies": {"SE": reply}, "left_uk": True}, Outcome.LEFT_UK
    return "NL", {"replies": {"NL": reply}, "located_after_days": 1}, Outcome.DEPORTED


@dataclass
class Plan:
    """``n`` custody events, the world file that answers them, what each must end as."""

    events: list[CustodyEvent]
    world: dict[str, Any]
    expected: dict[str, Outcome]  # encounter ID -> outcome
    subjects: dict[str, str]  # encounter ID -> subject key

    @classmethod
    def make(cls, n: int, fault_rate: float = 0.2, timeout_rate: float = 0.05) -> Plan:
        """``n`` cases in a world whose ACRO, NBTC and PNC fail ``fault_rate`` of the calls
        and lose ``timeout_rate`` of the answers after doing the work."""
        events, subjects, expected = [], {}, {}
        faults = {"rate": fault_rate, "timeout_rate": timeout_rate}
        world: dict[str, Any] = {
            "seed": 7,
            "faults": faults | {"systems": ["acro", "nbtc", "pnc"]},
            "subjects": {},
        }
        for i in range(n):
            nationality, spec, outcome = plan(i)
            pnc = f"20/{i:07d}C"
            event = custody_event(
                nationality=nationality, pnc_id=pnc, force=FORCE, custody_reference=f"CH-{i:04d}"
            )
            world["subjects"][pnc] = spec
            events.append(event)
            subjects[event.case_id()] = pnc_subject_key(pnc, LOCAL_SUBJECT_KEY_SECRET)
            expected[event.case_id()] = outcome
        return cls(events, world, expected, subjects)

    def jsonl(self, events: list[CustodyEvent]) -> str:
        return "\n".join(e.model_dump_json() for e in events)

    def counts(self) -> dict[Outcome, int]:
        return {o: sum(1 for x in self.expected.values() if x is o) for o in Outcome}

    def expected_effects(self) -> dict[str, int]:
        c = self.counts()
        casework = c[Outcome.LEFT_UK] + c[Outcome.DEPORTED]
        return {
            "check_requested:criminal_proceedings": len(self.expected),
            "conviction_recorded": c[Outcome.NOT_SERIOUS] + casework,
            "cid_record_created": casework,
            "wanted_marker_added": c[Outcome.DEPORTED],
            "wanted_marker_removed": c[Outcome.DEPORTED],
            "notice_served": c[Outcome.DEPORTED],
            "notified": 4 * c[Outcome.DEPORTED],
        }

    def by_outcome(self, done: dict[str, Outcome]) -> dict[str, int]:
        return dict(Counter(o.name for o in done.values()))


def side_effects(engine: Engine, world: dict[str, Any]) -> dict[str, int]:
    """The simulated world's side effects, counted in the database it wrote them to."""
    sim = Simulator(engine, WorldFile.model_validate(world))
    return {a: sim.count(a) for a in EFFECTS}


def store_records(engine: Engine, plan: Plan) -> dict[str, Any]:
    """What the case store holds of the run: one record per encounter, one case record
    per subject referred, each access-log act once (no act written twice under two keys)."""
    with Session(engine) as session:
        encounters = list(session.exec(select(EncounterRecord)))
        subject_cases = int(session.exec(select(func.count()).select_from(SubjectCase)).one())
        entries = list(session.exec(select(AccessLogEntry)))
    acts = Counter((e.case_id, e.action, e.document_id, e.justification) for e in entries)
    return {
        "encounters": len(encounters),
        "encounters_closed": sum(
            1 for e in encounters if e.closed_at is not None and e.case_id in plan.expected
        ),
        "subject_cases": subject_cases,
        # Each encounter collects its custody event and the country's reply, once.
        "collected": Counter(
            e.justification.split(" ")[0] for e in entries if e.action == "collection"
        ),
        "acts_repeated": sum(1 for n in acts.values() if n > 1),
        "decisions": _decisions(entries, plan),
    }


def recorded_encounters(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(EncounterRecord.case_id)))


def _decisions(entries: list[AccessLogEntry], plan: Plan) -> dict[str, list[str]]:
    by_case: dict[str, list[str]] = {}
    casework = {
        f"casework-{plan.subjects[c]}": c for c, o in plan.expected.items() if o is Outcome.DEPORTED
    }
    for e in entries:
        if e.action == "decision" and e.case_id in casework:
            by_case.setdefault(casework[e.case_id], []).append(e.justification.split(":")[0])
    # ``subject_located`` is ICE's news: a case ICE's own status answer found first has
    # none (issue 21: allocation is a CC manager's decision, taken either way).
    return {c: sorted(k for k in kinds if k != "subject_located") for c, kinds in by_case.items()}


def expected_records(plan: Plan) -> dict[str, Any]:
    c = plan.counts()
    n = len(plan.expected)
    deported = [case for case, o in plan.expected.items() if o is Outcome.DEPORTED]
    return {
        "encounters": n,
        "encounters_closed": n,
        "subject_cases": c[Outcome.LEFT_UK] + c[Outcome.DEPORTED],
        "collected": Counter({"custody": n, "country": n}),
        "acts_repeated": 0,
        "decisions": {
            case: sorted(k for k, _ in DECISIONS if k != "subject_located") for case in deported
        },
    }


def log_lines(logs: list[Path], *needles: str) -> int:
    """Lines of the logs holding every one of ``needles``."""
    count = 0
    for log in logs:
        with contextlib.suppress(OSError):
            for line in log.read_text(errors="replace").splitlines():
                if all(n in line for n in needles):
                    count += 1
    return count


# Processes ---------------------------------------------------------------------
def process_env(home: Path, port: int, db_url: str, queue: str, **settings: str) -> dict[str, str]:
    """The environment of a ``worker.py`` or ``server.app`` of a test on the dev server
    at ``port``: this process's own (the tests' keys), ``home`` and the case store, a task
    queue of its own named ``queue``-…, no stuck-case scan, JSON logs; ``settings`` on
    top."""
    return (
        os.environ
        | {
            "TEMPORAL_ADDRESS": f"localhost:{port}",
            "TEMPORAL_NAMESPACE": "default",
            "FNO_HOME": str(home),
            "FNO_DATABASE_URL": db_url,
            "FNO_TASK_QUEUE": f"{queue}-{uuid.uuid4().hex[:12]}",
            "FNO_STUCK_SCAN_MINUTES": "0",
            "FNO_LOG_FORMAT": "json",
        }
        | settings
    )


class Workers:
    """``worker.py`` processes, one after another, each with its own log."""

    def __init__(self, env: dict[str, str], logs_dir: Path) -> None:
        self.env, self.logs_dir = env, logs_dir
        self.logs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.ready_at = 0.0
        self.up = False  # started and polling, not killed since

    def start(self, tree: Path = ROOT) -> None:
        """``worker.py`` of ``tree``: this checkout, or another release's code."""
        log = self.logs_dir / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "worker.py"],
                cwd=tree,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within: float = 120) -> None:
        """Until the worker says it polls (its log's "worker started" line)."""
        assert self.proc is not None
        deadline = time.monotonic() + within
        while log_lines(self.logs[-1:], '"worker started"') == 0:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the worker exited with {self.proc.returncode}: {self.logs[-1]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start within {within:g}s")
            await asyncio.sleep(0.2)
        self.ready_at = time.monotonic()
        self.up = True

    def kill(self) -> None:
        assert self.proc is not None
        self.up = False
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, "worker", sig=signal.SIGINT, timeout=15)


class DevServer:
    """The Temporal dev server on its own file, stopped gracefully or killed, and
    started again on the same file and ports."""

    def __init__(self, home: Path, port: int, ui_port: int) -> None:
        self.home, self.port, self.ui_port = home, port, ui_port
        self.proc = start_dev_server(home, port, ui_port)
        self.graceful_restarts = 0
        self.sigkills = 0
        self.down_s: list[float] = []  # from the stop or kill to serving again

    def restart(self) -> None:
        """SIGTERM, then start again."""
        t = time.monotonic()
        stop_process(self.proc, "Temporal server", sig=signal.SIGTERM, timeout=15)
        self.proc = start_dev_server(self.home, self.port, self.ui_port)
        self.graceful_restarts += 1
        self.down_s.append(time.monotonic() - t)

    def kill_and_start(self, down_for: float = 2.0) -> None:
        """SIGKILL (no shutdown at all: the WAL of its SQLite file as the kill left it),
        ``down_for`` seconds away, then start again on the same file."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.sigkills += 1
        time.sleep(down_for)
        self.proc = start_dev_server(self.home, self.port, self.ui_port)
        self.down_s.append(time.monotonic() - t)

    def stop(self) -> None:
        stop_process(self.proc, "Temporal server", sig=signal.SIGTERM, timeout=15)


class ApiProcess:
    """``python -m server.app`` on ``port``, killed and started again at will."""

    def __init__(self, env: dict[str, str], port: int, logs_dir: Path) -> None:
        self.env = env | {"FNO_HTTP_PORT": str(port)}
        self.port, self.logs_dir = port, logs_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> Path:
        log = self.logs_dir / f"api-{self.starts}.log"
        self.starts += 1
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.app"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return log

    async def start(self, within: float = 120) -> None:
        """Start it and wait until it is ready (it answers, and Temporal answers it)."""
        import httpx

        log = self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/ready")).status_code == 200:
                        return
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the HTTP API exited ({self.proc.returncode}): {log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the HTTP API was not ready within {within:g}s: {log}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, "HTTP API", sig=signal.SIGINT, timeout=15)


class HoldingProxy:
    """A TCP proxy from a local port to ``target``. ``hold()`` keeps back whatever the
    target answers (the client's requests still go through) until ``release()``: the
    API's start of a case reaches Temporal, its answer does not reach the API."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for s in list(self._sockets):
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                down, _ = self._listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:  # the server is down: the client tries again
                down.close()
                continue
            with self._lock:
                self._sockets |= {down, up}
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers:
                    self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
            with self._lock:
                self._sockets -= {src, dst}


# A private PostgreSQL --------------------------------------------------------------
def postgres_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl`` (``FNO_PG_BIN``, Debian's layout, or PATH)."""
    candidates = [os.environ.get("FNO_PG_BIN", "")]
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    which = shutil.which("pg_ctl")
    candidates.append(str(Path(which).parent) if which else "")
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on a free port of 127.0.0.1, in a temporary
    folder: stopped, started and made read-only without touching the machine's own.
    Run as the ``postgres`` OS user when the tests run as root (initdb refuses root)."""

    DATABASE = "casework"

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fno-chaos-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        else:
            self._as = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.DATABASE}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self._as, *args],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")

    def create(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", "postgres",
            "-A", "trust",
            "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        self.start()
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {self.DATABASE}")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.dir} -c max_connections=200 "
            # Only ever stopped cleanly (-m fast): nothing to gain from syncing to disk.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def set_read_only(self, on: bool) -> int:
        """Every new session of the case store's database read-only (or not again), and
        the sessions open now ended, so that every connection of the pools is new.
        Returns how many sessions were ended."""
        with self.admin() as conn:
            value = "on" if on else "off"
            conn.execute(
                f"ALTER DATABASE {self.DATABASE} SET default_transaction_read_only = {value}"
            )
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.DATABASE,),
            ).fetchone()
        return int(row[0]) if row else 0

    def destroy(self, keep_log: Path | None = None) -> None:
        """Stop it and remove its folder (its log first copied to ``keep_log``)."""
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        if keep_log is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log, keep_log)
        shutil.rmtree(self.dir, ignore_errors=True)


# Progress ------------------------------------------------------------------------
SAM_ID = "local:sam"


@dataclass
class Progress:
    """Every case's progress, polled cheaply: visibility says which encounters closed,
    each is queried once for its outcome; the deported cases' casework is sent the
    decisions it awaits (a caseworker's part)."""

    client: Client
    plan: Plan
    workers: Workers
    trace: Path | None = None  # a line per round and per fault: read it when a run fails
    done: dict[str, Outcome] = field(default_factory=dict)
    decisions_sent: int = 0
    errors: int = 0
    t0: float = field(default_factory=time.monotonic)

    def note(self, what: str) -> None:
        if self.trace is not None:
            with self.trace.open("a") as f:
                f.write(f"{time.monotonic() - self.t0:7.1f}s {what}\n")

    async def poll(self) -> None:
        closed = "WorkflowType = 'EncounterWorkflow' AND ExecutionStatus != 'Running'"
        new = [
            w.id
            async for w in self.client.list_workflows(closed)
            if w.id in self.plan.expected and w.id not in self.done
        ]
        deported = {
            f"casework-{self.plan.subjects[c]}"
            for c, o in self.plan.expected.items()
            if o is Outcome.DEPORTED
        }
        running = "WorkflowType = 'CriminalCaseworkWorkflow' AND ExecutionStatus = 'Running'"
        open_cases = [w.id async for w in self.client.list_workflows(running) if w.id in deported]
        # A query waits for a worker: none while there is none, the others bounded.
        if not self.workers.up:
            return
        limit = asyncio.Semaphore(8)
        await asyncio.gather(
            *(self._outcome(limit, c) for c in new), *(self._decide(limit, w) for w in open_cases)
        )

    async def _outcome(self, limit: asyncio.Semaphore, case_id: str) -> None:
        handle = self.client.get_workflow_handle(case_id)
        async with limit:
            try:
                s = await asyncio.wait_for(handle.query(EncounterWorkflow.state), 5)
            except Exception:  # no worker just now, or the server is away
                return
        if s.closed_at is not None and s.outcome is not None:
            self.done[case_id] = s.outcome

    async def _decide(self, limit: asyncio.Semaphore, workflow_id: str) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        async with limit:
            try:
                s = await asyncio.wait_for(handle.query(CriminalCaseworkWorkflow.state), 5)
            except Exception:
                return
            for kind, fields in DECISIONS:
                if kind not in s.awaiting:
                    continue
                who = CC_MANAGER if kind == "allocate_case" else CASEWORKER
                req = request_for(who, "chaos test", {"kind": kind, **fields})
                try:
                    await asyncio.wait_for(send_decision(self.client, handle.id, who, req), 10)
                    self.decisions_sent += 1
                except Exception:
                    pass  # a repeat after a lost answer is refused; retried next round

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.poll()
            except Exception as err:
                self.errors += 1  # the server is restarting
                self.note(f"poll failed: {type(err).__name__}")
            self.note(f"closed={len(self.done)} decisions_sent={self.decisions_sent}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def still_open(self) -> list[str]:
        """What each case not closed waits for: its stage, and its casework case's stage,
        awaited kinds and last timeline entries (for the figures when a run fails)."""
        lines = []
        for case_id in sorted(set(self.plan.expected) - set(self.done)):
            try:
                s = await self.client.get_workflow_handle(case_id).query(EncounterWorkflow.state)
                line = f"{case_id}: {s.stage.name}"
                if s.casework_id:
                    c = await self.client.get_workflow_handle(s.casework_id).query(
                        CriminalCaseworkWorkflow.state
                    )
                    last = [(e.kind, e.text[:60]) for e in c.timeline[-3:]]
                    line += f" casework {c.stage.name} awaiting={c.awaiting} last={last}"
            except Exception as err:
                line = f"{case_id}: unreadable ({type(err).__name__})"
            lines.append(line)
        return lines

    async def wait_all_closed(self, deadline: float) -> bool:
        """Until every encounter closed and no casework runs, or ``deadline`` passes."""
        running = "WorkflowType = 'CriminalCaseworkWorkflow' AND ExecutionStatus = 'Running'"
        while time.monotonic() < deadline:
            if len(self.done) == len(self.plan.expected):
                with contextlib.suppress(Exception):
                    if (await self.client.count_workflows(running)).count == 0:
                        return True
            await asyncio.sleep(0.5)
        return False


async def sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.monotonic()))


# The integrator: custody events over HTTP, the API killed under it -------------------
@dataclass
class Integrator:
    """A custody system sending events to the HTTP intake one after another, retrying an
    event until it has an answer (a broken connection, a 5xx). Every ``kill_every``-th
    event, the API is killed with SIGKILL while it handles it, then started again:

    * ``after_start`` — Temporal's answers to the API are held back (``HoldingProxy``),
      the case is seen started on the server, then the kill: the case exists and the
      integrator never heard of it. The retry must get the same case, "already received".
    * ``on_send`` — the kill a few milliseconds after the request is sent: before or after
      the case started, the retry gets the one case ("started" or "already received").
    """

    api: ApiProcess
    proxy: HoldingProxy
    client: Client
    credentials: dict[str, str]  # the custody system's headers
    lock: asyncio.Lock  # held while the API is killed and started: no server restart then
    kill_every: int = 4
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    retry_answers: Counter[str] = field(default_factory=Counter)
    answered_before_kill: int = 0
    retries: int = 0
    unexpected: list[str] = field(default_factory=list)

    async def send_all(self, events: list[CustodyEvent]) -> None:
        import httpx

        # No keep-alive: a connection to a killed API is not picked up again.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.api.base_url, timeout=30, limits=limits) as http:
            for j, event in enumerate(events):
                kill = j % self.kill_every == self.kill_every - 1
                mode = ("after_start", "on_send")[(j // self.kill_every) % 2] if kill else None
                await self.deliver(http, event, mode, j)

    async def deliver(self, http: Any, event: CustodyEvent, mode: str | None, j: int) -> None:
        case_id = event.case_id()
        body = event.model_dump_json()
        if mode is not None:
            async with self.lock:
                # The API's connection to Temporal up (after a server restart, it is made
                # again on first use): the start, not the connection, meets the hold.
                await self._until_ready(http)
                if mode == "after_start":
                    self.proxy.hold()
                try:
                    post = asyncio.create_task(self._post(http, body))
                    if mode == "after_start":
                        if not await self._started(case_id, post):
                            self.unexpected.append(f"{case_id}: not started before the kill")
                    else:
                        await asyncio.sleep((0, 0.002, 0.005, 0.01, 0.02)[j % 5])
                    self.api.kill()
                finally:
                    self.proxy.release()
                self.kills[mode] += 1
                with contextlib.suppress(Exception):
                    if (await post).status_code in (200, 201):
                        self.answered_before_kill += 1
                        if mode == "after_start":
                            self.unexpected.append(f"{case_id}: answered though held back")
                await self.api.start()
        answer = await self._until_answered(http, body, case_id)
        if answer is None:
            return
        self.answers[case_id] = answer
        if answer.get("case_id") != case_id:
            self.unexpected.append(f"{case_id}: answered with case {answer.get('case_id')}")
        if mode == "after_start" and answer.get("status") != "already_received":
            self.unexpected.append(f"{case_id}: the retry after the start said {answer}")
        if mode is None and answer.get("status") != "started":
            self.unexpected.append(f"{case_id}: a first and only send said {answer}")
        if mode is not None:
            self.retry_answers[f"{mode}:{answer.get('status')}"] += 1

    async def _until_ready(self, http: Any, within: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)

    async def _post(self, http: Any, body: str) -> Any:
        headers = self.credentials | {"Content-Type": "application/json"}
        return await http.post("/custody-events", content=body, headers=headers)

    async def _started(self, case_id: str, post: asyncio.Task[Any], within: float = 30) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not post.done():
            try:
                await self.client.get_workflow_handle(case_id).describe()
                return True
            except Exception:
                await asyncio.sleep(0.01)
        return False

    async def _until_answered(
        self, http: Any, body: str, case_id: str, within: float = 180
    ) -> dict[str, Any] | None:
        import httpx

        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                r = await self._post(http, body)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code in (200, 201):
                return dict(r.json())
            if r is not None and r.status_code < 500:
                self.unexpected.append(f"{case_id}: {r.status_code} {r.text[:200]}")
                return None
            self.retries += 1
            await asyncio.sleep(0.5)
        self.unexpected.append(f"{case_id}: no answer within {within:g}s")
        return None


def safety_net_runs(workers: list[Path]) -> str:
    """The safety net's runs as the workers logged them (counts only)."""
    return "runs={} delivered_lines={} acro_log_unread={} not_settled={}".format(
        log_lines(workers, '"acro replies reconciled"', '"asked"'),
        log_lines(workers, '"reply delivered"'),
        log_lines(workers, "ACRO's log not read"),
        log_lines(workers, "reconciliation: not settled"),
    )


def reply_trail(
    engine: Engine, cases: list[str], workers: list[Path], others: list[Path]
) -> list[str]:
    """Where each of ``cases``' replies went (a failed run's diagnosis, printed with the
    figures): the request as the case store has it, the reply's row, the world's push
    and certificate, and the log lines naming the request. IDs, states and times only."""
    from sim.tables import SimCertificate, SimPush
    from store.replies import AcroReply, AcroRequest

    lines = []
    with Session(engine) as session:
        for case_id in cases:
            for req in session.exec(select(AcroRequest).where(AcroRequest.workflow_id == case_id)):
                reply = session.exec(
                    select(AcroReply).where(AcroReply.request_ref == req.request_ref)
                ).all()
                push = session.get(SimPush, req.request_ref)
                cert = session.get(SimCertificate, req.request_ref)
                lines.append(
                    f"{case_id} {req.request_ref}: requested={req.requested_at:%H:%M:%S.%f} "
                    f"replied={req.replied_at and f'{req.replied_at:%H:%M:%S.%f}'} "
                    f"replies={[(r.status, f'{r.received_at:%H:%M:%S.%f}') for r in reply]} "
                    f"push={push and (push.state, push.attempts, push.sends, push.last_code)} "
                    f"world_requested={cert and f'{cert.requested_at:%H:%M:%S.%f}'} "
                    f"destroyed={cert and cert.destroyed} "
                    f"worker_lines={log_lines(workers, req.request_ref)} "
                    f"api_world_lines={log_lines(others, req.request_ref)}"
                )
    return lines
