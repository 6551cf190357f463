"""Static guard of the fast suite: every test that starts a sandbox or runs a Dagster job is marked ``slow``.

The rule, per test function (read from the source, nothing is imported or run):

- it *starts something* when its body, the module-level functions and classes it names, or the fixtures it
  asks for (those of its module, transitively, plus conftest's ``env``, ``qbo`` and ``module_qbo``) call one
  or hand to a call (``Thread(target=serve)``) one of ``STARTERS`` (a sandbox server or app, the end-to-end
  harness, a Dagster job or materialization), or run the ``revqb`` CLI (``main([...])`` in process,
  ``subprocess`` out of process) in a function that names a command of ``CLI_STARTERS``;
- it is *marked* when the module's or its class's ``pytestmark`` or its own decorators name ``slow``.

A test that starts something and is not marked fails this check, so ``pytest -m "not slow"`` stays fast.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTERS = frozenset(
    {
        "sandboxes",
        "start_sandboxes",
        "sandbox",
        "create_app",
        "pipeline",
        "execute_in_process",
        "materialize",
        "materialize_to_memory",
        "run_partitions",
        "serve",
    }
)
CLI_STARTERS = frozenset({"sync", "sandbox", "demo", "serve"})
CONFTEST_STARTERS = frozenset({"env", "qbo", "module_qbo"})
CLI_CALLS = frozenset({"main", "run", "Popen", "check_output"})


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _names_slow(node: ast.AST) -> bool:
    """True when ``node`` (a decorator or a ``pytestmark`` value) mentions ``pytest.mark.slow``."""
    return any(isinstance(n, ast.Attribute) and n.attr == "slow" for n in ast.walk(node))


def _starts_directly(node: ast.AST) -> bool:
    """A starter called or handed on (``Thread(target=serve)``), or the CLI run with a starting verb."""
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
    handed = {
        a.id
        for c in calls
        for a in [*c.args, *(k.value for k in c.keywords)]
        if isinstance(a, ast.Name) and a.id in STARTERS
    }
    if handed or any(_call_name(c) in STARTERS for c in calls):
        return True
    words = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return bool(words & CLI_STARTERS) and any(_call_name(c) in CLI_CALLS for c in calls)


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {a.arg for a in fn.args.args + fn.args.kwonlyargs}


class _Module:
    """The module-level definitions of one test module and which of them start something."""

    def __init__(self, tree: ast.Module) -> None:
        self.defs: dict[str, ast.AST] = {}
        self.marked = False
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
            ):
                self.marked = self.marked or _names_slow(node.value)
        self._memo: dict[str, bool] = {}

    def starts(self, node: ast.AST, seen: frozenset[str] = frozenset()) -> bool:
        """Whether ``node`` starts something, following the module's definitions it names or asks for."""
        if _starts_directly(node):
            return True
        wanted = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            params = _params(node)
            if params & (CONFTEST_STARTERS - set(self.defs)):
                return True
            wanted |= params
        for name in sorted(wanted & (set(self.defs) - seen)):
            if name not in self._memo:
                self._memo[name] = self.starts(self.defs[name], seen | {name})
            if self._memo[name]:
                return True
        return False


def unmarked_starters(path: Path) -> list[str]:
    """``module::test`` for each test in ``path`` that starts something without the ``slow`` mark."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _Module(tree)
    out: list[str] = []
    scopes: list[tuple[ast.AST, bool]] = [(tree, module.marked)]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        class_marked = any(
            isinstance(s, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in s.targets)
            and _names_slow(s.value)
            for s in cls.body
        )
        scopes.append((cls, module.marked or class_marked or any(_names_slow(d) for d in cls.decorator_list)))
    for scope, marked in scopes:
        for fn in getattr(scope, "body", []):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or not fn.name.startswith("test_"):
                continue
            if marked or any(_names_slow(d) for d in fn.decorator_list):
                continue
            if module.starts(fn, frozenset({fn.name})):
                out.append(f"{path.name}::{fn.name}")
    return out


def test_every_test_that_starts_a_sandbox_or_a_job_is_marked_slow() -> None:
    offenders = [
        (path.relative_to(HERE).parent / t).as_posix()
        for path in sorted(HERE.rglob("test_*.py"))
        for t in unmarked_starters(path)
    ]
    assert not offenders, "mark these @pytest.mark.slow (they start a sandbox or a job):\n" + "\n".join(
        offenders
    )


def test_the_rule_sees_through_fixtures_helpers_and_the_cli(tmp_path: Path) -> None:
    source = """
import pytest

@pytest.fixture
def world():
    with sandboxes() as sb:
        yield sb

def helper(x):
    return x.execute_in_process()

def test_fixture(world): ...
def test_helper(): helper(1)
def test_cli(): main(["sync", "--partition", "2026-01-01"])
def test_conftest_harness(env): ...
def test_check(): main(["check"])
def test_subprocess():
    cmd = ["revqb", "sandbox", "serve"]
    subprocess.Popen(cmd)
def test_thread(): threading.Thread(target=serve).start()
@pytest.mark.slow
def test_marked(world): ...
"""
    path = tmp_path / "test_probe.py"
    path.write_text(source, encoding="utf-8")
    found = {t.split("::")[1] for t in unmarked_starters(path)}
    assert found == {
        "test_fixture",
        "test_helper",
        "test_cli",
        "test_conftest_harness",
        "test_subprocess",
        "test_thread",
    }


def test_benchmarks_do_not_import_the_test_package() -> None:
    root = HERE.parent / "benchmarks"
    importers = [p.name for p in sorted(root.glob("*.py")) if "revqb_pipeline_tests" in _imported(p)]
    assert not importers, importers


def _imported(path: Path) -> set[str]:
    """Top-level package names ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return {n.split(".")[0] for n in names}
