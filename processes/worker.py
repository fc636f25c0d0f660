"""The worker: runs the casework workflows and activities (``worker.py`` starts it).

    python worker.py        (or: make worker)

Connection from ``TEMPORAL_*`` variables / profile (see ``runtime.config``), product
settings from ``FNO_*``; the front-door key is required (``runtime.front_door``): the
worker takes decisions and starts only with the front door's assertion
(``processes.front_door``), and refuses unencrypted payloads unless
``FNO_ACCEPT_UNENCRYPTED_PAYLOADS=1``. SIGINT or SIGTERM stops polling, lets running activities
finish for up to ``SHUTDOWN_GRACE`` and exits; an activity still running then is
retried by Temporal on the next worker. Nothing here logs personal data.
"""

from __future__ import annotations

import asyncio
import compileall
import inspect
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.core import StoreErrorsSurface
from adapters.http_client import HttpSystem
from models.metrics import CASES_HISTORY_LARGE, CASES_STUCK, HISTORY_LARGE_CODE
from models.reference import OffenceTableError, use_offence_table_from_env
from processes.acro_reconciliation_schedule import (
    ScheduleSettingError,
)
from processes.acro_reconciliation_schedule import (
    ensure_at_startup as ensure_acro_replies_schedule,
)
from processes.acro_reconciliation_schedule import (
    run_interval as acro_reconcile_every,
)
from processes.activities import build_activities, http_config
from processes.front_door import FrontDoorWorker, guards
from processes.health import HEALTH_ADDRESS_ENV, Check, Health, serve_health
from processes.metrics_scan import keep_gauges, scan_seconds
from processes.reconciliation_schedule import (
    ensure_at_startup as ensure_reconciliation_schedule,
)
from runtime.codec_keys import CodecKeys
from runtime.config import Settings, connect
from runtime.front_door import (
    CASE_PROCESS,
    require_front_door_keys,
    unsigned_starts_trusted_before,
)
from runtime.logs import configure_logging, get_logger
from runtime.metrics import MetricsConfigError, listen_address, worker_runtime
from runtime.tracing import TracingConfigError, configure_tracing, instrument_outside_calls
from store.engine import make_engine
from store.migrate import require_current
from workflows import WORKFLOWS, activation_order

SHUTDOWN_GRACE = timedelta(seconds=10)
# Synchronous (def) activities run on this many threads; async ones on the event loop.
MAX_CONCURRENT_ACTIVITIES = 32

# The stuck-case scan (``access.stuck.stuck_cases``): called as
# ``stuck_cases(client, now=...)``, answering cases with ``case_id``, ``stage``, ``why``
# and ``last_error``. Passed in by ``worker.py``: the access layer sits above this one.
StuckCaseScan = Callable[..., Awaitable[Sequence[Any]]]


