"""A scratch copy of the staging database: what a dry run stages, queues and records, instead of the real one.

The copy is a SQLite file holding every table registered on the schema's metadata (staging tables,
payloads, the ledger and its events, cursors, ...) except the OAuth tokens and the rate-limit state,
whichever backend the source is (SQLite or PostgreSQL). The source is only read.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging.db import create_schema, make_engine, metadata, oauth_tokens

COPY_CHUNK = 5_000
#: Tables never copied: the encrypted OAuth tokens and the shared QBO rate-limit windows stay in the real
#: database only (a dry run's reads still count against QBO's limits there).
NOT_COPIED = frozenset({oauth_tokens.name, "rate_limit_buckets", "rate_limit_slots"})


def scratch_copy(source: Engine, path: Path) -> Engine:
    """A new SQLite database at ``path`` (must not exist) with the schema and every row of ``source``."""
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = make_engine(f"sqlite:///{path}")
    create_schema(target)
    with source.connect() as src, target.begin() as dst:
        for table in metadata.sorted_tables:
            if table.name in NOT_COPIED or table.name == "schema_version":
                continue
            result = src.execution_options(stream_results=True).execute(sa.select(table))
            while rows := result.mappings().fetchmany(COPY_CHUNK):
                dst.execute(table.insert(), [dict(r) for r in rows])
    return target
