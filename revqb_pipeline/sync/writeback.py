"""Recording QBO ids back on Rev.io records (custom fields), skipping those that already carry them."""

from __future__ import annotations

import json
import logging
from typing import Any

from revqb_pipeline.clients.errors import ApiError
from revqb_pipeline.clients.revio import RevioClient

log = logging.getLogger("revqb.sync")

INVOICE_ID_FIELD = "QBO Invoice Id"


def current_field(raw_json: str | None, label: str) -> tuple[int | None, str | None]:
    """(index, value) of custom field ``label`` on a raw Rev.io record; (None, None) when absent."""
    if not raw_json:
        return None, None
    for index, f in enumerate(json.loads(raw_json).get("fields") or []):
        if isinstance(f, dict) and f.get("label") == label:
            value = f.get("value")
            return index, None if value in (None, "") else str(value)
    return None, None


def write_back_ids(
    revio: RevioClient,
    resource: str,
    label: str,
    rows: list[dict[str, Any]],
    pk: str,
    qbo_ids: dict[str, str],
) -> dict[str, int]:
    """PATCH ``label`` = QBO id on each staged record whose field differs; failures are logged, not raised."""
    counts = {"written": 0, "already_set": 0, "failed": 0}
    for row in rows:
        sid = str(row[pk])
        qbo_id = qbo_ids.get(sid)
        if not qbo_id:
            continue
        index, value = current_field(row.get("raw_json"), label)
        if value == qbo_id:
            counts["already_set"] += 1
            continue
        try:
            revio.set_custom_field(resource, int(sid), label, qbo_id, known_index=index)
            counts["written"] += 1
        except ApiError as exc:
            log.warning("could not write %s=%s back to Rev.io %s %s: %s", label, qbo_id, resource, sid, exc)
            counts["failed"] += 1
    return counts
