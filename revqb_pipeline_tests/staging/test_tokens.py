"""SqlTokenStore (SQLite + PostgreSQL): round trip, rotated refresh token, no token values in errors;
tokens encrypted at rest, key rotation, legacy plain-text rows, the local key file, re-seeding."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from revqb_pipeline.models.tokens import OAuthTokens, TokenStore
from revqb_pipeline.staging.db import create_schema, make_engine, oauth_tokens
from revqb_pipeline.staging.tokens import SqlTokenStore, TokenKeyError, TokenStoreError


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


# --------------------------------------------------------------------------- encryption at rest

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
REFRESH = "RT1-very-secret-refresh-token-value"
ACCESS = "eyJ-very-secret-access-token-value"


def _raw_rows(engine: sa.Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(sa.text("select access_token, refresh_token from oauth_tokens"))
        ]


def _tokens() -> OAuthTokens:
    return OAuthTokens(
        access_token=ACCESS, refresh_token=REFRESH, access_expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )


def test_tokens_are_encrypted_at_rest(engine: sa.Engine, db_url: str) -> None:
    store = SqlTokenStore(engine, KEY_A)
    store.save("realm-1", _tokens())
    rows = _raw_rows(engine)
    assert rows and all(v.startswith("fernet:") for row in rows for v in row)
    assert all(REFRESH not in v and ACCESS not in v for row in rows for v in row)
    assert store.load("realm-1") == _tokens()
    if db_url.startswith("sqlite"):  # not even in the database file (WAL included)
        folder = Path(sa.engine.make_url(db_url).database or "").parent
        blob = b"".join(p.read_bytes() for p in folder.glob("revqb.db*"))
        assert REFRESH.encode() not in blob and ACCESS.encode() not in blob
    with pytest.raises(TokenKeyError, match="REVQB_TOKEN_KEY"):
        SqlTokenStore(engine, KEY_B).load("realm-1")  # the wrong key: a clear configuration error


def test_rotation_to_a_new_key_keeps_tokens_readable(engine: sa.Engine) -> None:
    SqlTokenStore(engine, KEY_A).save("realm-1", _tokens())
    SqlTokenStore(engine, KEY_A).save("realm-2", _tokens())
    before = _raw_rows(engine)
    # 1. prepend the new key; 2. rotate (re-encrypt with the first key); 3. drop the old key
    assert SqlTokenStore(engine, f"{KEY_B},{KEY_A}").rotate() == 2
    assert _raw_rows(engine) != before
    new_only = SqlTokenStore(engine, KEY_B)
    assert new_only.load("realm-1") == _tokens() and new_only.load("realm-2") == _tokens()
    with pytest.raises(TokenKeyError):
        SqlTokenStore(engine, KEY_A).load("realm-1")


def test_plain_text_rows_are_encrypted_on_first_read(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            oauth_tokens.insert().values(
                realm_id="realm-1",
                access_token=ACCESS,
                refresh_token=REFRESH,
                access_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
                updated_at=datetime.now(UTC),
            )
        )
    assert SqlTokenStore(engine, KEY_A).load("realm-1") == _tokens()
    assert all(v.startswith("fernet:") for row in _raw_rows(engine) for v in row)
    assert SqlTokenStore(engine, KEY_A).load("realm-1") == _tokens()


def test_without_a_key_a_private_key_file_is_generated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'revqb.db'}")
    create_schema(engine)
    try:
        SqlTokenStore(engine).save("realm-1", _tokens())
        key_file = tmp_path / "db" / "token.key"
        assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert all(v.startswith("fernet:") for row in _raw_rows(engine) for v in row)
        assert SqlTokenStore(engine).load("realm-1") == _tokens()  # same key next time
        assert SqlTokenStore(engine, key_file.read_text().strip()).load("realm-1") == _tokens()
    finally:
        engine.dispose()
    with pytest.raises(TokenKeyError, match="REVQB_TOKEN_KEY: key 1 is not a Fernet key"):
        SqlTokenStore(engine, "not-a-key")


def test_a_new_configured_refresh_token_reseeds_the_store(engine: sa.Engine) -> None:
    store = SqlTokenStore(engine, KEY_A)
    assert store.seed("realm-1", "RT-initial")
    rotated = OAuthTokens(
        access_token="a", refresh_token="RT-rotated", access_expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    store.save("realm-1", rotated)
    assert not store.seed("realm-1", "RT-initial")  # the same configured token: keep the rotated one
    assert store.load("realm-1") == rotated
    assert store.seed("realm-1", "RT-reconnected")  # the app was reconnected: the new token wins
    loaded = store.load("realm-1")
    assert loaded is not None and loaded.refresh_token == "RT-reconnected" and not loaded.access_token


def test_token_values_are_not_in_repr() -> None:
    text = f"{_tokens()!r} {_tokens()!s}"
    assert REFRESH not in text and ACCESS not in text
