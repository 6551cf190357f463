"""Resolving symbolic references in built payloads, and turning payload rows into write requests.

A reference to something not in QBO yet (a customer, a bill's invoice, a credit memo) makes the record
*wait*; a reference to reference data the mapping should have created (an item, a payment method, an
account) *quarantines* it with the missing name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.mapping.symbols import BY_KIND, SYMBOLS, Symbol
from revqb_pipeline.staging.ledger import Ledger, LedgerRow, LedgerStatus, Parked
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.writer import WriteReport, WriteRequest


class Unresolved(Exception):
    """A symbolic reference with no QBO id yet; ``waits`` says whether the record waits or is quarantined."""

    def __init__(self, kind: str, key: str, waits: bool):
        super().__init__(f"{kind} {key}")
        self.kind = kind
        self.key = key
        self.waits = waits


def synced_ids(ledger: Ledger, source_type: str) -> dict[str, str]:
    """source_id -> QBO Id of every synced ledger row of ``source_type``."""
    return {
        r.source_id: r.qbo_id
        for r in ledger.rows(source_type=source_type, statuses=[LedgerStatus.SYNCED])
        if r.qbo_id
    }


@dataclass
class Resolver:
    """Swaps symbolic references (``mapping/symbols.py: SYMBOLS``) for QBO ids: ledger-backed ones from
    ``synced`` (source type -> source id -> QBO id), reference data from ``refs``.

    With a ``ledger`` (:meth:`load`), ``synced`` is filled on demand with the rows of the keys the resolved
    bodies name (:meth:`prime`: batched ``IN`` reads), never with every synced row of the realm."""

    synced: dict[str, dict[str, str]]
    refs: RefIds
    ledger: Ledger | None = None
    _looked_up: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set), repr=False)

    @classmethod
    def load(cls, ledger: Ledger, refs: RefIds) -> Resolver:
        """A resolver reading the ledger-backed ids it needs when it needs them."""
        return cls({}, refs, ledger)

    def prime(self, bodies: Iterable[dict[str, Any]]) -> None:
        """Read the ledger rows of the ledger-backed keys ``bodies`` name (a batched read per source type)."""
        wanted: dict[str, list[str]] = defaultdict(list)
        for body in bodies:
            for value in _ref_values(body):
                symbol = _symbol_of(value)
                if symbol is not None and symbol.source_type:
                    wanted[symbol.source_type].append(value[len(symbol.prefix) :])
        for source_type, keys in wanted.items():
            self.prime_keys(source_type, keys)

    def prime_keys(self, source_type: str, keys: Iterable[str]) -> None:
        """Read the synced QBO ids of ``keys`` of ``source_type`` not read yet (one batched read)."""
        if self.ledger is None:
            return
        seen = self._looked_up[source_type]
        missing = [k for k in dict.fromkeys(str(k) for k in keys) if k not in seen]
        if not missing:
            return
        rows = self.ledger.get_many(source_type, missing)
        ids = self.synced.setdefault(source_type, {})
        for key in missing:
            seen.add(key)
            row = rows.get(key)
            if row is not None and row.status == LedgerStatus.SYNCED and row.qbo_id:
                ids[key] = row.qbo_id

    def synced_id(self, source_type: str, key: str) -> str | None:
        """The QBO id of synced record ``key`` of ``source_type``, or None."""
        self.prime_keys(source_type, [key])
        return self.synced.get(source_type, {}).get(key)

    def ids(self, symbol: Symbol) -> dict[str, str]:
        """Key -> QBO id of what ``symbol`` can point at (ledger-backed: the keys read so far)."""
        if symbol.source_type:
            return self.synced.get(symbol.source_type, {})
        return getattr(self.refs, symbol.reference or "")

    def _swap(self, ref: dict[str, Any]) -> None:
        value = str(ref.get("value", ""))
        symbol = _symbol_of(value)
        if symbol is None:
            return
        key = value[len(symbol.prefix) :]
        if symbol.source_type:
            self.prime_keys(symbol.source_type, [key])  # no-op when primed
        ids = self.ids(symbol)
        if key not in ids:
            raise Unresolved(symbol.kind, key, symbol.waits)
        ref["value"] = ids[key]

    def resolve(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` with every symbolic reference replaced (raises Unresolved)."""
        out = _clone(body)
        for key in ("CustomerRef", "PaymentMethodRef", "DepositToAccountRef"):
            if isinstance(out.get(key), dict):
                self._swap(out[key])
        for line in out.get("Line", []):
            detail = line.get("SalesItemLineDetail")
            if isinstance(detail, dict) and isinstance(detail.get("ItemRef"), dict):
                self._swap(detail["ItemRef"])
            for link in line.get("LinkedTxn", []):
                holder = {"value": link.get("TxnId")}
                self._swap(holder)
                link["TxnId"] = holder["value"]
        return out


