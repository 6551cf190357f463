"""SqlTokenStore: the OAuth TokenStore persisted in ``oauth_tokens``, encrypted at rest.

Token values are Fernet-encrypted (``cryptography``) with the key(s) of ``REVQB_TOKEN_KEY``: comma-separated,
the first encrypts and all decrypt (:class:`~cryptography.fernet.MultiFernet`), so rotating means "prepend a
new key, run :meth:`SqlTokenStore.rotate` (``revqb tokens rotate``), drop the old key". Without
``REVQB_TOKEN_KEY`` a key is generated once into a 0600 file (``token.key`` next to a SQLite database, else
``.revqb/token.key``): a local default, never plain text. Rows written before encryption (plain text) are
encrypted on first read. Token values are never logged nor put in error messages.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Connection, Engine

from revqb_pipeline.models.tokens import OAuthTokens
from revqb_pipeline.staging._sql import upsert_statement
from revqb_pipeline.staging.db import oauth_tokens, utcnow, write_begin

PREFIX = "fernet:"  # marks an encrypted value; anything else is a legacy plain-text row
KEY_FILE_NAME = "token.key"
REFRESH_LEASE_S = 180.0  # longer than a refresh with its retries (30 s timeout, 3 retries) may take
LEASE_POLL_S = 0.05
_TOKEN_COLUMNS = ("access_token", "refresh_token", "access_expires_at", "refresh_expires_at", "updated_at")


class TokenStoreError(RuntimeError):
    """Reading or writing tokens failed (the message never contains token values)."""


class TokenKeyError(TokenStoreError):
    """The encryption key is unusable or does not open the stored tokens: a configuration error."""


def _reason(exc: sa.exc.StatementError) -> str:
    return type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__


def default_key_file(engine: Engine) -> Path:
    """Where the generated local key lives: next to a SQLite database file, else ``.revqb/token.key``."""
    url = engine.url
    db = url.database or ""
    if url.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        return Path(db).expanduser().resolve().parent / KEY_FILE_NAME
    return Path(".revqb") / KEY_FILE_NAME


def _read_or_create_key_file(path: Path) -> str:
    """The key in ``path``, generated (mode 0600, created exclusively) when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise TokenKeyError(
            f"REVQB_TOKEN_KEY: the key file {path} is empty; delete it or set REVQB_TOKEN_KEY"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode() + "\n")
    return path.read_text().strip()


