"""The determinism lint (``runtime.determinism_lint``) keeps the checks the sandbox no
longer makes on the passed-through workflow modules: each rule catches a planted
example, the allowed forms pass, and ``workflows/`` is clean today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.determinism_lint import (
    KNOWN,
    ROOT,
    check,
    check_source,
    new_findings,
    workflow_files,
)

PLANTED: dict[str, list[str]] = {
    "clock": [
        "from datetime import datetime\ndef f():\n    return datetime.now()\n",
        "import datetime\ndef f():\n    return datetime.datetime.utcnow()\n",
        "from datetime import date\ndef f():\n    return date.today()\n",
        "import time\ndef f():\n    return time.time()\n",
        "import time as t\ndef f():\n    t.sleep(1)\n",
        "from time import monotonic\n",
    ],
    "random": [
        "import random\n",
        "from random import choice\n",
        "import uuid\ndef f():\n    return uuid.uuid4()\n",
        "from uuid import uuid1\n",
        "import secrets\n",
    ],
    "asyncio": [
        "import asyncio\nasync def f(a, b):\n    await asyncio.wait([a, b])\n",
        "import asyncio\ndef f(a):\n    return asyncio.as_completed(a)\n",
        "import asyncio\nasync def f(g):\n    await asyncio.to_thread(g)\n",
    ],
    "io": [
        "def f():\n    return open('x').read()\n",
        "from pathlib import Path\n",
        "import os\n",
        "import os\ndef f():\n    return os.environ['X']\n",
    ],
    "threads": ["import threading\n", "from concurrent.futures import ThreadPoolExecutor\n"],
    "layer": [
        "import sqlmodel\n",
        "from sqlalchemy import select\n",
        "import httpx\n",
        "import requests\n",
        "from store.cases import CaseStore\n",
        "from sim.world import Simulator\n",
        "import api.app\n",
        "from web import auth\n",
    ],
    "set-order": [
        "def f(a):\n    for x in set(a):\n        print(x)\n",
        "def f():\n    for x in {'a', 'b'}:\n        print(x)\n",
        "def f(a):\n    return [x for x in {y for y in a}]\n",
        "def f(a):\n    return list(set(a))\n",
        "def f(a):\n    return ', '.join(frozenset(a))\n",
    ],
    "module-state": [
        "SEEN = []\n",
        "CACHE: dict[str, int] = {}\n",
        "from collections import defaultdict\nBY = defaultdict(list)\n",
        "class W:\n    items = []\n",
        "N = 0\ndef f():\n    global N\n    N += 1\n",
    ],
}

ALLOWED = [
    # The workflow module's own clock, randomness and waits.
    "from temporalio import workflow\ndef f():\n    return workflow.now(), workflow.uuid4()\n",
    "import asyncio\nasync def f(a, b):\n    await asyncio.gather(a, b)\n    "
    "await asyncio.sleep(1)\n",
    # A fixed order over a set; immutable module constants; state per instance.
    "def f(a):\n    for x in sorted(set(a)):\n        print(x)\n",
    "NAMES = ('a', 'b')\nKINDS = frozenset({'a'})\n__all__ = ['f']\n",
    "class W:\n    def __init__(self):\n        self.items = []\n",
    "def f():\n    seen = {}\n    return seen\n",
    "from datetime import datetime, timedelta\ndef f(s: str):\n"
    "    return datetime.fromisoformat(s) + timedelta(days=1)\n",
    # A finding accepted on its line, with the reason.
    "import os  # determinism: allowed (planted for the test)\n",
]


@pytest.mark.parametrize(
    ("rule", "source"),
    [(rule, source) for rule, sources in PLANTED.items() for source in sources],
)
def test_each_rule_catches_its_planted_example(rule, source):
    findings = check_source(source)
    assert findings and {f.rule for f in findings} == {rule}, findings


@pytest.mark.parametrize("source", ALLOWED)
def test_the_allowed_forms_pass(source):
    assert check_source(source) == []


def test_workflows_are_clean_today():
    files = workflow_files()
    assert len(files) > 10
    assert new_findings(files) == []
    # Each accepted finding still exists (fixed ones leave KNOWN: it only shrinks).
    assert {f.key for f in check(files)} >= KNOWN


def test_the_command_fails_on_a_finding(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import random\n")
    run = [sys.executable, "-m", "runtime.determinism_lint"]
    done = subprocess.run([*run, str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "[random]" in done.stdout
    clean = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert Path(ROOT / "workflows").is_dir()