def _clone(value: Any) -> Any:
    """A copy of a JSON-shaped body: new dicts and lists, the (immutable) leaves shared; what
    ``copy.deepcopy`` gives for such a body, without its memo bookkeeping."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _symbol_of(value: str) -> Symbol | None:
    return next((s for s in SYMBOLS if value.startswith(s.prefix)), None)


def _ref_values(body: dict[str, Any]) -> Iterator[str]:
    """The reference values of ``body`` that :meth:`Resolver.resolve` swaps."""
    for key in ("CustomerRef", "PaymentMethodRef", "DepositToAccountRef"):
        if isinstance(body.get(key), dict):
            yield str(body[key].get("value", ""))
    for line in body.get("Line", []):
        detail = line.get("SalesItemLineDetail")
        if isinstance(detail, dict) and isinstance(detail.get("ItemRef"), dict):
            yield str(detail["ItemRef"].get("value", ""))
        for link in line.get("LinkedTxn", []):
            yield str(link.get("TxnId", ""))


def _source_of(exc: Unresolved) -> str | None:
    symbol = BY_KIND.get(exc.kind)
    return symbol.source_type if symbol else None


def why_missing(ledger: Ledger, exc: Unresolved) -> str:
    """A readable reason for a record that waits on ``exc``'s dependency, with that dependency's state."""
    source = _source_of(exc)
    return _missing_text(exc, ledger.get(source, exc.key) if source else None)


def _missing_text(exc: Unresolved, row: LedgerRow | None) -> str:
    symbol = BY_KIND.get(exc.kind)
    source = symbol.source_type if symbol else None
    text = f"waiting for {symbol.what if symbol else exc.kind} {exc.key} to reach QBO"
    if row is not None:
        text += f" (it is {row.status}{': ' + row.last_error if row.last_error else ''})"
    elif source:
        text += " (not synced yet)"
    return text


def prepare_requests(
    rows: list[dict[str, Any]],
    ledger: Ledger,
    resolver: Resolver,
    source_type: str,
    report: WriteReport,
    body_of: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row["payload"],
) -> list[WriteRequest]:
    """Write requests for payload rows whose body resolves; the others wait (dependency missing) or are
    quarantined (mapping/reference data missing) with the reason, all recorded in one ledger transaction."""
    bodies = [body_of(row) for row in rows]
    resolver.prime(bodies)
    out: list[WriteRequest] = []
    unresolved: list[tuple[str, dict[str, Any], Unresolved]] = []
    for row, raw in zip(rows, bodies, strict=True):
        sid = str(row["source_id"])
        identity = {
            "qbo_entity": row["qbo_entity"],
            "partition_key": row.get("partition_key"),
            "business_key": row.get("business_key"),
        }
        try:
            body = resolver.resolve(raw)
        except Unresolved as exc:
            unresolved.append((sid, identity, exc))
            continue
        out.append(WriteRequest(source_type=source_type, source_id=sid, payload=body, **identity))
    if unresolved:
        _park(ledger, source_type, unresolved, report)
    return out


def _park(
    ledger: Ledger,
    source_type: str,
    unresolved: list[tuple[str, dict[str, Any], Unresolved]],
    report: WriteReport,
) -> None:
    """Record the records that wait or are quarantined, reading their dependencies' rows in batches."""
    deps: dict[str, list[str]] = defaultdict(list)
    for _sid, _identity, exc in unresolved:
        if exc.waits and (source := _source_of(exc)):
            deps[source].append(exc.key)
    dep_rows = {(t, k): r for t, keys in deps.items() for k, r in ledger.get_many(t, keys).items()}
    parked: list[Parked] = []
    for sid, identity, exc in unresolved:
        if exc.waits:
            source = _source_of(exc)
            reason = _missing_text(exc, dep_rows.get((source, exc.key)) if source else None)
            status, action = LedgerStatus.WAITING, "waiting"
        else:
            reason = f"no QBO {exc.kind} named {exc.key!r} (add it to the mapping file)"
            status, action = LedgerStatus.QUARANTINED, "quarantined"
        parked.append(Parked(source_type, sid, status, reason, None, **identity))
        report.record(sid, action, reason)
    ledger.park_many(parked)
