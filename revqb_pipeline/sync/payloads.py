"""Built QBO payloads in the staging database (``qbo_payloads``), exact JSON with Decimal amounts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.staging.store import StagingStore


def save_payloads(store: StagingStore, rows: list[dict[str, Any]]) -> int:
    """Store payload rows (``source_type, source_id, qbo_entity, partition_key, business_key, payload``)."""
    return store.save_payloads(
        [
            {
                "source_type": r["source_type"],
                "source_id": str(r["source_id"]),
                "qbo_entity": r["qbo_entity"],
                "partition_key": r.get("partition_key"),
                "business_key": r.get("business_key"),
                "payload_json": jsonutil.dumps(r["payload"]),
                "payload_hash": payload_hash(r["payload"]),
            }
            for r in rows
        ]
    )


def load_payloads(
    store: StagingStore, source_type: str, partition_keys: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Stored payload rows with the body decoded under ``payload``."""
    return [
        {**row, "payload": jsonutil.loads(row["payload_json"])}
        for row in store.payloads(source_type, partition_keys)
    ]
