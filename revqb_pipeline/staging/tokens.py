"""SqlTokenStore: the OAuth TokenStore persisted in ``oauth_tokens`` (token values are never logged)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.models.tokens import OAuthTokens
from revqb_pipeline.staging._sql import upsert_statement
from revqb_pipeline.staging.db import oauth_tokens, utcnow, write_begin


class TokenStoreError(RuntimeError):
    """Reading or writing tokens failed (the message never contains token values)."""


def _reason(exc: sa.exc.StatementError) -> str:
    return type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__


class SqlTokenStore:
    """Latest tokens per QBO realm; ``save`` is one atomic upsert so a rotated refresh token is never lost."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __repr__(self) -> str:
        return f"SqlTokenStore({self.engine.url.render_as_string(hide_password=True)})"

    def load(self, realm_id: str) -> OAuthTokens | None:
        t = oauth_tokens
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.realm_id == realm_id)).first()
        if row is None:
            return None
        return OAuthTokens(
            access_token=row.access_token or "",
            refresh_token=row.refresh_token,
            access_expires_at=row.access_expires_at,
            refresh_expires_at=row.refresh_expires_at,
        )

    def save(self, realm_id: str, tokens: OAuthTokens) -> None:
        stmt = upsert_statement(self.engine.dialect.name, oauth_tokens, ["realm_id"])
        row = {
            "realm_id": realm_id,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "access_expires_at": tokens.access_expires_at,
            "refresh_expires_at": tokens.refresh_expires_at,
            "updated_at": utcnow(),
        }
        try:
            with write_begin(self.engine) as conn:
                conn.execute(stmt, [row])
        except sa.exc.StatementError as exc:
            # SQLAlchemy error messages include bound parameters, i.e. the tokens: re-raise without them.
            raise TokenStoreError(f"saving tokens for realm {realm_id} failed: {_reason(exc)}") from None
