"""Tenant storage: the tables, their ``customer_id`` index, dataset load/save and lookups by id."""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Self

PK: dict[str, str] = {
    "customers": "customer_id",
    "bills": "bill_id",
    "charges": "charge_id",
    "credits": "credit_memo_id",
    "payments": "payment_id",
    "products": "product_id",
    "product_types": "product_type_id",
    "payment_methods": "payment_method_id",
    "service_products": "service_product_id",
    "bill_profiles": "bill_profile_id",
}
FIRST_ID: dict[str, int] = {
    "customers": 1001,
    "bills": 50001,
    "charges": 700001,
    "credits": 30001,
    "payments": 80001,
    "products": 101,
    "product_types": 10,
    "payment_methods": 1,
    "service_products": 40001,
    "bill_profiles": 1,
}
OWNED: tuple[str, ...] = ("service_products", "bills", "charges", "credits", "payments")
"""Tables indexed by ``customer_id`` (see :meth:`RevioState.owned`)."""
ZERO = Decimal("0.00")
QTY = Decimal("0.0001")
_ATOMIC = (str, int, float, bool, Decimal, type(None))

EventSink = Callable[[str, int], None]


class SandboxError(ValueError):
    """A request the tenant refuses (-> HTTP 400 or 404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RevioDataset:
    """A tenant's records, one list of record dicts per resource (ordered by primary key)."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    product_types: list[dict[str, Any]] = field(default_factory=list)
    payment_methods: list[dict[str, Any]] = field(default_factory=list)
    bill_profiles: list[dict[str, Any]] = field(default_factory=list)
    service_products: list[dict[str, Any]] = field(default_factory=list)
    bills: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    clock: str = ""

    def to_json(self) -> str:
        """Canonical JSON text (byte-identical for the same seed)."""
        from revqb_sandbox.revio.jsonenc import dumps

        return dumps({name: getattr(self, name) for name in [*PK, "clock"] if hasattr(self, name)})


class TenantStore:
    """The tables of one tenant, by resource and primary key, and the modes that shape its records.

    Per-customer work (billing, finance refresh) reads an index ``customer_id -> primary keys`` of the
    :data:`OWNED` tables, kept by :meth:`insert`; so a tenant is built in time linear in its size. Every
    lookup re-checks ``customer_id`` on the record, so a record whose ``customer_id`` was overwritten raw
    (``/_admin/records``) drops out of its old customer; it does not join the new one (call
    :meth:`reindex` after such an edit if billing must see it there).
    """

    def __init__(
        self,
        *,
        bounce_mode: str = "flag_and_reversal",
        refund_mode: str = "negative_row",
        bill_reversal_mode: str = "flag_and_zero",
        on_event: EventSink | None = None,
    ) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in PK}
        self.next_id: dict[str, int] = dict(FIRST_ID)
        self._owned: dict[str, dict[Any, list[int]]] = {name: {} for name in OWNED}
        self.bounce_mode = bounce_mode
        self.refund_mode = refund_mode
        self.bill_reversal_mode = bill_reversal_mode
        self.on_event = on_event

    @classmethod
    def from_dataset(cls, ds: RevioDataset, **kwargs: Any) -> Self:
        """A state holding a copy of the dataset's records (``kwargs`` go to the constructor)."""
        st = cls(**kwargs)
        for name in PK:
            for rec in getattr(ds, name):
                st.insert(name, _clone(rec))
        return st

    def to_dataset(self, clock: str = "", *, copy: bool = True) -> RevioDataset:
        """The records ordered by primary key; ``copy=False`` shares them (the state is then discarded)."""
        ds = RevioDataset(clock=clock)
        for name in PK:
            rows = [r for _, r in sorted(self.tables[name].items())]
            setattr(ds, name, [_clone(r) for r in rows] if copy else rows)
        return ds

    def insert(self, table: str, rec: dict[str, Any]) -> dict[str, Any]:
        """Store ``rec`` (its primary key allocated when None) and index it; returns it."""
        pk = PK[table]
        if rec.get(pk) is None:
            rec[pk] = self.next_id[table]
        rid = rec[pk]
        self.tables[table][rid] = rec
        self.next_id[table] = max(self.next_id[table], rid + 1)
        if table in self._owned:
            self._index(table, rid, rec.get("customer_id"))
        return rec

    def _index(self, table: str, rid: int, customer_id: Any) -> None:
        try:
            ids = self._owned[table].setdefault(customer_id, [])
        except TypeError:  # an unhashable customer_id: found by the full scan in owned()
            return
        if not ids or ids[-1] < rid:
            ids.append(rid)
        else:
            at = bisect.bisect_left(ids, rid)
            if at == len(ids) or ids[at] != rid:
                ids.insert(at, rid)

    def reindex(self) -> None:
        """Rebuild the ``customer_id`` index from the records (after raw edits of ``customer_id``)."""
        self._owned = {name: {} for name in OWNED}
        for name in OWNED:
            for rid in sorted(self.tables[name]):
                self._index(name, rid, self.tables[name][rid].get("customer_id"))

    def owned(self, table: str, customer_id: Any) -> list[dict[str, Any]]:
        """The records of ``table`` (one of :data:`OWNED`) with this ``customer_id``, by primary key."""
        rows = self.tables[table]
        try:
            ids = self._owned[table].get(customer_id, ())
        except TypeError:
            return [r for _, r in sorted(rows.items()) if r.get("customer_id") == customer_id]
        out = []
        for rid in ids:
            r = rows.get(rid)
            if r is not None and r.get("customer_id") == customer_id:
                out.append(r)
        return out

    def get(self, table: str, rid: int) -> dict[str, Any]:
        """The record, or a 404 :class:`SandboxError`."""
        rec = self.tables[table].get(rid)
        if rec is None:
            singular = table.rstrip("s").replace("_", " ")
            raise SandboxError(f"{singular} {rid} does not exist", 404)
        return rec

    def emit(self, kind: str, object_id: int) -> None:
        """Tell the event sink (webhooks) about a change, if there is one."""
        if self.on_event is not None:
            self.on_event(kind, object_id)

    def unposted(self, table: str, customer_id: int) -> list[dict[str, Any]]:
        """The customer's records of ``table`` not on a bill yet."""
        return [r for r in self.owned(table, customer_id) if r.get("bill_id") is None]

    def children(self, table: str, bill_id: int) -> list[dict[str, Any]]:
        """Records posted on a bill (bills only take records of their own customer)."""
        bill = self.tables["bills"].get(bill_id)
        if bill is None:
            return [r for _, r in sorted(self.tables[table].items()) if r.get("bill_id") == bill_id]
        return [r for r in self.owned(table, bill.get("customer_id")) if r.get("bill_id") == bill_id]


def _clone(obj: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, immutable scalars); anything else via ``copy.deepcopy``."""
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _ATOMIC) else _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [v if isinstance(v, _ATOMIC) else _clone(v) for v in obj]
    if isinstance(obj, _ATOMIC):
        return obj
    return copy.deepcopy(obj)
