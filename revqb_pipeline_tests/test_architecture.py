"""Static guards of the architecture (docs/architecture.md), read from the source with ``ast``; nothing runs.

1. **QBO writes go through the writer.** Outside ``sync/writer.py`` (and ``clients/qbo.py``, which defines
   them) no module calls a QBO write method. A call ``r.m(...)`` is a QBO write when ``m`` is one of
   :data:`QBO_WRITES` (checked below to cover every ``QBOClient`` method that POSTs anything but a query) and

   - ``m`` exists only on the QBO client (:data:`QBO_ONLY`: ``batch``, ``void_*``), whatever ``r``;
   - or ``r`` is a QBO client: its last name is one of :data:`QBO_NAMES` (``qbo``, ``self.qbo``, ``rt.qbo``,
     ``qbo_client``), or a name the module binds to one (annotated ``QBOClient``, assigned ``QBOClient(...)``
     or another QBO client), so ``dict`` / ``Counter`` / ``set.update`` and ``self._write`` of other classes
     are not flagged;
   - or ``m`` is ``request`` with ``"POST"`` on a QBO client and a path other than ``/query``.

2. **SQL stays in ``staging/``.** Outside ``revqb_pipeline/staging/`` a module may not
   - import ``sqlalchemy`` except its error classes (``sqlalchemy.exc``) and the ``Engine`` / ``URL`` /
     ``make_url`` types (with ``import sqlalchemy as sa`` only ``sa.exc`` may be used), nor a DB driver
     (``sqlite3``, ``psycopg*``), nor ``revqb_pipeline.staging._sql``, nor a table of ``staging/db.py``;
   - call ``execute`` / ``executemany`` / ``exec_driver_sql``, nor ``connect`` / ``begin`` /
     ``raw_connection`` on an engine;
   - hold a string that is a SQL statement on our database: a ``SELECT .. FROM`` / ``INSERT INTO`` /
     ``UPDATE .. SET`` / ``DELETE FROM`` naming a staging table (QBO's own query language also says
     ``SELECT * FROM Invoice``, but names QBO entities, never our tables), or DDL / ``PRAGMA`` / ``BEGIN``.

3. **Layers.** ``clients/`` and ``mapping/`` import no dagster; only ``defs/`` and ``definitions.py`` import
   dagster at module level (``cli/`` modules may import it inside a function, to run a job); nothing
   imports ``revqb_sandbox`` except ``cli/_sandbox.py`` lazily, inside a function (``sandbox``/``demo``).
   The engine knows no entity: ``clients/``, ``mapping/``, ``staging/`` and ``sync/`` never import
   ``revqb_pipeline.entities``. An entity's pure modules (``entities/*/mapping.py``, ``*_mapping.py``,
   ``entities/journals/revenue.py``) import no client, staging, sync or dagster module.

Each rule is also fed a small offending source to prove it can fail. Limits: dynamic dispatch
(``getattr(qbo, "update")``, a bound method handed around) is not followed; revqb has none.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

import revqb_pipeline
from revqb_pipeline.staging import db as staging_db

PKG = Path(revqb_pipeline.__file__).resolve().parent

# ----- 1. QBO writes ---------------------------------------------------------------------------------------

QBO_WRITES = frozenset(
    {"create", "update", "delete", "void_invoice", "void_payment", "batch", "sparse_update", "_write"}
)
QBO_ONLY = frozenset({"void_invoice", "void_payment", "batch", "sparse_update"})
#: QBOClient methods that POST /batch with Query items only: reads, allowed anywhere.
QBO_BATCH_READS = frozenset({"query_all_each"})
QBO_NAMES = frozenset({"qbo", "_qbo", "qbo_client", "qbo_api"})
QBO_WRITE_ALLOWED = frozenset({"clients/qbo.py", "sync/writer.py"})


def _terminal(node: ast.AST) -> str:
    """The last name of ``qbo`` / ``self.qbo`` / ``rt.qbo`` / ``f().qbo`` ('' for anything else)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return _terminal(node)


