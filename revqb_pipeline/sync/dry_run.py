"""A dry run of the sync: the whole pipeline runs, nothing is written to QBO, Rev.io or the ledger.

Extract (Rev.io reads), staging, payload building, the checks and the loads all run as in a real sync, with
three differences (:class:`DryRunRuntime`):

- the staging database is a throw-away SQLite copy of the real one (``staging/scratch.py``), so staged
  records, payloads, quarantines, intents, request ids and outcomes land in the copy, never in the ledger;
- QBO writes (creates, updates, voids, deletes, batch writes; reference data included) are withheld by
  :class:`DryRunQBOClient` and answered as QBO would accept them, with made-up ids (``dry-1``, ...);
  reads (queries, lookups) go to QBO, so existing documents are found, linked or updated as for real;
- Rev.io writes (the invoice id write-back PATCH) are withheld by :class:`DryRunRevioClient`.

The OAuth tokens stay in the real database (a refreshed token must be kept, or the next real run cannot log
in). Each load step then reports what *would* be created, updated, voided or quarantined
(``sync/steps.py: dry_run_metadata``); :func:`dry_run` runs days and returns a printable
:class:`DryRunSummary`, including the accounts and items that would be created.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy.engine import Engine

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.money import dollars
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.db import make_engine
from revqb_pipeline.staging.scratch import scratch_copy
from revqb_pipeline.sync.runtime import Runtime, build_qbo, build_revio, engine_for
from revqb_pipeline.sync.spec import EntitySpec, ExtractContext, Extracted, StageContext
from revqb_pipeline.sync.stage import stage_extracted
from revqb_pipeline.sync.steps import DOCUMENT_ACTIONS, DRY_RUN_ID_PREFIX, Documents, Step, StepResult
from revqb_pipeline.sync.writer import payload_amount

#: QBO entities a sync may write, by their lower-case URL path segment.
_ENTITIES = {
    e.lower(): e
    for e in (
        "Invoice",
        "Payment",
        "CreditMemo",
        "Customer",
        "Item",
        "Account",
        "PaymentMethod",
        "TaxCode",
        "Class",
        "JournalEntry",
        "RefundReceipt",
        "SalesReceipt",
        "Deposit",
    )
}
_MADE_UP_ID = re.compile(rf"'({DRY_RUN_ID_PREFIX}\d+)'")
_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)
#: QBO entities that are reference data (listed as "would be created" apart from the documents).
REFERENCE_ENTITIES = ("Account", "Item", "PaymentMethod", "TaxCode", "Class")


@dataclass(frozen=True)
class Withheld:
    """One write a dry run did not send: system (``QBO`` / ``Rev.io``), operation, entity and body."""

    system: str
    operation: str  # create / update / delete / void (QBO); patch / post / put / delete (Rev.io)
    entity: str  # QBO entity, or the Rev.io path
    body: Any
    qbo_id: str = ""

    @property
    def name(self) -> str:
        """The ``Name`` (reference data) or ``DocNumber`` of the body, if any."""
        if isinstance(self.body, dict):
            return str(self.body.get("Name") or self.body.get("DocNumber") or "")
        return ""

    @property
    def amount(self) -> Decimal | None:
        return payload_amount(self.body) if isinstance(self.body, dict) else None


@dataclass
class WithheldLog:
    """The writes a dry run withheld, in order (thread-safe: the Rev.io write-back runs in threads)."""

    items: list[Withheld] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, item: Withheld) -> None:
        with self._lock:
            self.items.append(item)

    def of(self, system: str) -> list[Withheld]:
        with self._lock:
            return [w for w in self.items if w.system == system]


class DryRunQBOClient(QBOClient):
    """A :class:`QBOClient` that sends reads and withholds writes, answering each as QBO would accept it.

    Reads (``GET``, ``/query``, ``/batch`` of queries only) go to QBO. A create gets a made-up id
    (``dry-1``, ...) and ``SyncToken`` 0, an update its ``SyncToken`` + 1; documents the dry run made up are
    read back from memory. Every withheld write is appended to ``log``.
    """

    dry_run = True

    def __init__(self, inner: QBOClient, log: WithheldLog) -> None:
        """Shares ``inner``'s HTTP client, limiter and OAuth (tokens persisted in the real database)."""
        self.__dict__.update(inner.__dict__)
        self.log = log
        self.cache_scope = f"dry-run-{uuid.uuid4().hex}"  # reference data cache: never shared with a real run
        self._ids = itertools.count(1)
        self._made_up: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids_lock = threading.Lock()

    def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """:meth:`QBOClient.request` for reads; a write is withheld and answered as QBO would."""
        json_body, text_body, params = kw.get("json_body"), kw.get("text_body"), kw.get("params")
        if _is_read(method, path, json_body):
            data = super().request(method, path, **kw)
            if path == "/query" and text_body:
                self._add_made_up(text_body, data)
            elif path == "/batch":
                items = json_body.get("BatchItemRequest") or []
                queries = {str(item.get("bId")): item["Query"] for item in items}
                for answer in data.get("BatchItemResponse") or []:
                    sql = queries.get(str(answer.get("bId")))
                    if sql and "Fault" not in answer:
                        self._add_made_up(sql, answer)
            return data
        if path == "/batch":
            responses = []
            for item in json_body.get("BatchItemRequest") or []:
                entity = next(k for k in item if k not in ("bId", "operation", "optionsData"))
                result = self._withhold(item.get("operation", "create"), entity, item[entity])
                responses.append({"bId": item.get("bId"), entity: result})
            return {"BatchItemResponse": responses}
        entity = _ENTITIES.get(path.strip("/").split("/")[0], path.strip("/").split("/")[0])
        query = params or {}
        operation = query.get("operation") or ("update" if (json_body or {}).get("Id") else "create")
        if query.get("include") == "void" or operation == "void":
            operation = "void"
        return {entity: self._withhold(operation, entity, json_body or {})}

    def read(self, entity: str, id: str) -> dict[str, Any]:
        made_up = self._made_up.get((entity.lower(), str(id)))
        if made_up is not None:
            return dict(made_up)
        return super().read(entity, id)

    def _add_made_up(self, sql: str, answer: dict[str, Any]) -> None:
        """Add to a query's answer the made-up documents it asks for by id (``... WHERE Id IN ('dry-3')``):
        a record the dry run created on an earlier day, then changed, is updated, not created again."""
        ids = _MADE_UP_ID.findall(sql)
        entity = _FROM.search(sql)
        if not ids or entity is None:
            return
        rows = [self._made_up[key] for i in ids if (key := (entity.group(1).lower(), i)) in self._made_up]
        if rows:
            response = answer.setdefault("QueryResponse", {})
            name = _ENTITIES.get(entity.group(1).lower(), entity.group(1))
            response.setdefault(name, []).extend(dict(r) for r in rows)

    def _withhold(self, operation: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record the write; the entity QBO would answer with."""
        result = {k: v for k, v in body.items() if k != "sparse"}
        if operation == "create" or not body.get("Id"):
            with self._ids_lock:
                result["Id"] = f"{DRY_RUN_ID_PREFIX}{next(self._ids)}"
            result["SyncToken"] = "0"
        else:
            known = self._made_up.get((entity.lower(), str(body["Id"])), {})
            result = {**known, **result}
            token = str(body.get("SyncToken", "0"))
            result["SyncToken"] = str(int(token) + 1) if token.isdigit() else token
            if operation == "delete":
                result["status"] = "Deleted"
        self._made_up[(entity.lower(), str(result["Id"]))] = result
        self.log.add(Withheld("QBO", operation, entity, body, str(result["Id"])))
        return dict(result)


def _is_read(method: str, path: str, json_body: Any) -> bool:
    if method.upper() == "GET" or path == "/query":
        return True
    if path == "/batch" and isinstance(json_body, dict):
        items = json_body.get("BatchItemRequest") or []
        return bool(items) and all("Query" in item for item in items)
    return False


class DryRunRevioClient(RevioClient):
    """A :class:`RevioClient` that sends ``GET``s and withholds every other call (the write-back PATCH)."""

    dry_run = True

    def __init__(self, inner: RevioClient, log: WithheldLog) -> None:
        """Shares ``inner``'s HTTP client, limiter and credentials."""
        self.__dict__.update(inner.__dict__)
        self.log = log

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """:meth:`RevioClient.request` for a ``GET``; any other call is withheld and answered ``200``."""
        if method.upper() == "GET":
            return super().request(method, path, **kw)
        self.log.add(Withheld("Rev.io", method.lower(), path, kw.get("json_body")))
        request = httpx.Request(method, f"{self.base_url}{path}")
        return httpx.Response(200, json={"ok": True, "id": 0}, request=request)


def open_scratch(source: Engine, path: Path) -> Engine:
    """The scratch copy of ``source`` at ``path``: made on first use (several processes of one run may
    race; one copy wins, made under another name and linked into place), opened afterwards."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        scratch_copy(source, tmp).dispose()  # closing the last connection checkpoints the WAL
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return make_engine(f"sqlite:///{path}")


@dataclass
class DryRunRuntime(Runtime):
    """A :class:`Runtime` whose ledger and staging store are a scratch copy at ``scratch_path``, whose QBO
    and Rev.io clients withhold writes (recorded in ``withheld``). The OAuth tokens stay in the real DB."""

    scratch_path: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="revqb-dry-run-")) / "db")
    withheld: WithheldLog = field(default_factory=WithheldLog)

    @property
    def dry_run(self) -> bool:
        return True

    @cached_property
    def real_engine(self) -> Engine:
        return engine_for(self.settings.db_url)

    @cached_property
    def engine(self) -> Engine:
        return open_scratch(self.real_engine, self.scratch_path)

    @cached_property
    def qbo(self) -> QBOClient:
        return DryRunQBOClient(build_qbo(self.settings, self.real_engine), self.withheld)

    @cached_property
    def revio(self) -> RevioClient:
        return DryRunRevioClient(build_revio(self.settings, self.real_engine), self.withheld)

    def discard(self) -> None:
        """Close and delete the scratch copy."""
        if "engine" in self.__dict__:
            self.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.scratch_path}{suffix}").unlink(missing_ok=True)
        if self.scratch_path.parent.name.startswith("revqb-dry-run-"):
            shutil.rmtree(self.scratch_path.parent, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                self.scratch_path.parent.rmdir()  # a Dagster run's folder, once empty


# ----- running days -----------------------------------------------------------------------------------


class Registry(Protocol):
    """What :func:`dry_run` needs of ``revqb_pipeline.entities`` (the engine may not import it)."""

    BY_SOURCE_TYPE: dict[str, EntitySpec]
    STEPS: tuple[Step, ...]

    def extract_assets(self) -> dict[str, tuple[EntitySpec, ...]]: ...

    def extract_gates(self) -> dict[str, tuple[str, ...]]: ...


@dataclass
class EntityPreview:
    """What one load step would do over the days: count and dollars per action (``created``, ``updated``,
    ``linked``, ``voided``, ``quarantined``, ``failed``), plus ``unchanged`` / ``waiting`` counts."""

    name: str
    actions: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    unchanged: int = 0
    waiting: int = 0
    monetary: bool = True  # False for documents without an amount (customers)

    def add(self, action: str, count: int, amount: Decimal) -> None:
        c, a = self.actions.get(action, (0, Decimal(0)))
        self.actions[action] = (c + count, a + amount)

    def count(self, action: str) -> int:
        return self.actions.get(action, (0, Decimal(0)))[0]

    def amount(self, action: str) -> Decimal:
        return self.actions.get(action, (0, Decimal(0)))[1]


@dataclass
class DryRunSummary:
    """What a sync of ``days`` would post, per entity (load step), and the reference data it would create."""

    days: list[str]
    entities: dict[str, EntityPreview] = field(default_factory=dict)
    quarantined_in_mapping: dict[str, int] = field(default_factory=dict)  # payload step -> records
    blocked: dict[str, list[str]] = field(default_factory=dict)  # day -> failed blocking checks
    reference_data: list[tuple[str, str]] = field(default_factory=list)  # (entity, name)
    reference_updates: list[tuple[str, str]] = field(default_factory=list)
    qbo_writes_withheld: int = 0
    revio_writes_withheld: int = 0

    @property
    def writes_withheld(self) -> int:
        return self.qbo_writes_withheld + self.revio_writes_withheld

    @property
    def quarantined(self) -> int:
        """Records that would be quarantined or fail, plus days a blocking check would stop."""
        loads = sum(e.count("quarantined") + e.count("failed") for e in self.entities.values())
        return loads + sum(self.quarantined_in_mapping.values()) + len(self.blocked)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (amounts as strings of exact dollars, e.g. ``"1234.50"``)."""
        return {
            "dry_run": True,
            "days": list(self.days),
            "entities": {
                name: {
                    **{a: {"count": c, "amount": str(amt)} for a, (c, amt) in e.actions.items()},
                    "unchanged": e.unchanged,
                    "waiting": e.waiting,
                }
                for name, e in self.entities.items()
            },
            "quarantined_in_mapping": dict(self.quarantined_in_mapping),
            "blocked": {d: list(c) for d, c in self.blocked.items()},
            "reference_data": [{"entity": e, "name": n} for e, n in self.reference_data],
            "reference_data_updates": [{"entity": e, "name": n} for e, n in self.reference_updates],
            "qbo_writes_withheld": self.qbo_writes_withheld,
            "revio_writes_withheld": self.revio_writes_withheld,
        }

    def text(self) -> str:
        """A plain-text report: one line per entity with counts and dollars per action, then the reference
        data that would be created."""
        span = f"{self.days[0]} .. {self.days[-1]}, {len(self.days)} days" if self.days else "no days"
        lines = [f"DRY RUN - nothing was written to QuickBooks, Rev.io or the ledger ({span})"]
        cols = ("created", "updated", "voided", "quarantined")
        heads = ("would create", "would update", "would void", "quarantined")
        rows = [("entity", *heads, "linked", "unchanged", "waiting")]
        for name, e in self.entities.items():
            cells = [
                f"{e.count(a):,}" + (f"  {dollars(e.amount(a))}" if e.count(a) and e.monetary else "")
                for a in cols
            ]
            failed = f" (+{e.count('failed')} failed)" if e.count("failed") else ""
            rows.append(
                (name, *cells, f"{e.count('linked'):,}", f"{e.unchanged:,}", f"{e.waiting:,}{failed}")
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        for step, n in self.quarantined_in_mapping.items():
            lines.append(f"{step}: {n:,} records would be quarantined (cannot be mapped)")
        for day, checks in self.blocked.items():
            lines.append(
                f"{day}: blocked by failed check {', '.join(checks)}: nothing of that day would be posted"
            )
        if self.reference_data:
            lines.append("reference data that would be created in QuickBooks:")
            lines.extend(f"  {entity:<14} {name}" for entity, name in self.reference_data)
        else:
            lines.append("reference data that would be created in QuickBooks: none")
        lines.extend(f"  would correct {entity} {name}" for entity, name in self.reference_updates)
        lines.append(
            f"writes withheld: {self.qbo_writes_withheld:,} to QuickBooks, "
            f"{self.revio_writes_withheld:,} to Rev.io"
        )
        return "\n".join(lines)


def day_window(day: str) -> tuple[datetime, datetime]:
    """A bill date's naive local window (as ``defs/partitions.day_window``: Rev.io filters carry no zone)."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time())
    return start, start + timedelta(days=1)


def _ordered(assets: Mapping[str, tuple[EntitySpec, ...]], deps: Callable[[str], set[str]]) -> list[str]:
    """``assets`` with each after the ones it depends on (registry order otherwise)."""
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen:
            return
        for dep in sorted(deps(name)):
            if dep in assets:
                visit(dep, seen | {name})
        done.append(name)

    for name in assets:
        visit(name, frozenset())
    return done


@dataclass
class StepRun:
    """One step of a day: its result, or the failed blocking checks upstream that kept it from running;
    ``failed_blocking``: its own blocking checks that failed (they stop the loads after it)."""

    step: Step
    result: StepResult | None
    blocked_by: list[str] = field(default_factory=list)
    failed_blocking: list[str] = field(default_factory=list)


def run_day(
    rt: Runtime, registry: Registry, day: str, on_step: Callable[[str], None] | None = None
) -> Iterator[StepRun]:
    """Extract, stage and run every daily QBO step of ``day`` on ``rt`` in the sync job's order; a step
    downstream of a failed blocking check does not run (as in the job)."""
    assets = registry.extract_assets()
    gates = registry.extract_gates()
    by_type = registry.BY_SOURCE_TYPE

    def extract_deps(name: str) -> set[str]:
        inputs = {i for s in assets[name] for i in s.extract_inputs}
        return inputs | {by_type[t].asset for t in gates.get(name, ())}

    def stage_deps(name: str) -> set[str]:
        return {d for s in assets[name] for d in s.stage_deps}

    start, end = day_window(day)
    read: dict[str, Extracted] = {}
    for name in _ordered(assets, extract_deps):
        if on_step:
            on_step(f"revio/{name}")
        merged: Extracted = {}
        for dep in sorted(extract_deps(name)):
            merged.update(read.get(dep, {}))
        out: Extracted = {}
        if not gates.get(name) or any(merged.get(t) for t in gates[name]):
            ctx = ExtractContext(rt.revio, rt.store, start, end, merged)
            for spec in assets[name]:
                assert spec.extract is not None
                for source_type, records in spec.extract(ctx).items():
                    out.setdefault(source_type, []).extend(records)
        read[name] = out
    for name in _ordered(assets, stage_deps):
        if on_step:
            on_step(f"staging/{name}")
        ctx_stage = StageContext(day, rt.mapping, rt.store)
        stage_extracted(rt.store, rt.ledger, assets[name], by_type, read[name], ctx_stage)
    stopped: dict[str, list[str]] = {}  # step -> the failed blocking checks that stop what depends on it
    for step in registry.STEPS:
        upstream = [d.removeprefix("quickbooks/") for d in step.deps if d.startswith("quickbooks/")]
        blocked = sorted({c for d in upstream for c in stopped.get(d, [])})
        if blocked:
            stopped[step.name] = blocked
            yield StepRun(step, None, blocked_by=blocked)
            continue
        if on_step:
            on_step(f"quickbooks/{step.name}")
        result = step.run(rt, day)
        blocking = {c.name for c in step.checks if c.blocking}
        failed = [c.name for c in result.checks if c.name in blocking and not c.passed]
        if failed:
            stopped[step.name] = failed
        yield StepRun(step, result, failed_blocking=failed)


def dry_run(
    settings: RevqbSettings,
    days: Sequence[str],
    registry: Registry,
    *,
    progress: Callable[[str, str], None] | None = None,
    on_result: Callable[[str, Step, StepResult], None] | None = None,
    rt: DryRunRuntime | None = None,
) -> DryRunSummary:
    """Run the sync of ``days`` (``YYYY-MM-DD``, in order) without writing anything, and say what it would
    post. ``registry`` is ``revqb_pipeline.entities``; ``progress(day, step)`` is called before each step,
    ``on_result(day, step, result)`` after each daily QBO step (its metadata labelled DRY RUN). ``rt``: a
    dry-run runtime to use (default: a new one over ``settings``); its scratch copy is deleted at the end."""
    rt = rt or DryRunRuntime(settings)
    summary = DryRunSummary(days=list(days))
    try:
        for day in days:
            on_step = (lambda name, d=day: progress(d, name)) if progress else None
            for run in run_day(rt, registry, day, on_step):
                checks = run.failed_blocking or (run.blocked_by if run.step.load else [])
                if checks:
                    summary.blocked[day] = sorted(set(summary.blocked.get(day, [])) | set(checks))
                if run.result is None:
                    continue
                if on_result:
                    on_result(day, run.step, run.result)
                if run.step.load:
                    _add_load(summary, run.step.name, run.result.metadata)
                elif run.result.metadata.get("quarantined"):
                    n = int(run.result.metadata["quarantined"])
                    name = run.step.name
                    summary.quarantined_in_mapping[name] = summary.quarantined_in_mapping.get(name, 0) + n
    finally:
        rt.discard()
    qbo_writes = rt.withheld.of("QBO")
    summary.qbo_writes_withheld = len(qbo_writes)
    summary.revio_writes_withheld = len(rt.withheld.of("Rev.io"))
    for w in qbo_writes:
        if w.entity in REFERENCE_ENTITIES:
            target = summary.reference_data if w.operation == "create" else summary.reference_updates
            target.append((w.entity, w.name))
    return summary


def _add_load(summary: DryRunSummary, step: str, metadata: Mapping[str, Any]) -> None:
    """Add a load step's (dry-run) metadata to ``summary``: the ``would_post_totals`` tables (a credit
    memo step's applications under ``<step> (applications)``), ``unchanged`` and ``waiting``."""
    for key, value in metadata.items():
        if not (isinstance(value, Documents) and value.part == "totals"):
            continue
        prefix = key.removesuffix("would_post_totals").rstrip("_")
        name = f"{step} ({prefix.replace('_', ' ')}s)" if prefix else step
        preview = summary.entities.setdefault(name, EntityPreview(name))
        table = metadata.get(f"{prefix}_would_post" if prefix else "would_post")
        if isinstance(table, Documents) and all(_entity_of_row(r) in NO_AMOUNT for r in table.rows):
            preview.monetary = False
        for action in DOCUMENT_ACTIONS:
            if action in value.totals:
                preview.add(action, *value.totals[action])
        preview.unchanged += int(metadata.get(f"{prefix}_unchanged" if prefix else "unchanged", 0) or 0)
        preview.waiting += int(metadata.get(f"{prefix}_waiting" if prefix else "waiting", 0) or 0)
    summary.entities.setdefault(step, EntityPreview(step))
    if not any(isinstance(v, Documents) for v in metadata.values()):
        summary.entities[step].unchanged += int(metadata.get("unchanged", 0) or 0)
        summary.entities[step].waiting += int(metadata.get("waiting", 0) or 0)


#: QBO entities whose documents carry no amount (a dry run shows no dollars for them).
NO_AMOUNT = frozenset({"Customer", *REFERENCE_ENTITIES})


def _entity_of_row(row: str) -> str:
    """The QBO entity of a documents-table row (``| 42 | created | Invoice 7 | ...``)."""
    cells = row.split(" | ")
    return cells[2].split(" ")[0] if len(cells) > 2 else ""
