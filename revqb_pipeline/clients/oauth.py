"""OAuth 2.0 refresh-token flow for one QBO realm (Intuit rotates the refresh token)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import httpx

from revqb_pipeline.clients._tls import new_http_client
from revqb_pipeline.clients.errors import OAuthError, config_error_from_transport
from revqb_pipeline.clients.retry import call_with_retries
from revqb_pipeline.models.tokens import OAuthTokens, TokenStore

__all__ = ["LockingTokenStore", "OAuthClient", "OAuthTokens", "TokenSlot", "TokenStore"]

log = logging.getLogger("revqb.oauth")

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


class TokenSlot(Protocol):
    """One realm's tokens while its refresh lock is held."""

    def load(self) -> OAuthTokens | None: ...

    def save(self, tokens: OAuthTokens) -> None: ...


@runtime_checkable
class LockingTokenStore(Protocol):
    """A TokenStore that can serialize a realm's refresh across processes (``staging/tokens.py``: a row
    lock on the realm's token row)."""

    def load(self, realm_id: str) -> OAuthTokens | None: ...

    def save(self, realm_id: str, tokens: OAuthTokens) -> None: ...

    def locked(self, realm_id: str) -> AbstractContextManager[TokenSlot]: ...


class _StoreSlot:
    """A plain TokenStore's realm as a TokenSlot (only this process's lock serializes it)."""

    def __init__(self, store: TokenStore, realm_id: str) -> None:
        self._store, self._realm = store, realm_id

    def load(self) -> OAuthTokens | None:
        return self._store.load(self._realm)

    def save(self, tokens: OAuthTokens) -> None:
        self._store.save(self._realm, tokens)


def _realm_lock(token_url: str, realm_id: str) -> threading.Lock:
    """One lock per (token endpoint, realm) in this process, shared by every OAuthClient."""
    with _locks_guard:
        return _locks.setdefault((token_url, realm_id), threading.Lock())