def _qbo_bound_names(tree: ast.Module) -> set[str]:
    """Names (and ``self.x`` attributes) the module binds to a QBO client, flow-insensitively."""
    bound: set[str] = set()

    def is_qbo(value: ast.AST | None) -> bool:
        if value is None:
            return False
        if isinstance(value, ast.Call):  # QBOClient(...), build_qbo(...), resource.qbo_client()
            return bool(re.search(r"^QBOClient$|(^|_)qbo(_client)?$", _terminal(value.func)))
        return _terminal(value) in QBO_NAMES or _dotted(value) in bound

    def annotated_qbo(annotation: ast.AST | None) -> bool:
        return annotation is not None and "QBOClient" in ast.unparse(annotation)

    for _ in range(2):  # aliases of aliases
        for node in ast.walk(tree):
            if isinstance(node, ast.arg) and annotated_qbo(node.annotation):
                bound.add(node.arg)
            elif isinstance(node, ast.AnnAssign) and (annotated_qbo(node.annotation) or is_qbo(node.value)):
                bound.add(_dotted(node.target))
            elif isinstance(node, ast.Assign) and is_qbo(node.value):
                bound.update(_dotted(t) for t in node.targets)
    return bound


def _post_path(call: ast.Call) -> str | None:
    """The path of ``request("POST", path, ...)`` (``None`` when it is not a POST)."""
    args = [a.value for a in call.args if isinstance(a, ast.Constant)]
    if not args or str(args[0]).upper() != "POST":
        return None
    return str(args[1]) if len(args) > 1 else "?"


def qbo_write_calls(source: str) -> list[str]:
    """``line: call`` of every QBO write in ``source`` (rule 1)."""
    tree = ast.parse(source)
    bound = _qbo_bound_names(tree)
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method, receiver = node.func.attr, node.func.value
        on_qbo = _terminal(receiver) in QBO_NAMES or _dotted(receiver) in bound
        write = method in QBO_ONLY or (method in QBO_WRITES and on_qbo)
        if method == "request" and on_qbo:
            path = _post_path(node)
            write = path is not None and path != "/query"
        if write:
            out.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    return out


def _modules() -> Iterator[tuple[str, str]]:
    for path in sorted(PKG.rglob("*.py")):
        yield path.relative_to(PKG).as_posix(), path.read_text(encoding="utf-8")


def test_qbo_write_methods_cover_the_client() -> None:
    """Every ``QBOClient`` method that POSTs something other than a query is in ``QBO_WRITES``."""
    tree = ast.parse((PKG / "clients/qbo.py").read_text(encoding="utf-8"))
    client = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "QBOClient")
    writers = set()
    for fn in (n for n in client.body if isinstance(n, ast.FunctionDef) and n.name != "request"):
        for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
            name = _terminal(call.func)
            if name in {"_write", "create", "update"} or (
                name == "request" and _post_path(call) not in {None, "/query"}
            ):
                writers.add(fn.name)
    assert {"create", "update", "delete", "void_invoice", "void_payment", "batch", "_write"} <= writers
    writers -= QBO_BATCH_READS
    assert writers <= QBO_WRITES, f"QBOClient write methods missing from QBO_WRITES: {writers - QBO_WRITES}"


def test_only_the_writer_writes_to_qbo() -> None:
    found = {
        rel: calls
        for rel, source in _modules()
        if rel not in QBO_WRITE_ALLOWED and (calls := qbo_write_calls(source))
    }
    assert not found, f"QBO writes outside sync/writer.py (use its functions): {found}"


def test_qbo_write_rule_can_fail() -> None:
    offending = """
from revqb_pipeline.clients.qbo import QBOClient

def f(rt, client: QBOClient, other):
    rt.qbo.update("Customer", {}, request_id="x")
    client.create("Item", {}, request_id="y")
    alias = rt.qbo
    alias.delete("JournalEntry", "1", "0", request_id="z")
    built = build_qbo(settings, engine)
    built.update("Item", {}, request_id="v")
    other.batch([], request_id="w")
    rt.qbo.request("POST", "/invoice", json_body={})
"""
    assert len(qbo_write_calls(offending)) == 6
    harmless = """
from collections import Counter

def f(rt, counts: Counter, d: dict):
    counts.update(["a"])
    d.update(b=1)
    set().update({1})
    rt.qbo.query_rows("SELECT * FROM Invoice")
    rt.qbo.request("POST", "/query", text_body="SELECT * FROM Item")
    rt.qbo.read("Invoice", "1")
"""
    assert qbo_write_calls(harmless) == []


# ----- 2. SQL only in staging/ ----------------------------------------------------------------------------

