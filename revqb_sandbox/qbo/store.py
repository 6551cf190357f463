"""In-memory state: one :class:`Realm` per company, all guarded by one lock in :class:`Store`."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from revqb_sandbox.qbo.index import Table

Obj = dict[str, Any]

# Transactions share one id sequence (as in QBO); name lists have their own.
TXN_FAMILY = frozenset(
    {"Invoice", "Payment", "CreditMemo", "JournalEntry", "RefundReceipt", "SalesReceipt", "Estimate"}
)


@dataclass
class RealmStats:
    """Counters exposed by ``GET /_admin/stats``."""

    requests: int = 0
    writes: int = 0
    batch_requests: int = 0
    throttled_429: int = 0
    in_flight: int = 0
    peak_concurrency: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class StoredResponse:
    """A response remembered for ``requestid`` replay."""

    body_hash: str
    status: int
    body: bytes
    at_sim: float


@dataclass
class Realm:
    """One company's data."""

    realm_id: str
    objects: dict[str, dict[str, Obj]] = field(default_factory=dict)
    deleted: dict[str, dict[str, Obj]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    preferences: Obj = field(default_factory=dict)
    company_info: Obj = field(default_factory=dict)
    requestids: dict[str, StoredResponse] = field(default_factory=dict)
    stats: RealmStats = field(default_factory=RealmStats)

    def table(self, entity: str) -> Table:
        """The id -> object dict of ``entity`` (a :class:`Table`, so it can be indexed)."""
        rows = self.objects.get(entity)
        if not isinstance(rows, Table):
            rows = self.objects[entity] = Table(rows or {})
        return rows

    def next_id(self, entity: str) -> str:
        """Allocate the next numeric id string for ``entity``."""
        family = "txn" if entity in TXN_FAMILY else entity
        self.counters[family] = self.counters.get(family, 0) + 1
        return str(self.counters[family])

    def entity_counts(self) -> dict[str, int]:
        """Number of live objects per entity."""
        return {name: len(rows) for name, rows in sorted(self.objects.items()) if rows}


_SCALARS = (str, int, float, Decimal, bool, type(None))


def _copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data (dicts, lists, immutable scalars; anything else: ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, _SCALARS):
        return value
    return copy.deepcopy(value)


def public(obj: Obj) -> Obj:
    """A deep copy without internal (``_``-prefixed) keys."""
    return {k: _copy(v) for k, v in obj.items() if not k.startswith("_")}


class Store:
    """All realms. Callers hold :attr:`lock` while reading or writing."""

    def __init__(self, seeder: Callable[[Realm], None]) -> None:
        self.lock = threading.RLock()
        self._seeder = seeder
        self.realms: dict[str, Realm] = {}

    def realm(self, realm_id: str) -> Realm:
        """The realm, created (and seeded) on first use."""
        with self.lock:
            realm = self.realms.get(realm_id)
            if realm is None:
                realm = Realm(realm_id)
                self._seeder(realm)
                self.realms[realm_id] = realm
            return realm

    def reset(self) -> None:
        """Forget every realm (they are re-seeded on next use)."""
        with self.lock:
            self.realms.clear()