async def main(stuck_cases: StuckCaseScan) -> None:
    """The worker's start-up and main loop, with the periodic scan that logs stuck
    cases through ``stuck_cases`` (every ``FNO_STUCK_SCAN_MINUTES``, 0 for none)."""
    configure_logging(os.environ.get("FNO_LOG_FORMAT", "auto"))
    settings = Settings.from_env()
    try:  # the triage table (FNO_OFFENCE_TABLE): a bad file refuses to start, saying why
        use_offence_table_from_env()
    except OffenceTableError as err:
        get_logger("fno.worker").error("refused to start: bad offence table", why=str(err))
        raise SystemExit(2) from None
    # Without either key, refuse to start (exit status 2) saying what to set.
    CodecKeys.from_env()
    front_door = require_front_door_keys()
    trust_unsigned_before = unsigned_starts_trusted_before()
    # Its health and metrics endpoints (FNO_HEALTH_ADDRESS, FNO_METRICS_ADDRESS) and
    # traces (FNO_TRACING): a bad setting or a port in use refuses to start, saying why.
    try:
        health_address = listen_address(HEALTH_ADDRESS_ENV)
        runtime = worker_runtime()
        configure_tracing("fno-worker")  # FNO_TRACING: the client's interceptor, below
    except Exception as err:
        known = isinstance(err, MetricsConfigError | TracingConfigError)
        why = str(err) if known else type(err).__name__
        get_logger("fno.worker").error("refused to start: metrics, health or tracing", why=why)
        raise SystemExit(2) from None
    try:  # FNO_ACRO_RECONCILE_EVERY_SECONDS: how often the replies' safety net runs
        acro_reconcile_every()
    except ScheduleSettingError as err:
        get_logger("fno.worker").error("refused to start: the safety net's schedule", why=str(err))
        raise SystemExit(2) from None
    instrument_outside_calls()
    # The worker's own starts (a casework referral, a notification) sign as the process.
    client = await connect(acting_for=CASE_PROCESS, runtime=runtime)
    log = get_logger(
        "fno.worker",
        task_queue=settings.task_queue,
        namespace=client.namespace,
        address=client.service_client.config.target_host,
    )
    await ensure_reconciliation_schedule(client, settings, log)  # notifications out
    await ensure_acro_replies_schedule(client, settings, log)  # the replies' safety net

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    with ThreadPoolExecutor(MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="activity") as pool:
        worker = make_worker(
            client,
            settings.task_queue,
            WORKFLOWS,
            build_activities(settings),
            pool,
            front_door=front_door,
            trust_unsigned_before=trust_unsigned_before,
        )
        meter = runtime.metric_meter if runtime is not None else None
        scan_minutes = float(os.environ.get("FNO_STUCK_SCAN_MINUTES", "5"))
        watchers = []
        if scan_minutes > 0:
            watch = watch_for_stuck_cases(client, log, scan_minutes, stuck_cases, meter=meter)
            watchers.append(asyncio.create_task(watch))
        if meter is not None and scan_seconds() > 0:
            watchers.append(asyncio.create_task(keep_gauges(client, meter, scan_seconds(), log)))
        health: Health | None = None
        if health_address is not None:  # the checks made only when they are served
            health = Health(health_checks(client, settings), polling=True)
            watchers.append(asyncio.create_task(serve_health(health, health_address, log)))
        try:
            await run_until_signalled(worker, stop, log, policy=settings.policy.name)
        finally:
            if health is not None:
                health.polling = False
            for watcher in watchers:
                watcher.cancel()


def health_checks(client: Client, settings: Settings) -> dict[str, Check]:
    """What the worker's readiness asks (``processes.health``), by the code said when
    the check fails."""
    engine = make_engine(settings.database_url)

    async def temporal() -> bool:
        await client.service_client.check_health()
        return True

    async def case_store() -> bool:
        await asyncio.to_thread(require_current, engine)
        return True

    checks: dict[str, Check] = {
        "temporal_unreachable": temporal,
        "case_store_out_of_date": case_store,
    }
    if settings.world is not None:
        world = HttpSystem(http_config(settings.world))

        async def outside_systems() -> bool:
            return await asyncio.to_thread(world.reachable)

        checks["world_unreachable"] = outside_systems
    return checks


def make_worker(
    client: Client,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    pool: ThreadPoolExecutor,
    *,
    front_door: CodecKeys | None = None,
    trust_unsigned_before: datetime | None = None,
) -> Worker:
    """The worker with the product's settings (the benchmark's baseline uses the same).

    Case workflows need the ``front_door`` keys: the worker then takes decisions and
    starts only from the front door (``processes.front_door``)."""
    if front_door is None and guards(workflows):
        raise ValueError("a worker of the case workflows needs the front-door key")
    compile_workflow_modules(workflows)
    activation_order.install()  # decisions judged in order (an SDK fault; see the module)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        workflow_runner=sandbox_runner(workflows),
        activities=activities,
        activity_executor=pool,
        max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
        graceful_shutdown_timeout=SHUTDOWN_GRACE,
        interceptors=[
            StoreErrorsSurface(),  # no raw case-store error reaches Temporal
            *(
                [FrontDoorWorker(front_door, trust_unsigned_before=trust_unsigned_before)]
                if front_door is not None
                else []
            ),
        ],
    )


# The models every workflow reads (pydantic models, the policy, the reference tables):
# imported once by the worker and shared, like the workflow modules themselves.
# OpenTelemetry too: Temporal's tracing interceptor runs in the workflows' sandbox when
# traces are on (runtime.tracing), and its context must be the one of the process.
SHARED_MODULES = ("models", "opentelemetry")


