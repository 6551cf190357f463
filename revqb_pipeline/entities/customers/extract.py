"""Reading customers from Rev.io: those a day's records name, and those created or updated that day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.mapping.normalize import record_key, record_token
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.extract import get_or_none, window_end_inclusive

#: Customers of a day's payments or credits that are not staged yet are read one by one up to this many.
PER_ID_CUSTOMER_LIMIT = 25


def fetch_customers(
    revio: RevioClient,
    customer_ids: Iterable[int],
    updated_start: datetime | None = None,
    updated_end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Customers referenced by ``customer_ids`` plus those updated in ``[updated_start, updated_end)``.

    The updated ones come from one read filtered by ``updated_date``; referenced ones not among them are
    read by id when few, else by one full paged read. Nothing here grows with the tenant on a quiet day.
    """
    wanted = {int(c) for c in customer_ids}
    out: dict[tuple[int, str], dict[str, Any]] = {}
    if updated_start is not None and updated_end is not None:
        for rec in revio.customers(
            updated_start=updated_start, updated_end=window_end_inclusive(updated_end)
        ):
            out[record_token(rec, "customer_id")] = rec
    have = {record_key(rec, "customer_id") for rec in out.values()}
    missing = sorted(wanted - {c for c in have if c is not None})
    if len(missing) <= PER_ID_CUSTOMER_LIMIT:
        found = [c for i in missing if (c := get_or_none(revio, "Customers", i))]
    else:
        needed = set(missing)
        found = [rec for rec in revio.customers() if record_key(rec, "customer_id") in needed]
    for rec in found:
        out[record_token(rec, "customer_id")] = rec
    return [out[k] for k in sorted(out)]


def missing_customers(
    revio: RevioClient, store: StagingStore, records: list[dict[str, Any]], *, staging_table: str
) -> list[dict[str, Any]]:
    """Rev.io customers of ``records`` that are not staged in ``staging_table`` yet (per id when few,
    else one paged read: ``fetch_customers``)."""
    ids = sorted({c for r in records if (c := record_key(r, "customer_id"))})
    have = {int(c["customer_id"]) for c in store.rows_in(staging_table, "customer_id", ids)} if ids else set()
    return fetch_customers(revio, [i for i in ids if i not in have])