SA_ALLOWED_FROM = {"sqlalchemy.engine": {"Engine", "URL", "make_url"}, "sqlalchemy": {"exc"}}
DRIVERS = ("sqlite3", "psycopg", "psycopg2", "asyncpg", "pg8000")
SQL_CALLS = frozenset({"execute", "executemany", "exec_driver_sql"})
ENGINE_CALLS = frozenset({"connect", "begin", "raw_connection"})
TABLES = frozenset(staging_db.metadata.tables)
TABLE_OBJECTS = frozenset(
    name for name, value in vars(staging_db).items() if isinstance(value, sa.Table | sa.MetaData)
)
DML = re.compile(
    r"\bselect\b.*\bfrom\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bdelete\s+from\b", re.I | re.S
)
DDL = re.compile(
    r"^\s*(create\s+(table|index|unique)|alter\s+table|drop\s+(table|index)|pragma\b|begin(\s+immediate)?\s*$)",
    re.I,
)


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """String literals, f-strings with their placeholders as ``{}``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            yield node.lineno, "".join(str(p) for p in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _is_sql(text: str) -> bool:
    if DDL.search(text):
        return True
    words = set(re.findall(r"[a-z_][a-z0-9_]*", text.lower()))
    return bool(DML.search(text)) and bool(words & TABLES)


def sql_outside_staging(source: str) -> list[str]:
    """``line: what`` of every SQL use rule 2 forbids in ``source``."""
    tree = ast.parse(source)
    out: list[str] = []
    sa_aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(DRIVERS):
                    out.append(f"{node.lineno}: import {alias.name}")
                elif alias.name == "sqlalchemy":
                    sa_aliases.add(alias.asname or "sqlalchemy")
                elif alias.name.startswith("sqlalchemy") and alias.name != "sqlalchemy.exc":
                    out.append(f"{node.lineno}: import {alias.name}")
                elif alias.name == "revqb_pipeline.staging._sql":
                    out.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            mod = node.module
            if mod.startswith(DRIVERS):
                out.append(f"{node.lineno}: from {mod} import ...")
            elif mod.startswith("sqlalchemy") and not (
                mod == "sqlalchemy.exc" or names <= SA_ALLOWED_FROM.get(mod, set())
            ):
                out.append(f"{node.lineno}: from {mod} import {', '.join(sorted(names))}")
            elif mod == "revqb_pipeline.staging._sql" or (
                mod == "revqb_pipeline.staging" and "_sql" in names
            ):
                out.append(f"{node.lineno}: from {mod} import {', '.join(sorted(names))}")
            elif mod == "revqb_pipeline.staging.db" and names & TABLE_OBJECTS:
                out.append(f"{node.lineno}: table objects from staging.db: {sorted(names & TABLE_OBJECTS)}")
        elif isinstance(node, ast.Attribute) and _terminal(node.value) in sa_aliases and node.attr != "exc":
            if isinstance(node.value, ast.Name):
                out.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method in SQL_CALLS or (
                method in ENGINE_CALLS and "engine" in _terminal(node.func.value).lower()
            ):
                out.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    out.extend(f"{line}: SQL text {text[:60]!r}" for line, text in _strings(tree) if _is_sql(text))
    return out


def test_sql_only_in_staging() -> None:
    found = {
        rel: hits
        for rel, source in _modules()
        if not rel.startswith("staging/") and (hits := sql_outside_staging(source))
    }
    assert not found, f"SQL outside revqb_pipeline/staging/ (add a staging function): {found}"


def test_sql_rule_can_fail() -> None:
    offending = """
import sqlalchemy as sa
from sqlalchemy import select
from revqb_pipeline.staging._sql import chunks
from revqb_pipeline.staging.db import sync_ledger

def f(engine, conn):
    with engine.connect() as c:
        c.execute(sa.text("select 1"))
    conn.exec_driver_sql(f"DELETE FROM sync_ledger WHERE source_id = '{1}'")
    return "SELECT count(*) FROM stg_bills", "PRAGMA journal_mode=WAL"
"""
    hits = sql_outside_staging(offending)
    for what in (
        "from sqlalchemy import select",
        "staging._sql",
        "table objects",
        "engine.connect",
        "execute",
        "sa.text",
        "exec_driver_sql",
        "DELETE FROM sync_ledger",
        "stg_bills",
        "PRAGMA",
    ):
        assert any(what in h for h in hits), (what, hits)
    harmless = """
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from revqb_pipeline.staging import Engine as StagingEngine
from revqb_pipeline.staging.db import make_engine

def f(qbo, exc):
    if isinstance(exc, sa.exc.OperationalError | sa_exc.DBAPIError):
        pass
    qbo.query_rows("SELECT * FROM Invoice WHERE DocNumber IN ('1') MAXRESULTS 1000")
    return f"SELECT * FROM {'Customer'} WHERE Id = '1'", "Update your settings from the file"
