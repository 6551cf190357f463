"""``search.*`` query semantics of the sandbox: equality filters, inclusive date windows, sort, paging.

- ``search.page`` (1-based, default 1), ``search.page_size`` (1-500, default 10; larger values are
  clamped to 500 or rejected with 400, per ``page_size_over_limit``). Unprefixed params are ignored.
- ``search.<field>=v`` equality on a top-level field (repeat the param or comma-separate for "any of");
  ``null``/``0``/empty match a null id (``search.bill_id=0`` = unposted). ``search.name`` on Customers
  matches a substring of the address company/first/last names (case-insensitive).
- ``search.<date>_start`` / ``search.<date>_end``: inclusive bounds on a date-time field, naive
  ``YYYY-MM-DDTHH:MM:SS`` (a bare date means midnight; values with a zone are rejected).
- ``search.sort=field`` or ``-field`` (comma-separated for several); ties and default: primary key ascending.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from revqb_sandbox.revio.state import SandboxError, fmt

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 10


def _int_param(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(f"search.{name} must be an integer, got {raw!r}") from None


def parse_naive(raw: str, name: str) -> str:
    """Validate a date-time query value; returns the canonical text used for comparisons."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise SandboxError(
            f"search.{name} must be a date-time like 2026-01-31T23:59:59, got {raw!r}"
        ) from None
    if value.tzinfo is not None:
        raise SandboxError(f"search.{name} must be a naive date-time (no zone), got {raw!r}")
    return fmt(value)


def _matches(value: Any, wanted: str, field: str) -> bool:
    text = wanted.strip()
    if value is None:
        return text.lower() in ("", "null") or (field.endswith("_id") and text == "0")
    if isinstance(value, bool):
        return text.lower() == ("true" if value else "false") or text == ("1" if value else "0")
    if isinstance(value, int | Decimal):
        try:
            return Decimal(text) == value
        except InvalidOperation:
            return False
    if isinstance(value, str):
        return value.lower() == text.lower()
    raise SandboxError(f"search.{field} is not a filterable field")


def _name_match(rec: dict[str, Any], wanted: str) -> bool:
    needle = wanted.lower()
    for key in ("billing_address", "service_address", "listing_address"):
        addr = rec.get(key) or {}
        for part in ("company_name", "first_name", "last_name"):
            if needle in (addr.get(part) or "").lower():
                return True
    return False


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, str):
        return (2, value)
    return (1, value)


def search(
    records: Sequence[dict[str, Any]],
    params: Iterable[tuple[str, str]],
    pk: str,
    *,
    over_limit: str = "clamp",
    name_search: bool = False,
) -> dict[str, Any]:
    """Filter, sort and page ``records``; returns the list envelope."""
    page, page_size, sort = 1, DEFAULT_PAGE_SIZE, ""
    equals: dict[str, list[str]] = {}
    windows: list[tuple[str, str, str]] = []
    known: set[str] = {pk}.union(*records)
    for key, raw in params:
        k = key.lower()
        if not k.startswith("search."):
            continue
        name = k[len("search.") :]
        if name == "page":
            page = _int_param(name, raw)
        elif name == "page_size":
            page_size = _int_param(name, raw)
        elif name == "sort":
            sort = raw
        elif name == "name" and name_search:
            equals.setdefault(name, []).append(raw)
        elif name in known or not records:
            equals.setdefault(name, []).extend(raw.split(",") if name.endswith("_id") else [raw])
        elif (name.endswith("_start") or name.endswith("_end")) and name.rsplit("_", 1)[0] in known:
            field, bound = name.rsplit("_", 1)
            windows.append((field, bound, parse_naive(raw, name)))
        else:
            raise SandboxError(f"unknown search field {name!r}")
    if page < 1:
        raise SandboxError("search.page must be >= 1")
    if page_size < 1:
        raise SandboxError("search.page_size must be between 1 and 500")
    if page_size > MAX_PAGE_SIZE:
        if over_limit == "reject":
            raise SandboxError("search.page_size must be between 1 and 500")
        page_size = MAX_PAGE_SIZE

    out = []
    for rec in records:
        ok = True
        for field, wanted in equals.items():
            if field == "name" and name_search:
                ok = all(_name_match(rec, w) for w in wanted)
            else:
                ok = any(_matches(rec.get(field), w, field) for w in wanted)
            if not ok:
                break
        if ok:
            for field, bound, limit in windows:
                value = rec.get(field)
                if not isinstance(value, str) or (value < limit if bound == "start" else value > limit):
                    ok = False
                    break
        if ok:
            out.append(rec)

    if not _ascending_ints([r.get(pk) for r in out]):  # usual: already in key order, nothing to sort
        out.sort(key=lambda r: _sort_key(r.get(pk)))  # a raw-overwritten id ('' / text) sorts, never a 500
    for term in reversed([t.strip() for t in sort.split(",") if t.strip()]):
        desc = term.startswith("-")
        field = term.lstrip("-+").lower()
        if field not in known and records:
            raise SandboxError(f"unknown sort field {field!r}")
        if any(isinstance(r.get(field), dict | list) for r in out):
            raise SandboxError(f"cannot sort by {field!r}")
        out.sort(key=lambda r, f=field: _sort_key(r.get(f)), reverse=desc)
        if desc:  # keep primary-key ascending among equal values
            out = _stable_desc(out, field, pk)
    start = (page - 1) * page_size
    chunk = out[start : start + page_size]
    return {
        "ok": True,
        "has_more": start + page_size < len(out),
        "record_count": len(chunk),
        "records": chunk,
    }


def _ascending_ints(values: list[Any]) -> bool:
    """True when ``values`` are ints (not bools) in strictly ascending order (a stable sort keeps them)."""
    if any(type(v) is not int for v in values):
        return False
    return all(a < b for a, b in itertools.pairwise(values))


def _stable_desc(rows: list[dict[str, Any]], field: str, pk: str) -> list[dict[str, Any]]:
    groups: list[list[dict[str, Any]]] = []
    for r in rows:
        if groups and _sort_key(groups[-1][0].get(field)) == _sort_key(r.get(field)):
            groups[-1].append(r)
        else:
            groups.append([r])
    return [r for g in groups for r in sorted(g, key=lambda x: _sort_key(x.get(pk)))]
