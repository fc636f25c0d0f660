"""The benchmark keeps working: a small run through both phases (real dev servers,
the product's worker and HTTP intake) prints its table and the ratio line, and
writes the JSON. The figures themselves are not asserted (shared, noisy machines)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.devserver
ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_both_phases_and_ends_with_the_ratio(tmp_path):
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
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
