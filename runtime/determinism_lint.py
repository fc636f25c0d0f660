"""A determinism lint over ``workflows/``: the checks the workflow sandbox no longer
makes once the worker passes the workflow modules through it
(``processes.worker.make_worker``, issue 22).

The sandbox re-imported every workflow module for every case and refused, at run
time, what a workflow must not do. Passed through, the modules are imported once and
shared, and nothing refuses a ``datetime.now()`` at run time: this lint refuses it
when the code is checked instead (``make check``, ``tests/test_determinism_lint.py``),
with the replay tests (``tests/test_replay.py``) catching what a lint cannot see.

Rules (each finding names one; ``python -m runtime.determinism_lint [FILES…]``):

* ``clock`` — ``datetime.now/utcnow/today``, ``date.today``, ``time.time/monotonic/
  perf_counter/sleep/…``: use ``workflow.now()`` and ``workflow.sleep()``;
* ``random`` — the ``random`` and ``secrets`` modules, ``uuid.uuid1/uuid4``,
  ``os.urandom``: use ``workflow.random()`` and ``workflow.uuid4()``;
* ``asyncio`` — ``asyncio.wait`` and ``asyncio.as_completed`` (their sets iterate in no
  fixed order: use ``workflow.wait`` / ``workflow.as_completed``), ``asyncio.to_thread``,
  ``asyncio.run``, event-loop access (``asyncio.sleep``, ``gather`` and ``wait_for``
  are deterministic under the workflow's event loop and allowed);
* ``io`` — ``open()``/``input()``, ``pathlib``, ``io``, ``os`` (the environment
  included), ``shutil``, ``tempfile``, ``glob``, ``sqlite3``;
* ``threads`` — ``threading``, ``multiprocessing``, ``concurrent``, ``subprocess``,
  ``socket``;
* ``layer`` — imports of ``sqlmodel``, ``sqlalchemy``, ``httpx``, ``requests``,
  ``urllib``, and of the product's ``store``, ``sim``, ``api``, ``web``, ``adapters``,
  ``server``, ``access``, ``identity``, ``processes``, ``cli``, ``local``;
* ``set-order`` — iterating over a set built in place (``for x in set(…)``, a set
  literal or comprehension, ``frozenset(…)``), directly, in a comprehension, or
  through ``list``/``tuple``/``enumerate``/``next(iter(…))``/``str.join``: sets
  iterate in hash order, which differs between processes for strings;
* ``module-state`` — module-level or class-level mutable state assigned at import (a
  list, dict or set literal or comprehension, ``list()``/``dict()``/``set()``/
  ``defaultdict``/``deque``/``Counter``/``OrderedDict``), and ``global`` statements:
  passed through, a module's state is shared by every case the worker runs (use a
  tuple, a ``frozenset`` or a ``MappingProxyType``). ``__all__`` is allowed.

A line may carry ``# determinism: allowed (<why>)`` to accept one finding on it, with
the reason in the source. ``KNOWN`` lists the findings in modules this lint's author
does not own, at the time it was written (constants in a list or dict, read only in
practice): accepted until their owners make them immutable, then removed from it (a
``KNOWN`` entry no longer found fails the test, so the list only shrinks).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"
PRAGMA = "# determinism: allowed"

CLOCK = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    *(
        f"time.{name}"
        for name in (
            "time",
            "time_ns",
            "monotonic",
            "monotonic_ns",
            "perf_counter",
            "perf_counter_ns",
            "process_time",
            "process_time_ns",
            "thread_time",
            "sleep",
            "localtime",
            "gmtime",
            "ctime",
            "asctime",
            "strftime",
        )
    ),
}
RANDOM_CALLS = {"uuid.uuid1", "uuid.uuid4", "os.urandom"}
ASYNCIO = {
    "asyncio.wait",
    "asyncio.as_completed",
    "asyncio.to_thread",
    "asyncio.run",
    "asyncio.get_event_loop",
    "asyncio.new_event_loop",
    "asyncio.get_running_loop",
    "asyncio.run_coroutine_threadsafe",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
}
BUILTIN_IO = {"open", "input", "breakpoint", "exec", "eval", "__import__"}
# Module -> rule, for imports (the module itself or any of its submodules).
MODULES: dict[str, str] = {
    "random": "random",
    "secrets": "random",
    **dict.fromkeys(
        ("pathlib", "io", "os", "shutil", "tempfile", "glob", "sqlite3", "fileinput"), "io"
    ),
    **dict.fromkeys(
        ("threading", "multiprocessing", "concurrent", "subprocess", "socket", "selectors"),
        "threads",
    ),
    **dict.fromkeys(
        (
            "sqlmodel",
            "sqlalchemy",
            "httpx",
            "requests",
            "urllib",
            "store",
            "sim",
            "api",
            "web",
            "adapters",
            "server",
            "access",
            "identity",
            "processes",
            "cli",
            "local",
        ),
        "layer",
    ),
}
MUTABLE_CALLS = {
    "list",
    "dict",
    "set",
    "bytearray",
    "defaultdict",
    "deque",
    "Counter",
    "OrderedDict",
    "collections.defaultdict",
    "collections.deque",
    "collections.Counter",
    "collections.OrderedDict",
}
ORDER_LEAKS = {"list", "tuple", "enumerate", "iter", "next", "zip", "reversed", "map", "filter"}


# (file name in workflows/, rule, line's text stripped) of the findings accepted for now.
KNOWN: frozenset[tuple[str, str, str]] = frozenset()


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    rule: str
    what: str
    text: str = ""  # the line, stripped

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path.name, self.rule, self.text)

    def __str__(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}: [{self.rule}] {self.what}"


def _module_rule(module: str) -> str | None:
    head = module.split(".")[0]
    return MODULES.get(head)


class _Checker(ast.NodeVisitor):
    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.lines = source.splitlines()
        self.names: dict[str, str] = {}  # local name -> qualified name (imports)
        self.findings: list[Finding] = []
        self.depth = 0  # function nesting: module- and class-level state is depth 0

    # -- helpers -------------------------------------------------------------
    def report(self, node: ast.AST, rule: str, what: str) -> None:
        line = getattr(node, "lineno", 0)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if PRAGMA in text:
            return
        self.findings.append(Finding(self.path, line, rule, what, text.strip()))

    def qualified(self, node: ast.expr) -> str | None:
        """``a.b.c`` with ``a`` resolved through the file's imports."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        head = self.names.get(node.id, node.id)
        return ".".join([head, *reversed(parts)])

    # -- imports -------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.names[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            rule = _module_rule(alias.name)
            if rule:
                self.report(node, rule, f"import of {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            rule = _module_rule(module)
            if rule:
                self.report(node, rule, f"import from {module}")
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            self.names[alias.asname or alias.name] = full
            if full in RANDOM_CALLS:
                self.report(node, "random", f"import of {full}")
            elif full in CLOCK:
                self.report(node, "clock", f"import of {full}")
            elif full in ASYNCIO:
                self.report(node, "asyncio", f"import of {full}")

    # -- calls and attributes ------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified(node.func)
        if name in CLOCK:
            self.report(node, "clock", f"{name}(): use workflow.now() / workflow.sleep()")
        elif name in RANDOM_CALLS:
            self.report(node, "random", f"{name}(): use workflow.uuid4() / workflow.random()")
        elif name in ASYNCIO:
            self.report(node, "asyncio", f"{name}(): use the workflow module's own")
        elif name in BUILTIN_IO and name not in self.names:
            self.report(node, "io", f"{name}()")
        elif name in ORDER_LEAKS and node.args and _is_set(node.args[0]):
            self.report(node, "set-order", f"{name}() over a set")
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and node.args
            and _is_set(node.args[0])
        ):
            self.report(node, "set-order", "join over a set")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualified(node)
        if name is not None and (name.startswith("os.environ") or name == "os.getenv"):
            self.report(node, "io", f"{name}: the environment")
        self.generic_visit(node)

    # -- set order -----------------------------------------------------------
    def visit_For(self, node: ast.For) -> None:
        if _is_set(node.iter):
            self.report(node, "set-order", "for over a set")
        self.generic_visit(node)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if _is_set(node.iter):
            self.report(node.iter, "set-order", "comprehension over a set")
        self.generic_visit(node)

    # -- module and class state ----------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]
    visit_Lambda = visit_FunctionDef  # type: ignore[assignment]

    def visit_Global(self, node: ast.Global) -> None:
        self.report(node, "module-state", f"global {', '.join(node.names)}")

    def _state(self, node: ast.Assign | ast.AnnAssign, targets: list[ast.expr]) -> None:
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if self.depth == 0 and node.value is not None and names != ["__all__"]:
            if self._mutable(node.value):
                self.report(node, "module-state", f"mutable state {', '.join(names) or '?'}")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._state(node, node.targets)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._state(node, [node.target])
        self.generic_visit(node)

    def _mutable(self, value: ast.expr) -> bool:
        if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp):
            return True
        if isinstance(value, ast.SetComp):
            return True
        if isinstance(value, ast.Call):
            return self.qualified(value.func) in MUTABLE_CALLS
        return False