def token_cipher(token_key: str, engine: Engine) -> MultiFernet:
    """The cipher for ``REVQB_TOKEN_KEY`` (comma-separated Fernet keys), or for the local key file."""
    keys = [k.strip() for k in token_key.split(",") if k.strip()]
    source = "REVQB_TOKEN_KEY"
    if not keys:
        path = default_key_file(engine)
        keys = [_read_or_create_key_file(path)]
        source = f"REVQB_TOKEN_KEY (unset; key file {path})"
    fernets = []
    for n, key in enumerate(keys, 1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise TokenKeyError(
                f"{source}: key {n} is not a Fernet key (32 url-safe base64 bytes; make one with "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
            ) from None
    return MultiFernet(fernets)


def seed_fingerprint(refresh_token: str) -> str:
    """A one-way fingerprint of a configured refresh token (tells whether QBO_REFRESH_TOKEN changed)."""
    return hashlib.sha256(f"revqb-seed:{refresh_token}".encode()).hexdigest()


class SqlTokenStore:
    """Latest tokens per QBO realm; ``save`` is one atomic upsert so a rotated refresh token is never lost."""

    def __init__(
        self, engine: Engine, token_key: str = "", *, refresh_lease_s: float = REFRESH_LEASE_S
    ) -> None:
        self.engine = engine
        self._cipher = token_cipher(token_key, engine)
        self.refresh_lease_s = refresh_lease_s

    def __repr__(self) -> str:
        return f"SqlTokenStore({self.engine.url.render_as_string(hide_password=True)})"

    # ------------------------------------------------------------------ encryption

    def _encrypt(self, value: str) -> str:
        return PREFIX + self._cipher.encrypt(value.encode()).decode() if value else ""

    def _decrypt(self, value: str | None, realm_id: str) -> tuple[str, bool]:
        """The plain value and whether it was stored in plain text (legacy row)."""
        if not value:
            return "", False
        if not value.startswith(PREFIX):
            return value, True
        try:
            return self._cipher.decrypt(value[len(PREFIX) :].encode()).decode(), False
        except InvalidToken:
            raise TokenKeyError(
                f"REVQB_TOKEN_KEY: the stored QBO tokens of realm {realm_id} do not open with the configured "
                "key(s); list the previous key after the new one (comma-separated), or reconnect the app"
            ) from None

    # ------------------------------------------------------------------ TokenStore

    def load(self, realm_id: str) -> OAuthTokens | None:
        t = oauth_tokens
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.realm_id == realm_id)).first()
        if row is None:
            return None
        tokens, plain = self._tokens_of(row, realm_id)
        if plain:  # a row from before encryption: encrypt it now
            self._write(realm_id, tokens, only_if={"refresh_token": row.refresh_token})
        return tokens

    def save(self, realm_id: str, tokens: OAuthTokens) -> None:
        self._write(realm_id, tokens)

    @contextmanager
    def locked(self, realm_id: str) -> Iterator[LockedTokens]:
        """Hold the realm's tokens until the block ends: one process at a time refreshes a realm, and the one
        after it reads the rotated token instead of spending the old one.

        PostgreSQL: ``SELECT ... FOR UPDATE`` of the realm's row; saves commit with the block. SQLite: a lease
        on the row (``refresh_lock_until``, taken in a short ``BEGIN IMMEDIATE``), because holding SQLite's
        write lock over the token endpoint's answer would stall every other writer of the database; a lease
        left by a process that died expires after ``refresh_lease_s``.
        """
        if self.engine.dialect.name == "postgresql":
            t = oauth_tokens
            with write_begin(self.engine) as conn:
                conn.execute(sa.select(t.c.realm_id).where(t.c.realm_id == realm_id).with_for_update())
                yield LockedTokens(self, realm_id, conn)
            return
        owner = uuid.uuid4().hex
        self._take_lease(realm_id, owner)
        try:
            yield LockedTokens(self, realm_id)
        finally:
            self._drop_lease(realm_id, owner)

    def _take_lease(self, realm_id: str, owner: str) -> None:
        """Wait until the realm's refresh lease is free or expired, then take it (no row: nothing to hold)."""
        t = oauth_tokens
        while True:
            with write_begin(self.engine) as conn:
                row = conn.execute(sa.select(t.c.refresh_lock_until).where(t.c.realm_id == realm_id)).first()
                now = time.time()
                if row is None:
                    return
                if row.refresh_lock_until is None or row.refresh_lock_until < now:
                    conn.execute(
                        t.update()
                        .where(t.c.realm_id == realm_id)
                        .values(refresh_lock_until=now + self.refresh_lease_s, refresh_lock_owner=owner)
                    )
                    return
            time.sleep(LEASE_POLL_S)

    def _drop_lease(self, realm_id: str, owner: str) -> None:
        t = oauth_tokens
        with write_begin(self.engine) as conn:
            conn.execute(
                t.update()
                .where(t.c.realm_id == realm_id, t.c.refresh_lock_owner == owner)
                .values(refresh_lock_until=None, refresh_lock_owner=None)
            )

    def _tokens_of(self, row: Any, realm_id: str) -> tuple[OAuthTokens, bool]:
        """The decrypted tokens of a row, and whether any value was stored in plain text."""
        access, plain_a = self._decrypt(row.access_token, realm_id)
        refresh, plain_r = self._decrypt(row.refresh_token, realm_id)
        tokens = OAuthTokens(
            access_token=access,
            refresh_token=refresh,
            access_expires_at=row.access_expires_at,
            refresh_expires_at=row.refresh_expires_at,
        )
        return tokens, plain_a or plain_r

    # ------------------------------------------------------------------ seeding and rotation

    def seed(self, realm_id: str, refresh_token: str) -> bool:
        """Store ``refresh_token`` (QBO_REFRESH_TOKEN) when the realm has no tokens or the configured token
        changed since it seeded the store; True when it did. A rotated token in the store is kept otherwise.
        Rows from before fingerprints adopt the configured token's fingerprint without being replaced.
        """
        fingerprint = seed_fingerprint(refresh_token)
        t = oauth_tokens
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.c.seed_hash, t.c.refresh_token).where(t.c.realm_id == realm_id)
            ).first()
        if row is not None and row.seed_hash == fingerprint:
            return False
        if row is not None and row.seed_hash is None:
            self._set_seed(realm_id, fingerprint)
            return False
        self._write(realm_id, OAuthTokens(refresh_token=refresh_token), seed_hash=fingerprint)
        return True

    def rotate(self) -> int:
        """Re-encrypt every row with the first key of REVQB_TOKEN_KEY; the number of realms rewritten."""
        t = oauth_tokens
        with self.engine.connect() as conn:
            realms = [r.realm_id for r in conn.execute(sa.select(t.c.realm_id))]
        count = 0
        for realm_id in realms:
            tokens = self.load(realm_id)
            if tokens is not None:
                self._write(realm_id, tokens)
                count += 1
        return count

    # ------------------------------------------------------------------ SQL

    def _set_seed(self, realm_id: str, fingerprint: str) -> None:
        t = oauth_tokens
        with write_begin(self.engine) as conn:
            conn.execute(t.update().where(t.c.realm_id == realm_id).values(seed_hash=fingerprint))

    def _write(
        self,
        realm_id: str,
        tokens: OAuthTokens,
        *,
        seed_hash: str | None = None,
        only_if: dict[str, str] | None = None,
    ) -> None:
        try:
            with write_begin(self.engine) as conn:
                self._write_on(conn, realm_id, tokens, seed_hash=seed_hash, only_if=only_if)
        except sa.exc.StatementError as exc:
            # SQLAlchemy error messages include bound parameters, i.e. the tokens: re-raise without them.
            raise TokenStoreError(f"saving tokens for realm {realm_id} failed: {_reason(exc)}") from None

    def _write_on(
        self,
        conn: Connection,
        realm_id: str,
        tokens: OAuthTokens,
        *,
        seed_hash: str | None = None,
        only_if: dict[str, str] | None = None,
    ) -> None:
        row = {
            "realm_id": realm_id,
            "access_token": self._encrypt(tokens.access_token),
            "refresh_token": self._encrypt(tokens.refresh_token),
            "access_expires_at": tokens.access_expires_at,
            "refresh_expires_at": tokens.refresh_expires_at,
            "updated_at": utcnow(),
        }
        t = oauth_tokens
        if only_if is not None:  # migrate a legacy row unless another process changed it meanwhile
            cond = [t.c[k] == v for k, v in only_if.items()]
            values = {k: v for k, v in row.items() if k != "realm_id"}
            conn.execute(t.update().where(t.c.realm_id == realm_id, *cond).values(**values))
            return
        columns = list(_TOKEN_COLUMNS)
        if seed_hash is not None:
            row["seed_hash"] = seed_hash
            columns.append("seed_hash")
        stmt = upsert_statement(self.engine.dialect.name, t, ["realm_id"], update=columns)
        conn.execute(stmt, [row])


class LockedTokens:
    """One realm's tokens while :meth:`SqlTokenStore.locked` holds them (on PostgreSQL: reads and writes on
    the transaction that holds the row)."""

    def __init__(self, store: SqlTokenStore, realm_id: str, conn: Connection | None = None) -> None:
        self._store = store
        self._conn = conn
        self.realm_id = realm_id

    def load(self) -> OAuthTokens | None:
        """The tokens as they are now (read under the lock: a refresh by another process shows)."""
        if self._conn is None:
            return self._store.load(self.realm_id)
        t = oauth_tokens
        row = self._conn.execute(sa.select(t).where(t.c.realm_id == self.realm_id).with_for_update()).first()
        return None if row is None else self._store._tokens_of(row, self.realm_id)[0]

    def save(self, tokens: OAuthTokens) -> None:
        """Store rotated tokens (on PostgreSQL committed when the lock is released)."""
        if self._conn is None:
            self._store.save(self.realm_id, tokens)
            return
        try:
            self._store._write_on(self._conn, self.realm_id, tokens)
        except sa.exc.StatementError as exc:
            raise TokenStoreError(f"saving tokens for realm {self.realm_id} failed: {_reason(exc)}") from None