class OAuthClient:
    """Hands out a valid access token for ``realm_id``, refreshing (and persisting the rotated refresh
    token) when it expired or is within ``refresh_margin_s`` of expiring. Token values are never logged.

    A refresh holds the realm's lock: this process's lock, and with a :class:`LockingTokenStore` the
    store's cross-process lock too; the token is re-read under it, so a token another thread or process
    refreshed meanwhile is used instead of spending the rotated-out refresh token.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        store: TokenStore,
        realm_id: str,
        http: httpx.Client | None = None,
        *,
        refresh_margin_s: float = 300.0,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.token_url = token_url
        self.realm_id = realm_id
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._store = store
        self._http = http or new_http_client(timeout, connect_timeout)
        self._owns_http = http is None
        self._margin = timedelta(seconds=refresh_margin_s)
        self._max_retries = max_retries
        self._backoff = backoff_base_s
        self._sleep = sleep
        self._lock = _realm_lock(token_url, realm_id)
        self._cached: OAuthTokens | None = None
        self.refresh_count = 0

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # ------------------------------------------------------------------ public API

    def bootstrap(self, refresh_token: str) -> OAuthTokens:
        """Seed the store with ``refresh_token`` when it holds nothing for the realm; return what it holds."""
        with self._exclusive() as slot:
            current = slot.load()
            if current is None:
                current = OAuthTokens(refresh_token=refresh_token)
                slot.save(current)
            self._cached = current
            return current

    def access_token(self) -> str:
        """A usable access token (refreshed first when expired or about to expire)."""
        cached = self._cached
        if cached is not None and cached.access_valid(margin=self._margin):
            return cached.access_token
        current = self._store.load(self.realm_id)  # another worker may have refreshed already
        if current is not None and current.access_valid(margin=self._margin):
            self._cached = current
            return current.access_token
        with self._exclusive() as slot:
            current = slot.load()  # re-read under the lock
            if current is not None and current.access_valid(margin=self._margin):
                self._cached = current
                return current.access_token
            return self._refresh_locked(slot, current).access_token

    def refresh(self, stale_access_token: str | None = None) -> OAuthTokens:
        """Refresh now and persist the rotated tokens.

        With ``stale_access_token`` (the token a 401 rejected), skip the refresh when another caller has
        already replaced that token with a valid one.
        """
        with self._exclusive() as slot:
            current = slot.load()
            if (
                stale_access_token is not None
                and current is not None
                and current.access_token
                and current.access_token != stale_access_token
                and current.access_valid(margin=timedelta(0))
            ):
                self._cached = current
                return current
            return self._refresh_locked(slot, current)

    def invalidate(self) -> None:
        """Forget the in-memory token (the next call re-reads the store)."""
        self._cached = None

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _exclusive(self) -> Iterator[TokenSlot]:
        """The realm's tokens under this process's lock and the store's cross-process lock, if it has one."""
        with self._lock:
            if isinstance(self._store, LockingTokenStore):
                with self._store.locked(self.realm_id) as slot:
                    yield slot
            else:
                yield _StoreSlot(self._store, self.realm_id)

    def _refresh_locked(self, slot: TokenSlot, current: OAuthTokens | None) -> OAuthTokens:
        if current is None or not current.refresh_token:
            raise OAuthError(
                "no_tokens", f"no refresh token stored for realm {self.realm_id}; bootstrap first"
            )
        try:
            tokens = self._post_refresh(current)
        except OAuthError as exc:
            if exc.error != "invalid_grant":
                raise
            # A process not sharing the lock may have rotated the token since we read it: re-load once.
            reloaded = slot.load()
            if reloaded is None or reloaded.refresh_token == current.refresh_token:
                log.error("refresh token rejected for realm %s (invalid_grant): re-authorise", self.realm_id)
                raise
            if reloaded.access_valid(margin=self._margin):
                self._cached = reloaded
                return reloaded
            tokens = self._post_refresh(reloaded)
        slot.save(tokens)
        self._cached = tokens
        self.refresh_count += 1
        log.info("refreshed access token for realm %s", self.realm_id)
        return tokens

    def _post_refresh(self, current: OAuthTokens) -> OAuthTokens:
        """POST the refresh grant; transient failures (network, 429, 5xx) are retried, nothing else."""
        data = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}

        def attempt() -> OAuthTokens:
            try:
                resp = self._http.post(
                    self.token_url, data=data, auth=self._auth, headers={"Accept": "application/json"}
                )
            except httpx.TransportError as exc:
                config = config_error_from_transport(exc, "QBO_TOKEN_URL", self.token_url)
                if config is not None:
                    raise config from None
                raise OAuthError("transport_error", type(exc).__name__) from exc
            if resp.status_code == 200:
                return self._parse_tokens(resp, current)
            raise self._parse_error(resp)

        return call_with_retries(
            attempt,
            retries=self._max_retries,
            retryable=lambda e: isinstance(e, OAuthError) and e.transient,
            base_s=self._backoff,
            sleep=self._sleep,
            label=f"token refresh for realm {self.realm_id}",
            logger=log,
        )

    def _parse_tokens(self, resp: httpx.Response, current: OAuthTokens) -> OAuthTokens:
        try:
            body = resp.json()
            access = str(body["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise OAuthError(
                "invalid_response", "token endpoint answered 200 without an access_token"
            ) from exc
        now = datetime.now(UTC)
        refresh_expires = current.refresh_expires_at
        if body.get("x_refresh_token_expires_in") is not None:
            refresh_expires = now + timedelta(seconds=float(body["x_refresh_token_expires_in"]))
        return OAuthTokens(
            access_token=access,
            refresh_token=str(body.get("refresh_token") or current.refresh_token),
            access_expires_at=now + timedelta(seconds=float(body.get("expires_in", 3600))),
            refresh_expires_at=refresh_expires,
        )

    @staticmethod
    def _parse_error(resp: httpx.Response) -> OAuthError:
        tid = resp.headers.get("intuit_tid")
        try:
            body = json.loads(resp.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):
            return OAuthError(
                str(body["error"]), str(body.get("error_description") or ""), resp.status_code, tid
            )
        if resp.status_code == 401:
            return OAuthError("invalid_client", "client authentication failed", 401, tid)
        return OAuthError(f"http_{resp.status_code}", resp.reason_phrase, resp.status_code, tid)
