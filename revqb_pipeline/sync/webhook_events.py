"""Stored Rev.io webhook events -> the days (partitions) to sync, for the webhook sensor.

A notification names a record by id. For a creation event (``*_CREATED``) that carries ``created_date``, the
day is that date: the record's ``created_date`` day, which is the partition its sync reads (UNCONFIRMED that
Rev.io's event date equals the record's; ``trust_created_date=False`` re-reads every record instead). Any
other event (a payment updated by a bounce or refund) re-reads the record by id for its day. Customer events
request no run: customers reach QBO with their documents' days and the dunning job; they are marked
``ignored`` with that reason. Events whose record Rev.io no longer has are ignored with the reason; a day that
is not a partition yet, or a Rev.io error, leaves the event ``new`` for the next tick.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from revqb_pipeline.clients.errors import RevioError
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.staging.events import IGNORED, PLANNED, EventStore, StoredEvent

DAY_RESOURCES = frozenset({"Bills", "Payments", "Credits"})
CUSTOMER_NOTE = "customer events request no run: customers sync with their documents' days and dunning"


@dataclass
class EventPlan:
    """What one tick decided: the days to run (with their run keys and events) and what it set aside."""

    days: dict[str, list[str]] = field(default_factory=dict)  # day -> event ids
    ignored: dict[str, str] = field(default_factory=dict)  # event id -> reason
    waiting: list[str] = field(default_factory=list)  # left new: not a partition yet / Rev.io error
    rereads: int = 0

    def run_key(self, day: str) -> str:
        ids = "\n".join(sorted(self.days[day]))
        return f"{day}:webhook:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"


def _day_of(event: StoredEvent, revio: RevioClient, trust_created_date: bool) -> tuple[str | None, bool]:
    """(the event's day or None, whether Rev.io was read)."""
    if trust_created_date and event.event_type.upper().endswith("_CREATED") and event.created_date:
        return event.created_date[:10], False
    assert event.resource is not None and event.object_id is not None
    record = revio.get(event.resource, event.object_id)
    created = record.get("created_date")
    return (str(created)[:10] if created else None), True


def plan_events(
    store: EventStore,
    revio: RevioClient,
    valid_day: Callable[[str], bool],
    *,
    limit: int = 2000,
    max_rereads: int = 200,
    budget_s: float = 20.0,
    trust_created_date: bool = True,
    start_day: str = "",
    clock: Callable[[], float] = time.monotonic,
) -> EventPlan:
    """Decide the days for up to ``limit`` pending events; nothing is marked (see :func:`commit_plan`)."""
    out = EventPlan()
    deadline = clock() + budget_s
    for event in store.pending(limit):
        if event.resource == "Customers":
            out.ignored[event.event_id] = CUSTOMER_NOTE
            continue
        if event.resource not in DAY_RESOURCES or event.object_id is None:
            out.ignored[event.event_id] = f"{event.event_type}: no record to sync (object_id missing)"
            continue
        if out.rereads >= max_rereads or clock() > deadline:
            out.waiting.append(event.event_id)
            continue
        try:
            day, read = _day_of(event, revio, trust_created_date)
        except RevioError as exc:
            if exc.status == 404:
                out.ignored[event.event_id] = f"Rev.io has no {event.resource} {event.object_id}"
            else:
                out.waiting.append(event.event_id)
            continue
        out.rereads += int(read)
        if day is None:
            out.ignored[event.event_id] = f"{event.resource} {event.object_id} has no created_date"
        elif day < start_day:
            out.ignored[event.event_id] = f"{day} is before the first partition ({start_day})"
        elif not valid_day(day):
            out.waiting.append(event.event_id)
        else:
            out.days.setdefault(day, []).append(event.event_id)
    return out


def commit_plan(store: EventStore, plan: EventPlan) -> None:
    """Mark the planned events with their day and run key, and the ignored ones with their reason."""
    for day, ids in plan.days.items():
        store.mark(ids, PLANNED, day=day, run_key=plan.run_key(day))
    by_reason: dict[str, list[str]] = {}
    for event_id, reason in plan.ignored.items():
        by_reason.setdefault(reason, []).append(event_id)
    for reason, ids in by_reason.items():
        store.mark(ids, IGNORED, note=reason)
