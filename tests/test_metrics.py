"""Metrics (issue 23): the worker's Prometheus endpoint (the SDK's runtime metrics and
the product's, ``runtime.metrics``, ``processes.metrics_scan``) and the HTTP API's
(``runtime.http_metrics``, ``server.metrics``), scraped after a small run on a dev
server of the test's own (the gauges count every open case of the namespace: nobody
else's may be there).

Four custody events over HTTP (three no trace, one not serious) and one invalid; a
casework case nothing runs with its deadline passed (overdue, awaiting a caseworker).
The counters must equal what was run, the gauges count the overdue case, and no label
of either endpoint holds a subject's name, date of birth, PNC ID or custody reference.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from models import metrics
from models.search import AWAITING_ROLE, CASE_KIND, NEXT_DEADLINE, STAGE
from runtime.metrics import MetricsConfigError, metrics_address
from store.cases import CaseStore
from tests.support import CONVERTER, custody_event, eventually, process_identity
from tests.support_chaos import ApiProcess, DevServer, Workers, free_port, process_env

pytestmark = [pytest.mark.devserver]

Sample = tuple[str, dict[str, str], float]
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "fno-casework.json"


def scrape(port: int) -> list[Sample]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for n, ls, v in samples if n == name and labels.items() <= ls.items())


async def test_the_worker_and_the_api_export_the_products_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port, ui_port = free_port(), free_port()
    worker_metrics, api_metrics = free_port(), free_port()
    events = [custody_event(nationality="DE") for _ in range(3)]
    events.append(custody_event(nationality="FR"))
    world = {
        "seed": 3,
        "subjects": {
            **{e.subject.pnc_id: {"replies": {"DE": {"after_days": 0.5}}} for e in events[:3]},
            events[3].subject.pnc_id: {
                "replies": {"FR": {"after_days": 0.5, "convictions": [{"offence": "THEFT"}]}}
            },
        },
    }
    (tmp_path / "world.json").write_text(json.dumps(world))
    identity, custody = process_identity(home)
    env = process_env(
        home,
        port,
        f"sqlite:///{tmp_path / 'casework.db'}",
        "metrics",
        FNO_WORLD_FILE=str(tmp_path / "world.json"),
        FNO_POLICY="compressed:0.1",
        FNO_METRICS_SCAN_SECONDS="0.5",
        **identity,
    )
    CaseStore.migrated(env["FNO_DATABASE_URL"])  # make migrate
    server = DevServer(home, port, ui_port)
    workers = Workers(env | {"FNO_METRICS_ADDRESS": f"127.0.0.1:{worker_metrics}"}, tmp_path)
    api = ApiProcess(
        env | {"FNO_METRICS_ADDRESS": f"127.0.0.1:{api_metrics}"}, free_port(), tmp_path
    )
    try:
        workers.start()
        await workers.ready()
        await api.start()
        client = await Client.connect(f"localhost:{port}", data_converter=CONVERTER)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            answers = [
                (await http.post("/custody-events", content=e.model_dump_json(), headers=custody))
                for e in events
            ]
            invalid = await http.post("/custody-events", json={"force": "kent"}, headers=custody)
        # A casework case nothing runs, its deadline passed: overdue, awaiting a caseworker.
        overdue = f"casework-{uuid.uuid4().hex[:24]}"
        await client.start_workflow(
            "CriminalCaseworkWorkflow",
            id=overdue,
            task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CASE_KIND, "casework"),
                    SearchAttributePair(STAGE, "LOCATED_TO_BE_ALLOCATED"),
                    SearchAttributePair(AWAITING_ROLE, ["caseworker"]),
                    SearchAttributePair(NEXT_DEADLINE, datetime.now(UTC) - timedelta(hours=1)),
                ]
            ),
        )

        async def all_closed() -> list[Sample] | None:
            found = scrape(worker_metrics)
            closed = value(found, metrics.CASES_CLOSED.exported, kind="encounter")
            overdue_now = value(found, metrics.CASES_OVERDUE.name, kind="casework")
            # The gauges from a scan after the last close (visibility catches up).
            still_open = value(found, metrics.CASES_OPEN.name, kind="encounter")
            settled = closed >= len(events) and overdue_now >= 1 and still_open == 0
            return found if settled else None

        worker = await eventually(all_closed, within=120, what="the cases closed and counted")
        apis = scrape(api_metrics)
        await client.get_workflow_handle(overdue).terminate(reason="test over")
    finally:
        workers.stop()
        api.stop()
        server.stop()

    assert [a.status_code for a in answers] == [201] * len(events)
    assert invalid.status_code == 422
    # The worker: the product's counters and gauges, the SDK's own metrics beside them.
    assert value(worker, metrics.CASES_OPENED.exported, kind="encounter") == len(events)
    closed = metrics.CASES_CLOSED.exported
    assert value(worker, closed, kind="encounter", outcome="NO_TRACE") == 3
    assert value(worker, closed, kind="encounter", outcome="NOT_SERIOUS") == 1
    assert value(worker, closed, kind="encounter") == len(events)
    assert value(worker, metrics.CASES_OVERDUE.name, kind="casework") == 1
    assert value(worker, metrics.CASES_OVERDUE.name, kind="encounter") == 0
    assert value(worker, metrics.TASKS_AWAITING.name, role="caseworker") == 1
    assert value(worker, metrics.CASES_OPEN.name, kind="casework") == 1
    assert value(worker, metrics.CASES_OPEN.name, kind="encounter") == 0
    sdk = {n for n, _, _ in worker if n.startswith("temporal_")}
    assert {"temporal_worker_task_slots_available", "temporal_sticky_cache_size"} <= sdk
    assert "temporal_workflow_task_schedule_to_start_latency_bucket" in sdk
    # The HTTP API: intake by status, requests by route template.
    assert value(apis, metrics.INTAKE_EVENTS.exported, status="started") == len(events)
    assert value(apis, metrics.INTAKE_EVENTS.exported, status="invalid") == 1
    requests = metrics.HTTP_REQUESTS.exported
    assert value(apis, requests, route="/custody-events", method="POST", status="201") == 4
    assert value(apis, requests, route="/custody-events", method="POST", status="422") == 1
    # The SDK's metrics the alert rules and the dashboard use are exported.
    scraped = {n for n, _, _ in worker}
    for where, names in referenced("temporal_").items():
        assert names and names <= scraped, (where, names - scraped)
    # No personal data in any label of either endpoint.
    personal = set()
    for e in events:
        s = e.subject
        personal |= {s.family_name, s.given_names, str(s.date_of_birth), s.pnc_id}
        personal.add(e.custody_reference)
    labels = {v for _, ls, _ in worker + apis for v in ls.values()}
    assert not {v for v in labels if any(p and p in v for p in personal)}


def referenced(prefix: str) -> dict[str, set[str]]:
    """The metric names beginning with ``prefix`` in the alert rules and the dashboard."""
    pattern = re.compile(rf"\b{prefix}[a-z0-9_]+\b")
    rules = yaml.safe_load(ALERTS.read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    board = json.loads(DASHBOARD.read_text())
    panels = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return {
        "alerts": {n for e in exprs for n in pattern.findall(e)},
        "dashboard": {n for e in panels for n in pattern.findall(e)},
    }


def exported_names() -> set[str]:
    names = set()
    for m in metrics.METRICS:
        names.add(m.exported)
        if m.kind == "histogram":
            names |= {f"{m.name}_bucket", f"{m.name}_sum", f"{m.name}_count"}
    return names


def test_the_alert_rules_and_the_dashboard_name_only_the_products_metrics() -> None:
    """Every ``fno_*`` metric of the rules and the dashboard is one of ``models.metrics``
    (the ``temporal_*`` ones are checked against a live scrape, above); every rule has
    a severity and a summary; ``promtool check rules`` where it is installed."""
    found = referenced("fno_")
    assert found["alerts"] and found["dashboard"]
    for where, names in found.items():
        assert names <= exported_names(), (where, names - exported_names())
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_bad_metrics_address_is_refused_saying_what_to_set() -> None:
    assert metrics_address({}) is None
    assert metrics_address({"FNO_METRICS_ADDRESS": "0.0.0.0:9464"}) == ("0.0.0.0", 9464)
    assert metrics_address({"FNO_METRICS_ADDRESS": "[::1]:9464"}) == ("::1", 9464)
    for bad in ("9464", "host:", ":9464", "host:99999", "host:port"):
        with pytest.raises(MetricsConfigError, match="FNO_METRICS_ADDRESS"):
            metrics_address({"FNO_METRICS_ADDRESS": bad})


def test_every_metric_is_named_for_the_product_and_labelled_without_personal_data() -> None:
    names = [m.name for m in metrics.METRICS]
    assert len(names) == len(set(names))
    allowed = {"kind", "stage", "outcome", "role", "route", "method", "status"}
    for m in metrics.METRICS:
        assert m.name.startswith("fno_") and not m.name.endswith("_total"), m.name
        assert set(m.labels) <= allowed, m
