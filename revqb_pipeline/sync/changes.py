"""Change detection on Rev.io for the sensor: per-day digests of watched records and a JSON cursor.

Rev.io has no ``updated_date`` on transactions, only ``created_date``, so each tick re-reads the records
created since ``watermark - lookback`` (sorted by ``created_date``, paged) and digests every day: sha256
over ``kind:id:version`` of that day's records, where the version hashes the fields that change after
creation (the registry's ``watched_fields``). ``defs/automation/sensors.py`` turns the changed days into
run requests.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from revqb_pipeline.clients.revio import RevioClient

#: A watched Rev.io resource: (resource, primary key, fields whose change matters after creation).
Watch = tuple[str, str, tuple[str, ...]]


@dataclass
class Scan:
    """What one tick read: per-day digests of the fully read days, and where reading stopped."""

    days: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    complete_until: str | None = None  # first day NOT fully read (None = everything read)
    watermark: str | None = None


def _version(rec: dict[str, Any], fields: tuple[str, ...]) -> str:
    text = json.dumps([str(rec.get(f)) for f in fields])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def digest(entries: Iterable[str]) -> str:
    """The digest of one day's ``kind:id:version`` entries (order-independent)."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]


def window_start(cursor: dict[str, Any], lookback_days: int, start_date: str) -> date:
    """Where a tick starts reading: watermark day - lookback, never before the partitions start."""
    first = date.fromisoformat(start_date[:10])
    mark = cursor.get("watermark")
    if not mark:
        return first
    return max(first, date.fromisoformat(str(mark)[:10]) - timedelta(days=lookback_days))


def scan(
    revio: RevioClient,
    since: date,
    watched: Iterable[Watch],
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> Scan:
    """Read the ``watched`` resources' records created since ``since`` (by created_date) until
    ``deadline``."""
    entries: dict[str, list[str]] = {}
    out = Scan()
    stops: list[str] = []
    for resource, pk, fields in watched:
        n = 0
        params = {"created_date_start": datetime.combine(since, datetime.min.time())}
        for rec in revio.iter_records(resource, params, sort="created_date"):
            day = str(rec.get("created_date") or "")[:10]
            if not day:
                continue
            entries.setdefault(day, []).append(f"{resource}:{rec.get(pk)}:{_version(rec, fields)}")
            n += 1
            if out.watermark is None or str(rec["created_date"]) > out.watermark:
                out.watermark = str(rec["created_date"])
            if clock() > deadline:
                stops.append(day)  # this day (and later) may be incomplete
                break
        out.counts[resource] = n
    out.complete_until = min(stops) if stops else None
    out.days = {
        day: digest(items)
        for day, items in sorted(entries.items())
        if out.complete_until is None or day < out.complete_until
    }
    if out.complete_until is not None:
        out.watermark = out.complete_until
    return out


def plan(
    cursor: dict[str, Any], result: Scan, since: date, valid: Callable[[str], bool], max_runs: int
) -> tuple[list[tuple[str, str]], dict[str, Any], list[str]]:
    """``(day, digest)`` of the changed days to sync (at most ``max_runs``, oldest first), the next
    cursor, and the changed days skipped because ``valid`` says they are not a partition yet."""
    old: dict[str, str] = dict(cursor.get("days") or {})
    first = since.isoformat()
    days = dict(result.days)
    # a day that had records and now has none (deleted in Rev.io) changed too
    for day in old:
        if (
            day >= first
            and day not in days
            and (result.complete_until is None or day < result.complete_until)
        ):
            days[day] = digest([])
    requests: list[tuple[str, str]] = []
    new_days = {d: v for d, v in old.items() if d >= first}
    invalid: list[str] = []
    for day in sorted(days):
        if old.get(day) == days[day]:
            new_days[day] = days[day]
            continue
        if not valid(day):
            invalid.append(day)
            continue
        if len(requests) >= max_runs:
            continue  # left out of the cursor: requested by a later tick
        requests.append((day, days[day]))
        new_days[day] = days[day]
    watermark = result.watermark or cursor.get("watermark")
    if invalid or len(requests) >= max_runs:
        # keep the watermark early enough that the skipped days stay inside the next window
        pending = [d for d in days if d not in new_days or new_days[d] != days[d]]
        if pending and watermark:
            watermark = min(str(watermark), min(pending))
    next_cursor = {"v": 1, "watermark": watermark, "days": dict(sorted(new_days.items()))}
    return requests, next_cursor, invalid


def parse_cursor(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
