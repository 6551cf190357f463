"""The tenant's first Rev.io activity: the day its daily partitions start when ``REVQB_START_DATE`` is unset.

``record_first_activity`` reads it from Rev.io (the oldest record of each watched resource, sorted by
``created_date``: one short page per resource) and stores it in the staging DB's ``sync_cursors`` under
:data:`FIRST_ACTIVITY_CURSOR`, once; ``revqb check``, ``revqb sync`` and the change sensor call it.
``recorded_first_activity`` reads it back at definitions load (no Rev.io call; a SQLite file that is not
there is not created).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy.engine import make_url

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.staging.store import StagingStore

log = logging.getLogger(__name__)

FIRST_ACTIVITY_CURSOR = "revio:first_activity_date"
#: Where the search for the oldest record starts (Rev.io filters need a lower bound).
EPOCH = datetime(2000, 1, 1)


def first_activity_date(revio: RevioClient, resources: Iterable[str]) -> date | None:
    """The day of the oldest record among ``resources`` (e.g. Bills, Payments, Credits), None if none."""
    days: list[str] = []
    saved = revio.page_size
    revio.page_size = 1
    try:
        for resource in resources:
            for record in revio.iter_records(resource, {"created_date_start": EPOCH}, sort="created_date"):
                if day := str(record.get("created_date") or "")[:10]:
                    days.append(day)
                    break
    finally:
        revio.page_size = saved
    return date.fromisoformat(min(days)) if days else None


def record_first_activity(store: StagingStore, revio: RevioClient, resources: Iterable[str]) -> str | None:
    """The recorded first activity day (``YYYY-MM-DD``); read from Rev.io and recorded when not yet
    stored (a tenant without any record: None, nothing stored)."""
    stored = store.get_cursor(FIRST_ACTIVITY_CURSOR)
    if stored:
        return stored
    first = first_activity_date(revio, resources)
    if first is None:
        return None
    store.set_cursor(FIRST_ACTIVITY_CURSOR, first.isoformat())
    return first.isoformat()


def recorded_first_activity(db_url: str) -> str | None:
    """The first activity day recorded in the staging DB at ``db_url``; None when nothing is recorded,
    the SQLite file does not exist, or the DB cannot be read (logged; PostgreSQL gives up after 5 s)."""
    from revqb_pipeline.staging.db import make_engine

    try:
        url = make_url(db_url)
        if url.get_backend_name() == "sqlite" and not (url.database and _exists(url.database)):
            return None
        engine = make_engine(db_url)
        try:
            return StagingStore(engine).get_cursor(FIRST_ACTIVITY_CURSOR)
        finally:
            engine.dispose()
    except Exception as exc:  # no schema yet, unreachable server, bad URL: the start date is unknown
        log.warning("first Rev.io activity not read from the staging DB: %s", str(exc).splitlines()[0][:200])
        return None


def _exists(database: str) -> bool:
    from pathlib import Path

    return (
        database != ":memory:" and not database.startswith("file:") and Path(database).expanduser().is_file()
    )