def _is_set(node: ast.expr) -> bool:
    """A set built in place: ``set(…)``, ``frozenset(…)``, a set literal or comprehension
    (``sorted(set(…))`` is not: ``sorted`` fixes the order)."""
    if isinstance(node, ast.Set | ast.SetComp):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("set", "frozenset")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.BitAnd | ast.Sub):
        return _is_set(node.left) or _is_set(node.right)
    return False


def check_source(source: str, path: Path = Path("<source>")) -> list[Finding]:
    checker = _Checker(path, source)
    checker.visit(ast.parse(source, filename=str(path)))
    return sorted(checker.findings, key=lambda f: (f.line, f.rule))


def workflow_files(folder: Path = WORKFLOWS) -> list[Path]:
    return sorted(folder.glob("*.py"))


def check(paths: Iterable[Path]) -> Iterator[Finding]:
    for path in paths:
        yield from check_source(path.read_text(), path)


def new_findings(paths: Iterable[Path]) -> list[Finding]:
    """The findings not in ``KNOWN``."""
    return [f for f in check(paths) if f.key not in KNOWN]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a).resolve() for a in args] or workflow_files()
    findings = new_findings(paths)
    for finding in findings:
        print(finding)
    if findings:
        print(f"determinism lint: {len(findings)} finding(s) in workflow code", file=sys.stderr)
        return 1
    print(f"determinism lint: {len(paths)} workflow file(s) clean")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
