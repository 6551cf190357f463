"""SqlTokenStore (SQLite + PostgreSQL): round trip, rotated refresh token, no token values in errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from revqb_pipeline.models.tokens import OAuthTokens, TokenStore
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.tokens import SqlTokenStore, TokenStoreError


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    create_schema(eng)
    yield eng
    eng.dispose()


def test_round_trip_and_rotation(engine: sa.Engine, db_url: str) -> None:
    store: TokenStore = SqlTokenStore(engine)
    assert store.load("realm-1") is None
    expires = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    first = OAuthTokens(access_token="a1", refresh_token="r1", access_expires_at=expires)
    store.save("realm-1", first)
    loaded = store.load("realm-1")
    assert loaded == first
    assert loaded is not None and loaded.access_expires_at.tzinfo is not None
    assert loaded.refresh_expires_at is None

    rotated = OAuthTokens(
        access_token="a2",
        refresh_token="r2",
        access_expires_at=datetime(2026, 3, 1, 18, 0, tzinfo=UTC),
        refresh_expires_at=datetime(2026, 6, 1, tzinfo=UTC),
    )
    store.save("realm-1", rotated)
    other = make_engine(db_url)  # another process sees the rotated refresh token
    try:
        assert SqlTokenStore(other).load("realm-1") == rotated
    finally:
        other.dispose()
    assert store.load("realm-2") is None


def test_errors_do_not_leak_tokens(engine: sa.Engine) -> None:
    store = SqlTokenStore(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("drop table oauth_tokens"))
    secret = OAuthTokens(access_token="SECRET-ACCESS", refresh_token="SECRET-REFRESH")
    with pytest.raises(TokenStoreError) as info:
        store.save("realm-1", secret)
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!r}"
    assert "SECRET" not in text and "realm-1" in text
    assert "SECRET" not in repr(store)