"""
    assert sql_outside_staging(harmless) == []


# ----- 3. layers --------------------------------------------------------------------------------------------


def _imports(tree: ast.Module) -> Iterator[tuple[int, str, bool]]:
    """``(line, module, lazy)`` of every import; ``lazy`` when inside a function."""
    lazy_nodes = {
        id(n)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in ast.walk(fn)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in lazy_nodes
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, id(node) in lazy_nodes


def layer_violations(rel: str, source: str) -> list[str]:
    """``line: import`` of every import of ``source`` (at ``rel`` under revqb_pipeline/) rule 3 forbids."""
    out: list[str] = []
    for line, module, lazy in _imports(ast.parse(source)):
        top = module.split(".")[0]
        if top == "dagster":
            pure = rel.startswith(("clients/", "mapping/"))
            allowed = rel.startswith("defs/") or rel == "definitions.py"
            cli_lazy = lazy and rel.startswith("cli/")
            if pure or not (allowed or cli_lazy):
                out.append(f"{line}: import {module}")
        elif top == "revqb_sandbox" and not (lazy and rel == "cli/_sandbox.py"):
            out.append(f"{line}: import {module}")
        elif module.startswith("revqb_pipeline.entities") and rel.startswith(ENGINE):
            out.append(f"{line}: import {module} (the engine knows no entity)")
        elif rel.startswith("entities/") and PURE_ENTITY.search(rel) and module.startswith(IO_MODULES):
            out.append(f"{line}: import {module} (an entity's mapping is pure)")
    return out


ENGINE = ("clients/", "mapping/", "staging/", "sync/")
PURE_ENTITY = re.compile(r"(^|/)(\w*mapping|revenue)\.py$")
IO_MODULES = (
    "dagster",
    "revqb_pipeline.clients",
    "revqb_pipeline.staging",
    "revqb_pipeline.sync",
    "revqb_pipeline.defs",
)


def test_layers() -> None:
    found = {rel: hits for rel, source in _modules() if (hits := layer_violations(rel, source))}
    assert not found, f"layer rules broken (docs/architecture.md): {found}"


def test_layer_rule_can_fail() -> None:
    assert layer_violations("clients/x.py", "import dagster as dg\n") == ["1: import dagster"]
    assert layer_violations("mapping/x.py", "def f():\n    from dagster import asset\n") == [
        "2: import dagster"
    ]
    assert layer_violations("sync/x.py", "import dagster\n") == ["1: import dagster"]
    assert layer_violations("cli/_x.py", "import dagster\n") == ["1: import dagster"]
    assert layer_violations("cli/_x.py", "def f():\n    import dagster\n") == []
    assert layer_violations("sync/x.py", "from revqb_sandbox.servers import serve\n") != []
    assert (
        layer_violations("cli/_sandbox.py", "def f():\n    from revqb_sandbox.servers import serve\n") == []
    )
    assert layer_violations("sync/x.py", "from revqb_pipeline.entities import REGISTRY\n") != []
    assert layer_violations("entities/x/mapping.py", "from revqb_pipeline.staging.store import S\n") != []
    assert layer_violations("entities/x/sync.py", "from revqb_pipeline.staging.store import S\n") == []
    assert layer_violations("defs/x.py", "import dagster as dg\n") == []


# ----- 4. no import cycles --------------------------------------------------------------------------------


def module_name(rel: str) -> str:
    """``sync/stage.py`` -> ``revqb_pipeline.sync.stage``; a package's ``__init__.py`` -> the package."""
    parts = ["revqb_pipeline", *rel.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the revqb_pipeline modules it imports at module level (not inside functions, not under
    ``TYPE_CHECKING``); ``from pkg import name`` counts as importing ``pkg.name`` when that is a module."""
    known = {module_name(rel) for rel in sources}
    graph: dict[str, set[str]] = {}
    for rel, source in sources.items():
        me = module_name(rel)
        edges: set[str] = set()
        for node in ast.parse(source).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in known}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    edges.add(sub if sub in known else node.module)
        graph[me] = {e for e in edges if e in known and e != me}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (the modules in order, first repeated last), or ``[]``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_no_import_cycles() -> None:
    """No module-level import cycle between pipeline modules (the registry lists entities explicitly; nothing
    is loaded by name with importlib)."""
    sources = dict(_modules())
    assert find_cycle(import_graph(sources)) == []
    assert not [rel for rel, src in sources.items() if re.search(r"import_module\(|__import__\(", src)]


def test_cycle_rule_can_fail() -> None:
    sources = {"a.py": "from revqb_pipeline import b\n", "b.py": "import revqb_pipeline.a\n"}
    assert find_cycle(import_graph(sources)) == ["revqb_pipeline.a", "revqb_pipeline.b", "revqb_pipeline.a"]
