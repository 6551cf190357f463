"""SqlTokenStore.locked: one holder per realm across stores (as across processes); dead leases end."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from revqb_pipeline.models.tokens import OAuthTokens
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.tokens import SqlTokenStore

KEY = Fernet.generate_key().decode()
REALM = "4620816365"


def _stores(db_url: str, **kw: float) -> tuple[SqlTokenStore, SqlTokenStore]:
    """Two stores on two engines, as two processes would have."""
    stores = []
    for _ in range(2):
        engine = make_engine(db_url)
        create_schema(engine)
        stores.append(SqlTokenStore(engine, KEY, **kw))
    stores[0].seed(REALM, "rt-0")
    return stores[0], stores[1]


def test_the_second_holder_waits_and_reads_the_first_ones_rotated_token(db_url: str) -> None:
    first, second = _stores(db_url)
    rotated = OAuthTokens(
        access_token="at-1", refresh_token="rt-1", access_expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    seen: list[OAuthTokens | None] = []
    holding = threading.Event()

    def other() -> None:
        holding.wait(5)
        started = time.monotonic()
        with second.locked(REALM) as slot:
            seen.append(slot.load())
        seen.append(time.monotonic() - started)  # type: ignore[arg-type]

    thread = threading.Thread(target=other)
    thread.start()
    with first.locked(REALM) as slot:
        assert slot.load().refresh_token == "rt-0"  # type: ignore[union-attr]
        holding.set()
        time.sleep(0.4)  # the token endpoint answering
        slot.save(rotated)
    thread.join(10)
    tokens, waited = seen
    assert tokens is not None and tokens.refresh_token == "rt-1" and tokens.access_token == "at-1"
    assert waited >= 0.3  # type: ignore[operator]
    assert first.load(REALM).refresh_token == "rt-1"  # type: ignore[union-attr]


def test_a_lease_left_by_a_dead_process_expires(sqlite_url: str) -> None:
    dead, alive = _stores(sqlite_url, refresh_lease_s=0.3)
    dead._take_lease(REALM, "dead-process")  # taken, never dropped
    started = time.monotonic()
    with alive.locked(REALM) as slot:
        assert slot.load() is not None
    assert time.monotonic() - started >= 0.25
