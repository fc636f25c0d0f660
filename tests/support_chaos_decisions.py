"""Helpers of the decisions chaos test (tests/test_chaos_decisions.py): the cases'
plans, the worker processes killed and restarted, the caseworkers' decision driver,
and replaying every history on the server.

A plan says what the world does for one subject, the decisions its caseworkers
make and what an undisturbed run ends with: the outcome, each side effect in the
simulator and each decision in the access log.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowHistory

from access.decisions import request_for, send_decision
from access.errors import DecisionRefused
from identity.principal import Principal
from models.case import CaseworkState, Outcome, Stage, casework_id_for
from models.decisions import DecisionRequest
from runtime.config import LOCAL_SUBJECT_KEY_SECRET
from runtime.embedded import stop_process
from sim.tables import SimEffect
from sim.world_file import pnc_subject_key
from tests.support import CODEC_KEYS, custody_event, decrypted_history
from tests.support_front_door import replayer
from workflows.casework import CriminalCaseworkWorkflow

ROOT = Path(__file__).resolve().parent.parent
REMOVED_ON = "2025-01-06"  # the enforcement date ICE reports: in the past
NATIONALITIES = ["NL", "PL", "RO", "FR", "DE", "IT", "ES", "BG"]
# Who decides (``send_decision`` sends as them, through the front door).
CASEWORKER = Principal(subject="local:sam", name="Sam Jones", role="caseworker")
DIRECTOR = Principal(subject="local:dana", name="Dana Director", role="director")
GATEKEEPER = Principal(subject="local:dee", name="Dee Gate", role="detention_gatekeeper")
# issue 21 (h1): the located checklist, answered as ``tests.support.through_checklist``.
CHECKLIST: dict[str, dict[str, Any]] = {
    "offending_history_review": {"offended_abroad_since": False},
    "investigating_officer_answer": {
        "officer_reference": "IO-REF-1",
        "information_held": False,
        "redocumentation": "none_held",
    },
    "pending_prosecution": {"charges": 0},
}
NOT_DETAINED = {
    "not_detained_reason": "unsuitable_medical",
    "reporting_conditions": "Reports weekly at the local reporting centre",
    "review_on": "2030-01-15",
}
CC_MANAGER = Principal(subject="local:cora", name="Cora Lind", role="cc_manager")


def sender(req: DecisionRequest) -> Principal:
    """The person whose decision ``req`` is."""
    return {
        DIRECTOR.role: DIRECTOR,
        GATEKEEPER.role: GATEKEEPER,
        CC_MANAGER.role: CC_MANAGER,
    }.get(req.role, CASEWORKER)


# The paths through step 10 of the guidance, each with the decisions it takes.
DEPORT = "deport"  # deport, enforced
REJECTED = "director_rejected"  # not pursued, the Director rejects, deport, enforced
NOT_PURSUED = "not_pursued"  # not pursued, the Director approves, no referral
# issue 21: the three factors a deportation decision records (its needed fields).
FACTORS = {
    "foreign_convictions": "as certified",
    "uk_convictions": "as on the PNC",
    "outstanding_uk_activity": "none",
}
ADMIN_REMOVAL = "admin_removal"  # not pursued, approved, referred to Removals Casework
PATHS = [DEPORT, DEPORT, DEPORT, DEPORT, DEPORT, REJECTED, NOT_PURSUED, ADMIN_REMOVAL]


@dataclass
class Plan:
    """One custody event whose subject is liable to deportation, and its casework."""

    index: int
    path: str
    detain: bool
    serving_sentence: bool

    @property
    def pnc(self) -> str:
        return f"21/{self.index:07d}D"

    @property
    def nationality(self) -> str:
        return NATIONALITIES[self.index % len(NATIONALITIES)]

    @property
    def event(self) -> Any:
        return custody_event(
            nationality=self.nationality,
            pnc_id=self.pnc,
            force="chaos",
            custody_reference=f"CD-{self.index:04d}",
        )

    @property
    def encounter_id(self) -> str:
        return str(self.event.case_id())

    @property
    def subject_key(self) -> str:
        return pnc_subject_key(self.pnc, LOCAL_SUBJECT_KEY_SECRET)

    @property
    def casework_id(self) -> str:
        return casework_id_for(self.subject_key)

    def world(self) -> dict[str, Any]:
        """The simulator's subject: a disclosable (immigration-purpose) certificate
        with a serious conviction, still in the UK, never located by ICE on its own and
        never declared unable to be located either (so ICE is polled, a timer, all the
        while the case awaits ``subject_located``, however late the kills make it)."""
        reply = {
            "after_days": 1,
            "convictions": [{"offence": "ROBBERY", "sentence": "4 years"}],
            "certificate_purpose": "immigration_deportation",
        }
        return {
            "replies": {self.nationality: reply},
            "located_after_days": None,
            "unable_to_locate_after_days": None,
        }

    @property
    def outcome(self) -> Outcome:
        if self.path == NOT_PURSUED:
            return Outcome.NOT_PURSUED
        if self.path == ADMIN_REMOVAL:
            return Outcome.NOT_PURSUED_ADMIN_REMOVAL
        return Outcome.DEPORTED

    @property
    def decision_kinds(self) -> list[str]:
        """Each decision the case takes, once (sorted, as the access log is compared)."""
        kinds = [
            "subject_located",
            "allocate_case",
            *CHECKLIST,
            "detention",
            "serve_stage1",
            "deportation",
        ]
        if self.detain:
            kinds += ["detention_gatekeeper"]
        removal = ["serve_deportation_order", "deportation_enforced"]  # issue 21
        if self.path == DEPORT:
            kinds += removal
        elif self.path == REJECTED:
            kinds += ["director_approval", "deportation", *removal]
        else:
            kinds += ["director_approval", "admin_removal_referral"]
        return sorted(kinds)

    def decision(self, kind: str, state: CaseworkState | None) -> DecisionRequest | None:
        """What the caseworker (or the Director) decides when the case awaits ``kind``."""
        who = CASEWORKER
        fields: dict[str, Any]
        if kind == "subject_located":
            fields = {}
        elif kind == "allocate_case":  # issue 21: a CC manager allocates to the caseworker
            who = CC_MANAGER
            fields = {"owner_id": CASEWORKER.subject, "owner_name": CASEWORKER.name}
            fields["team"] = "CC Team 1"
        elif kind in CHECKLIST:
            fields = CHECKLIST[kind]
        elif kind == "detention":
            fields = {"detain": self.detain, "serving_prison_sentence": self.serving_sentence}
            if not self.detain:
                fields |= NOT_DETAINED
        elif kind == "detention_gatekeeper":
            who = GATEKEEPER
            fields = {"accept": True}
        elif kind == "deportation":
            rejected = state is not None and state.director_approved is False
            deport = self.path == DEPORT or (self.path == REJECTED and rejected)
            fields = {"decision": "deport" if deport else "not_pursued", **FACTORS}
            if deport:
                fields |= {"address_known": True, "in_country_right_of_appeal": False}
            else:
                fields["submission_reasons"] = "chaos test: not appropriate"
        elif kind == "director_approval":
            who = DIRECTOR
            fields = {"approve": self.path != REJECTED}
        elif kind == "admin_removal_referral":
            fields = {"refer": self.path == ADMIN_REMOVAL}
            if self.path != ADMIN_REMOVAL:
                fields["lawful_residence_basis"] = "chaos test: settled status"
        elif kind == "deportation_enforced":
            fields = {"removed_on": REMOVED_ON, "removal_reference": "R-1"}
        elif kind == "serve_stage1":
            fields = {"means": "in_person", "sufficient_time": True}
        elif kind == "serve_deportation_order":
            fields = {"means": "in_person"}
        else:
            return None
        return request_for(who, "chaos test of decisions", {"kind": kind, **fields})

    def effects(self) -> dict[str, int]:
        """Each side effect an undisturbed run has in the simulator for this subject."""
        deported = self.outcome is Outcome.DEPORTED
        once = [
            "check_requested:criminal_proceedings",
            "conviction_recorded",
            "cid_record_created",
            "case_details_recorded",
            "calendar_event",
            "pnc_check_requested",
            "paper_file_created",
            "nbtc_checked",
            "wanted_marker_added",
            "tasked_to_locate",
            "wanted_marker_removed",
            "investigating_officer_contacted",
            "pnc_print_obtained",
            "notice_served",
            "cid_outcome",
        ]
        counts = dict.fromkeys(once, 1)
        if deported and not self.detain:
            counts["asked_to_detain"] = 1  # address known, no in-country appeal
        if deported and not self.detain:
            counts["detention_evidence"] = 1  # issue 21: with the evidence's reference
        if deported:
            counts["notified"] = 4
            counts["deportation_order_served"] = 1  # issue 21
        if self.path != DEPORT:
            counts["director_submission"] = 1
            counts["submission_document"] = 1  # issue 21: the reasons stored
        if self.path in (NOT_PURSUED, ADMIN_REMOVAL):
            counts["advised_deportation_not_pursued"] = 1
        if self.path == ADMIN_REMOVAL:
            counts["removals_referral"] = 1
        return dict(sorted(counts.items()))


def plans(n: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    return [
        Plan(
            index=i,
            path=PATHS[i % len(PATHS)],
            detain=rng.random() < 0.5,
            serving_sentence=rng.random() < 0.2,
        )
        for i in range(n)
    ]


def effects_by_subject(engine: Engine) -> dict[str, dict[str, int]]:
    """Every side effect in the simulator, counted by subject and action."""
    with Session(engine) as session:
        rows = session.exec(select(SimEffect.subject_key, SimEffect.action)).all()
    counts: dict[str, Counter[str]] = {}
    for subject_key, action in rows:
        counts.setdefault(subject_key, Counter())[action] += 1
    return {k: dict(sorted(c.items())) for k, c in counts.items()}


# --- the worker, killed and restarted ---------------------------------------------------
# A worker.py process that has done its imports (the slow part of its start on a busy
# machine) and waits for a line on its standard input to run worker.main: a restart
# "at once" then polls a moment after the kill, and the test spends less time waiting.
# Without that line (the test gone) it exits.
STANDBY = (
    "import runpy, sys, access.stuck, processes.worker; "
    "sys.exit(0) if sys.stdin.readline() != 'go\\n' "
    "else runpy.run_path('worker.py', run_name='__main__')"
)


@dataclass
class Workers:
    """``worker.py`` processes: one running at a time, the next one waiting (imported),
    each with its own log."""

    env: dict[str, str]
    folder: Path
    logs: list[Path] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    standby: tuple[subprocess.Popen[bytes], Path] | None = None
    kills: int = 0

    def _spawn(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.folder / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", STANDBY],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return proc, log

    def start(self) -> None:
        """Run the waiting worker (a new one the first time); the next one gets ready."""
        assert self.proc is None or self.proc.poll() is not None
        self.proc, self.log = self.standby or self._spawn()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.close()
        self.standby = self._spawn()

    async def ready(self, within: float = 60.0) -> None:
        """Until the current worker polls (its log says so)."""
        deadline = time.monotonic() + within
        assert self.proc is not None and self.log is not None
        while b"worker started" not in self.log.read_bytes():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # its pollers are in flight

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def end(self) -> None:
        """Stop the running worker (gracefully) and the waiting one."""
        if self.standby is not None:
            self.standby[0].kill()
            self.standby[0].wait()
        if self.proc is not None:
            stop_process(self.proc, "worker", timeout=15)

    def log_count(self, text: str) -> int:
        return sum(log.read_text(errors="replace").count(text) for log in self.logs)


# --- the caseworkers ----------------------------------------------------------------------
@dataclass
class Driver:
    """Caseworkers, one per case, all at once: each queries its case and sends
    whatever it awaits; a refused or unanswered decision is tried again once the case
    is looked at afresh."""

    client: Client
    send_timeout: float = 45.0
    query_timeout: float = 3.0
    cases: list[Plan] = field(default_factory=list)
    states: dict[str, CaseworkState] = field(default_factory=dict)
    caseworkers: list[asyncio.Task[None]] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    blind: int = 0
    sending: asyncio.Event = field(default_factory=asyncio.Event)  # some decision in flight
    watched: dict[str, tuple[float, float]] = field(default_factory=dict)  # monotonic span

    def add(self, plan: Plan, stop: asyncio.Event, every: float = 0.3) -> None:
        """A caseworker on ``plan``'s case from now on, until it closes or ``stop``."""
        self.cases.append(plan)
        self.caseworkers.append(asyncio.create_task(self.caseworker(plan, stop, every)))

    async def look(self, plan: Plan) -> None:
        """Query the case; send what it awaits (one decision at a time per case)."""
        wid = plan.casework_id
        if wid in self.closed or wid in self.in_flight:
            return
        handle = self.client.get_workflow_handle(wid)
        try:
            s = await asyncio.wait_for(
                handle.query(CriminalCaseworkWorkflow.state), self.query_timeout
            )
        except Exception:  # not started yet, the worker is dead, the task is stalled
            return
        self.states[wid] = s
        if s.stage is Stage.STAGE1_RESPONSE_WINDOW and s.deadlines and wid not in self.watched:
            self.watch(plan, s.deadlines[0].due_at)
        if s.stage is Stage.CLOSED:
            self.closed.add(wid)
            return
        for kind in s.awaiting:
            req = plan.decision(kind, s)
            if req is not None:
                self.launch(plan, req)
                return

    async def caseworker(self, plan: Plan, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set() and plan.casework_id not in self.closed:
            await self.look(plan)
            sending = self.in_flight.get(plan.casework_id)
            if sending is not None:
                await asyncio.gather(sending, return_exceptions=True)
            start, end = self.watched.get(plan.casework_id, (0.0, 0.0))
            now = time.monotonic()
            if start <= now < end:
                await asyncio.sleep(0.05)
            else:
                await asyncio.sleep(min(every, start - now) if now < start else every)

    def watch(self, plan: Plan, due: datetime) -> None:
        """Look at the case every 50 ms from just before ``due`` to a few seconds after
        (a caseworker waiting for the Stage 1 window to end): its timer fires then,
        and its next task may wait a moment for a worker."""
        starts_in = (due - datetime.now(UTC)).total_seconds() - 0.3
        now = time.monotonic()
        self.watched[plan.casework_id] = (now + starts_in, now + starts_in + 4.0)

    def launch(self, plan: Plan, req: DecisionRequest, *, blind: bool = False) -> bool:
        wid = plan.casework_id
        if wid in self.in_flight or wid in self.closed:
            return False
        self.blind += blind
        self.in_flight[wid] = asyncio.create_task(self.send(plan, req))
        self.sending.set()
        return True

    async def send(self, plan: Plan, req: DecisionRequest) -> None:
        wid = plan.casework_id
        self.sent += 1
        try:
            await asyncio.wait_for(
                send_decision(self.client, wid, sender(req), req), self.send_timeout
            )
            self.accepted += 1
        except DecisionRefused:
            self.refused += 1  # not (or no longer) awaited: looked at again next round
        except Exception:
            self.failed += 1  # no answer in time: the case may have taken it all the same
        finally:
            self.in_flight.pop(wid, None)
            if not self.in_flight:
                self.sending.clear()
            self.states.pop(wid, None)  # what it awaits is to be looked at afresh

    def stage1_due(self) -> list[tuple[datetime, Plan]]:
        """Cases last seen in their Stage 1 response window, with its end."""
        due = []
        for plan in self.cases:
            s = self.states.get(plan.casework_id)
            if s is not None and s.stage is Stage.STAGE1_RESPONSE_WINDOW and s.deadlines:
                due.append((s.deadlines[0].due_at, plan))
        return sorted(due, key=lambda pair: pair[0])

    def send_blind(self) -> int:
        """While the worker is dead: for each open case, what it was last seen awaiting,
        and the deportation decision where its Stage 1 window has ended since."""
        now = datetime.now(UTC)
        launched = 0
        for plan in self.cases:
            s = self.states.get(plan.casework_id)
            if s is None:
                continue
            kinds = list(s.awaiting)
            if s.stage is Stage.STAGE1_RESPONSE_WINDOW and s.deadlines:
                if s.deadlines[0].due_at <= now:
                    kinds = ["deportation"]
            for kind in kinds:
                req = plan.decision(kind, s)
                if req is not None and self.launch(plan, req, blind=True):
                    launched += 1
                    break
        return launched

    async def stop(self) -> None:
        """Stop looking at cases; give up decisions still unanswered."""
        tasks = [*self.caseworkers, *self.in_flight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- replaying every history --------------------------------------------------------------
@dataclass
class ReplayReport:
    ok: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # "workflow_id run_id" -> error
    saved: list[Path] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    with_update: Counter[str] = field(default_factory=Counter)  # see resolved_with_update
    task_timeouts: Counter[str] = field(default_factory=Counter)  # by timeout type


async def replay_all(client: Client, save_to: Path) -> ReplayReport:
    """Replay the history of every workflow execution on the server (running and
    closed, each run) against today's workflow code; save each history that fails,
    decrypted, as JSON under ``save_to``."""
    report = ReplayReport()
    executions = [e async for e in client.list_workflows()]
    histories: dict[str, WorkflowHistory] = {}

    async def fetch(wid: str, run_id: str) -> None:
        handle = client.get_workflow_handle(wid, run_id=run_id)
        histories[run_id] = await handle.fetch_history()

    sem = asyncio.Semaphore(8)

    async def bounded(wid: str, run_id: str) -> None:
        async with sem:
            await fetch(wid, run_id)

    await asyncio.gather(*(bounded(e.id, e.run_id) for e in executions))
    for e in executions:
        report.by_type[e.workflow_type] += 1

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories.values():
            yield history

    results = await replayer(CODEC_KEYS).replay_workflows(each(), raise_on_replay_failure=False)
    by_run = {e.run_id: e for e in executions}
    for run_id, history in histories.items():
        report.with_update.update(resolved_with_update(history))
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                timeout = event.workflow_task_timed_out_event_attributes.timeout_type
                report.task_timeouts[TimeoutType.Name(timeout).removeprefix("TIMEOUT_TYPE_")] += 1
        failure = results.replay_failures.get(run_id)
        if failure is None:
            report.ok += 1
            continue
        wid = by_run[run_id].id
        report.failed[f"{wid} {run_id}"] = repr(failure)[:400]
        report.saved.append(save_decrypted(history, save_to / f"{wid}-{run_id}.json"))
    return report


def save_decrypted(history: WorkflowHistory, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json.loads(decrypted_history(history).to_json()), indent=1))
    return path


RESOLUTIONS = {
    EventType.EVENT_TYPE_TIMER_FIRED: "timer",
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
}


def resolved_with_update(history: WorkflowHistory) -> Counter[str]:
    """Workflow tasks that took an accepted update together with a fired timer (or an
    activity's result, a signal): the interleaving that left cases unreplayable
    (issue 16). By what came with the update."""
    found: Counter[str] = Counter()
    since: set[str] = set()  # what arrived since the last completed workflow task
    events = list(history.events)
    for n, event in enumerate(events):
        kind = event.event_type
        if kind in RESOLUTIONS:
            since.add(RESOLUTIONS[kind])
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            for later in events[n + 1 :]:
                if later.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    break
                if later.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                    found.update(since)
                    break
            since = set()
    return found


def differences(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The keys whose values differ: {key: (actual, expected)}."""
    return {
        k: (actual.get(k), expected.get(k))
        for k in sorted(set(actual) | set(expected))
        if actual.get(k) != expected.get(k)
    }
