"""OAuthClient against a minimal rotating token endpoint served over real HTTP (no sandbox needed)."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from revqb_pipeline.clients.errors import OAuthError
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.models.tokens import MemoryTokenStore, OAuthTokens
from revqb_sandbox.harness import serve_app

CLIENT_ID, CLIENT_SECRET, REALM = "cid", "csecret", "r1"


@dataclass
class TokenServer:
    """Rotates the refresh token on every refresh; the previous one dies at once."""

    valid: set[str] = field(default_factory=lambda: {"rt-0"})
    calls: int = 0
    n: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_next: int = 0

    async def token(self, request: Request) -> JSONResponse:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        await asyncio.sleep(0.05)  # widen the race window for concurrent refreshes
        with self.lock:
            self.calls += 1
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"error": "server_error"}, status_code=503)
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in self.valid:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"},
                    status_code=400,
                )
            self.valid.discard(str(form["refresh_token"]))
            self.n += 1
            new = f"rt-{self.n}"
            self.valid.add(new)
            body = {
                "token_type": "bearer",
                "access_token": f"at-{self.n}",
                "expires_in": 3600,
                "refresh_token": new,
                "x_refresh_token_expires_in": 8726400,
            }
            return JSONResponse(body)


@pytest.fixture
def server() -> Iterator[tuple[TokenServer, str]]:
    ts = TokenServer()
    served = serve_app(Starlette(routes=[Route("/oauth2/v1/tokens/bearer", ts.token, methods=["POST"])]))
    yield ts, f"{served.url}/oauth2/v1/tokens/bearer"
    served.stop()


def _client(url: str, store: MemoryTokenStore, **kw: object) -> OAuthClient:
    return OAuthClient(url, CLIENT_ID, CLIENT_SECRET, store, REALM, sleep=lambda s: None, **kw)  # type: ignore[arg-type]


def test_bootstrap_then_refresh_persists_rotated_token(server: tuple[TokenServer, str]) -> None:
    ts, url = server
    store = MemoryTokenStore()
    oauth = _client(url, store)
    oauth.bootstrap("rt-0")
    assert oauth.bootstrap("ignored").refresh_token == "rt-0"  # does not overwrite
    assert oauth.access_token() == "at-1"
    saved = store.load(REALM)
    assert saved is not None and saved.refresh_token == "rt-1" and saved.access_token == "at-1"
    assert saved.refresh_expires_at is not None and saved.refresh_expires_at > datetime.now(UTC) + timedelta(
        days=99
    )
    assert oauth.access_token() == "at-1" and ts.calls == 1  # cached, no new refresh
    tokens = oauth.refresh()
    assert tokens.refresh_token == "rt-2" and store.load(REALM).refresh_token == "rt-2"  # type: ignore[union-attr]


def test_expiring_token_is_refreshed_proactively(server: tuple[TokenServer, str]) -> None:
    ts, url = server
    soon = datetime.now(UTC) + timedelta(seconds=30)
    store = MemoryTokenStore(
        {REALM: OAuthTokens(access_token="old", refresh_token="rt-0", access_expires_at=soon)}
    )
    oauth = _client(url, store, refresh_margin_s=60)
    assert oauth.access_token() == "at-1"
    assert ts.calls == 1


def test_concurrent_callers_refresh_once(server: tuple[TokenServer, str]) -> None:
    ts, url = server
    store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    clients = [_client(url, store) for _ in range(4)]  # separate clients share the per-realm lock
    results: list[str] = []

    def go(c: OAuthClient) -> None:
        results.append(c.access_token())

    threads = [threading.Thread(target=go, args=(clients[i % 4],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ts.calls == 1
    assert set(results) == {"at-1"}


def test_stale_access_token_refresh_is_skipped_when_someone_else_refreshed(
    server: tuple[TokenServer, str],
) -> None:
    ts, url = server
    store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    a, b = _client(url, store), _client(url, store)
    first = a.access_token()
    a.refresh(stale_access_token=first)  # rotates: at-2
    assert b.refresh(stale_access_token=first).access_token == "at-2"  # b's 401 token was already replaced
    assert ts.calls == 2


def test_invalid_grant_reloads_store_once(server: tuple[TokenServer, str]) -> None:
    ts, url = server
    store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    other_worker_store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    mine = _client(url, store)
    # another process rotates rt-0 -> rt-1 and writes it to the shared store afterwards
    theirs = _client(url, other_worker_store)
    theirs.refresh()

    class SharedLater(MemoryTokenStore):
        """Returns our stale copy first, the other worker's rotated tokens on the re-load."""

        def __init__(self) -> None:
            super().__init__()
            self.loads = 0

        def load(self, realm_id: str) -> OAuthTokens | None:
            self.loads += 1
            src = store if self.loads == 1 else other_worker_store
            return src.load(realm_id)

    shared = SharedLater()
    late = _client(url, shared)
    # the reloaded access token is valid, so no second refresh is needed
    assert late.refresh().access_token == "at-1"
    assert ts.calls == 2  # theirs (ok) + late's rejected rt-0; no third call

    # with nothing newer in the store, invalid_grant means re-authorise
    with pytest.raises(OAuthError) as info:
        mine.refresh()
    assert info.value.error == "invalid_grant" and info.value.needs_reauth
    assert "rt-" not in str(info.value)


def test_bad_client_secret_and_empty_store(server: tuple[TokenServer, str]) -> None:
    _, url = server
    store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    bad = OAuthClient(url, CLIENT_ID, "wrong", store, REALM)
    with pytest.raises(OAuthError) as info:
        bad.access_token()
    assert info.value.error == "invalid_client" and info.value.needs_reauth
    with pytest.raises(OAuthError) as empty:
        _client(url, MemoryTokenStore()).access_token()
    assert empty.value.error == "no_tokens"


def test_transient_token_endpoint_errors_are_retried(server: tuple[TokenServer, str]) -> None:
    ts, url = server
    ts.fail_next = 2
    store = MemoryTokenStore({REALM: OAuthTokens(refresh_token="rt-0")})
    assert _client(url, store).access_token() == "at-1"
    assert ts.calls == 3
