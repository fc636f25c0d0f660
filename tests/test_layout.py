"""The layout holds: modules stay small, project imports sit at the top of a module
(or say why not), and the import contracts of ``pyproject.toml`` are kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = (
    "workflows activities models store sim runtime processes access cli api web server local bench"
).split()
MAX_LINES = 400


def _modules() -> list[Path]:
    files = [ROOT / "worker.py", ROOT / "starter.py"]
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                files.append(path)
    return files


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _project_import(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        name = node.module
    elif isinstance(node, ast.Import):
        name = node.names[0].name
    else:
        return None
    top = name.split(".")[0]
    return name if top in PROJECT or top in ("worker", "starter") else None


def _explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("from ", "import ")):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def test_project_imports_inside_functions_say_why():
    """An import inside a function hides a dependency from a reader and from the
    import contracts' intent; where one is needed (the workflow sandbox, start-up cost
    of a command) a comment on its line or the line above says so."""
    unexplained = []
    for path in _modules():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if (name := _project_import(node)) is None:
                    continue
                if not _explained(lines, node.lineno):
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert unexplained == []


def test_the_import_contracts_are_kept():
    linter = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-4000:]