def passthrough_modules(workflows: Sequence[type]) -> tuple[str, ...]:
    """The workflows' own packages (``workflows``; the bench's ``bench``) and
    ``SHARED_MODULES``; none when ``FNO_SANDBOX_PASSTHROUGH=0``."""
    if os.environ.get("FNO_SANDBOX_PASSTHROUGH", "1").strip() == "0":
        return ()
    packages = {cls.__module__.split(".")[0] for cls in workflows}
    return tuple(sorted(packages | set(SHARED_MODULES)))


def sandbox_runner(workflows: Sequence[type]) -> SandboxedWorkflowRunner:
    """The sandbox, with the workflow modules and models passed through (issue 22).

    The sandbox imported every workflow module afresh for every workflow it ran (about
    a sixth of the worker's CPU in the bench); passed through, they are imported once
    and shared. The sandbox no longer checks what their code does at run time (a
    ``datetime.now()`` in a passed-through module is not refused): the determinism lint
    (``runtime.determinism_lint``, in ``make check`` and ``tests/test_determinism_lint.py``)
    checks it in the source instead, and the replay tests catch what a lint cannot see.
    Everything else a workflow imports is still sandboxed as before."""
    modules = passthrough_modules(workflows)
    restrictions = SandboxRestrictions.default
    if modules:
        restrictions = restrictions.with_passthrough_modules(*modules)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def compile_workflow_modules(workflows: Sequence[type]) -> None:
    """Write the bytecode of the workflows' packages once, at start-up.

    The sandbox imports a workflow's module afresh for every workflow it runs; with no
    bytecode on disk (a fresh checkout, or PYTHONDONTWRITEBYTECODE set) each of those
    imports compiles the source again — the worker's largest cost in the benchmark.
    A read-only checkout only loses the saving."""
    folders = sorted({Path(inspect.getfile(cls)).parent for cls in workflows})
    for folder in folders:
        compileall.compile_dir(folder, maxlevels=0, quiet=2)


async def watch_for_stuck_cases(
    client: Client,
    log: structlog.stdlib.BoundLogger,
    every_minutes: float,
    stuck_cases: StuckCaseScan,
    *,
    meter: MetricMeter | None = None,
) -> None:
    """Log an alert line for each stuck case (a failing step, a deadline passed
    unattended) every ``every_minutes``: a stuck case is seen, not silently waiting.
    With a ``meter``, their number is the ``fno_cases_stuck`` gauge too."""
    gauges = (
        (
            meter.create_gauge(CASES_STUCK.name, CASES_STUCK.help),
            meter.create_gauge(CASES_HISTORY_LARGE.name, CASES_HISTORY_LARGE.help),
        )
        if meter is not None
        else None
    )
    while True:
        await asyncio.sleep(every_minutes * 60)
        try:
            found = await stuck_cases(client, now=datetime.now().astimezone())
            if gauges is not None:
                stuck, large = gauges
                stuck.set(len(found))
                large.set(sum(1 for c in found if getattr(c, "code", None) == HISTORY_LARGE_CODE))
            for case in found:
                log.warning(
                    "stuck case",
                    case_id=case.case_id,
                    stage=case.stage,
                    why=case.why,
                    # Not the last error's text: an activity's failure message may hold
                    # personal data (``fno cases --stuck`` shows it to those who may read).
                    has_last_error=bool(case.last_error),
                )
        except Exception as err:  # the scan must never stop the worker
            log.error("stuck-case scan failed", error_type=type(err).__name__)


async def run_until_signalled(
    worker: Worker, stop: asyncio.Event, log: structlog.stdlib.BoundLogger, policy: str
) -> None:
    """Run ``worker`` until ``stop`` is set, then shut it down gracefully."""
    run = asyncio.create_task(worker.run())
    log.info("worker started", policy=policy)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({run, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if run.done():
        # The worker ended on its own: a fatal error (re-raised below).
        stopping.cancel()
        log.error("worker stopped unexpectedly")
        await run
        return
    log.info("worker stopping", grace_seconds=SHUTDOWN_GRACE.total_seconds())
    await worker.shutdown()
    await run
    log.info("worker stopped")
