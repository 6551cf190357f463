"""OAuth 2.0 tokens for one QBO realm, and where they are persisted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field


class OAuthTokens(BaseModel):
    """An access token plus the (rotating) refresh token that replaces it (neither shown by ``repr``)."""

    access_token: str = Field("", repr=False)
    refresh_token: str = Field(repr=False)
    access_expires_at: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    refresh_expires_at: datetime | None = None

    def access_valid(self, now: datetime | None = None, margin: timedelta = timedelta(seconds=60)) -> bool:
        """True while the access token is usable for at least ``margin`` more."""
        now = now or datetime.now(UTC)
        return bool(self.access_token) and self.access_expires_at - margin > now


class TokenStore(Protocol):
    """Persists the latest tokens per realm; the refresh token rotates, so every refresh must be saved."""

    def load(self, realm_id: str) -> OAuthTokens | None: ...

    def save(self, realm_id: str, tokens: OAuthTokens) -> None: ...


class MemoryTokenStore:
    """A TokenStore kept in memory (tests and one-off scripts)."""

    def __init__(self, initial: dict[str, OAuthTokens] | None = None) -> None:
        self._tokens: dict[str, OAuthTokens] = dict(initial or {})

    def load(self, realm_id: str) -> OAuthTokens | None:
        return self._tokens.get(realm_id)

    def save(self, realm_id: str, tokens: OAuthTokens) -> None:
        self._tokens[realm_id] = tokens
