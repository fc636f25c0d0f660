"""The benchmark keeps working: a small run through its three phases (real dev
servers, the product's worker and HTTP intake) prints its table and the ratio line,
and writes the JSON. The figures themselves are not asserted (shared, noisy
machines); the shapes the baselines are meant to have are."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_its_phases_and_ends_with_the_ratio(tmp_path):
    command = [sys.executable, "-m", "bench", "--cases", "40", "--concurrency", "8"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio=\d+\.\d{3}", lines[-1]), lines[-5:]
    assert "cases/s end to end" in done.stdout
    result = json.loads((tmp_path / "results" / "throughput-latest.json").read_text())
    assert result["baseline"]["cases"] == result["product"]["cases"] == 40
    assert result["same_shape"]["cases"] == 40
    # The bare baseline is the no-trace path's activities and nothing else (5 workflow
    # tasks, 4 activities: 29 events); the same-shape one has exactly the events of the
    # product's no-trace history (its wait for the reply and its upserts added).
    assert result["baseline"]["events_per_case"] == {"baseline": 29}
    assert result["same_shape"]["activities_per_case"] == {"same_shape": 4}
    assert (
        result["same_shape"]["events_per_case"]["same_shape"]
        == result["product"]["events_per_case"]["no_trace"]
    )
    # The seeds' mix reached its outcomes (the bench refuses a wrong one) and the
    # caseworker's four decisions were sent for the serious case.
    assert result["product"]["extra"]["branches"] == {
        "no_trace": 33,
        "not_serious": 6,
        "serious": 1,
    }
    assert result["product"]["extra"]["decisions_sent"] == 4
    assert result["product"]["extra"]["no_trace_activities_match_baseline"] is True
    assert f"ratio={result['ratio']:.3f}" == lines[-1]
    assert 0 < result["ratio_cpu"] < 5 and 0 < result["ratio_first_to_last"] < 5
    assert 0 < result["ratio_same_shape"] < 5 and 0 < result["ratio_same_shape_cpu"] < 5
    assert "product / same shape, sustained" in done.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
