"""Secondary indexes of a realm's tables (issue 10: a 10k-invoice day on a realm of ~15k customers).

A :class:`Table` is the id -> object dict of one entity. It builds an :class:`Index` the first time a
caller asks for one (by name, with its key function) and keeps every built index up to date on each
``table[id] = obj`` / ``del table[id]``. Stored objects are replaced, never edited in place, on the fields
an index reads (Id, names, DocNumber, CustomerRef, payment links); fields edited in place (balances,
``LinkedTxn`` of invoices, ``MetaData``) are not indexed.

An index answers "which ids may match": a bucket per key plus the ids whose value its key function could not
bucket (:data:`OTHER`), which are candidates of every lookup. Callers re-check each candidate with the exact
rule they always used, in table order (:meth:`Table.in_order`), so answers and errors stay the scan's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable
from typing import Any

Obj = dict[str, Any]
OTHER: Hashable = ("\x00other",)  # a key meaning "cannot be bucketed: check me on every lookup"
KeyFn = Callable[[Obj], Iterable[Hashable]]


class Index:
    """key -> ids, plus the ids under :data:`OTHER`."""

    def __init__(self, keys: KeyFn) -> None:
        self.keys = keys
        self.buckets: dict[Hashable, set[str]] = {}
        self.others: set[str] = set()
        self._of: dict[str, tuple[Hashable, ...]] = {}

    def add(self, oid: str, obj: Obj) -> None:
        """Index ``obj`` under ``oid``."""
        keys = tuple(dict.fromkeys(self.keys(obj)))
        self._of[oid] = keys
        for key in keys:
            if key == OTHER:
                self.others.add(oid)
            else:
                self.buckets.setdefault(key, set()).add(oid)

    def discard(self, oid: str) -> None:
        """Forget ``oid`` (under the keys it was added with)."""
        for key in self._of.pop(oid, ()):
            if key == OTHER:
                self.others.discard(oid)
                continue
            bucket = self.buckets.get(key)
            if bucket is not None:
                bucket.discard(oid)
                if not bucket:
                    del self.buckets[key]

    def lookup(self, keys: Iterable[Hashable]) -> set[str]:
        """Ids that may match any of ``keys`` (bucketed ones plus every :data:`OTHER`)."""
        out = set(self.others)
        for key in keys:
            out |= self.buckets.get(key, set())
        return out


class Table(dict[str, Obj]):
    """id -> object of one entity, with lazily built indexes kept current on every set and delete."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._indexes: dict[Hashable, Index] = {}
        self._pos: dict[str, int] = {}
        self._seq = itertools.count()
        self.update(*args, **kwargs)

    def __setitem__(self, oid: str, obj: Obj) -> None:
        if oid not in self._pos:
            self._pos[oid] = next(self._seq)
        super().__setitem__(oid, obj)
        for index in self._indexes.values():
            index.discard(oid)
            index.add(oid, obj)

    def __delitem__(self, oid: str) -> None:
        super().__delitem__(oid)
        del self._pos[oid]
        for index in self._indexes.values():
            index.discard(oid)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for oid, obj in dict(*args, **kwargs).items():
            self[oid] = obj

    def setdefault(self, oid: str, default: Obj) -> Obj:  # type: ignore[override]
        if oid not in self:
            self[oid] = default
        return self[oid]

    def pop(self, oid: str, *default: Any) -> Any:  # type: ignore[override]
        if oid not in self:
            if default:
                return default[0]
            raise KeyError(oid)
        obj = self[oid]
        del self[oid]
        return obj

    def popitem(self) -> tuple[str, Obj]:
        oid = next(reversed(self))
        return oid, self.pop(oid)

    def clear(self) -> None:
        super().clear()
        self._pos.clear()
        self._indexes.clear()

    def index(self, name: Hashable, keys: KeyFn) -> Index:
        """The index called ``name`` (built from every row on first use, then maintained)."""
        index = self._indexes.get(name)
        if index is None:
            index = Index(keys)
            for oid, obj in self.items():
                index.add(oid, obj)
            self._indexes[name] = index
        return index

    def in_order(self, oids: Iterable[str]) -> list[str]:
        """``oids`` (present in the table) in the table's iteration order."""
        pos = self._pos
        return sorted((oid for oid in oids if oid in pos), key=pos.__getitem__)
