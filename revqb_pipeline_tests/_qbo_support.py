"""Helpers of the QBO sandbox contract tests (real HTTP on loopback); conftest exposes ``qbo`` and
``qbo_client``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.ratelimit import QBORateLimiter
from revqb_pipeline.models.tokens import MemoryTokenStore
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.common import dumps
from revqb_sandbox.qbo.settings import QBOSandboxSettings

REALM = "9341455130166501"
RELAXED = {
    "per_second": 100_000,
    "per_minute": 1_000_000,
    "batch_per_minute": 100_000,
    "max_concurrent": 1000,
}


def basic_auth(settings: QBOSandboxSettings) -> str:
    raw = f"{settings.client_id}:{settings.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class QBO:
    """A tiny client: one realm, a bearer token, Decimal JSON parsing."""

    def __init__(self, served: ServedApp, settings: QBOSandboxSettings, realm: str = REALM) -> None:
        self.url = served.url
        self.settings = settings
        self.realm = realm
        self.refresh_token = settings.initial_refresh_token
        self.http = httpx.Client(timeout=10)
        self.access_token = ""
        self.refresh()

    def refresh(self) -> httpx.Response:
        r = self.token({"grant_type": "refresh_token", "refresh_token": self.refresh_token})
        if r.status_code == 200:
            self.access_token = r.json()["access_token"]
            self.refresh_token = r.json()["refresh_token"]
        return r

    def token(self, form: dict[str, str], auth: str | None = None) -> httpx.Response:
        headers = {"Authorization": auth or basic_auth(self.settings), "Accept": "application/json"}
        return self.http.post(f"{self.url}/oauth2/v1/tokens/bearer", data=form, headers=headers)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        params = {"minorversion": "75", **kwargs.pop("params", {})}
        url = f"{self.url}/v3/company/{self.realm}/{path.lstrip('/')}"
        return self.http.request(method, url, headers=headers, params=params, **kwargs)

    def post(self, path: str, body: Any, **params: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else dumps(body)
        headers = {"Content-Type": "application/json"}
        return self.request("POST", path, content=content, params=params, headers=headers)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.request("GET", path, params=params)

    def query(self, text: str) -> dict[str, Any]:
        r = self.request("POST", "query", content=text.encode(), headers={"Content-Type": "application/text"})
        assert r.status_code == 200, r.text
        return dict(data(r)["QueryResponse"])

    def create(self, entity: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        r = self.post(entity.lower(), body, **params)
        assert r.status_code == 200, r.text
        return dict(data(r)[entity])

    def read(self, entity: str, obj_id: str) -> dict[str, Any]:
        r = self.get(f"{entity.lower()}/{obj_id}")
        assert r.status_code == 200, r.text
        return dict(data(r)[entity])

    def admin(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(f"{self.url}/_admin/{path}", json=body)

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.url}/_admin/stats").json()["realms"][self.realm])


def data(r: httpx.Response) -> dict[str, Any]:
    """Response JSON with Decimal floats."""
    return dict(json.loads(r.text, parse_float=Decimal))


def fault_code(r: httpx.Response) -> str:
    """The first Fault error code (asserting the QBO Fault shape)."""
    body = data(r)
    assert set(body) == {"Fault", "time"}, body
    err = body["Fault"]["Error"][0]
    assert {"Message", "Detail", "code"} <= set(err)
    assert isinstance(err["code"], str)
    return str(err["code"])


@contextmanager
def sandbox(**overrides: Any) -> Iterator[tuple[QBO, QBOSandboxSettings]]:
    """Serve a sandbox with ``overrides`` and yield a logged-in client."""
    settings = QBOSandboxSettings(**(RELAXED | overrides))
    served = serve_app(create_app(settings))
    try:
        yield QBO(served, settings), settings
    finally:
        served.stop()


def line(amount: str, item: str = "1", **detail: Any) -> dict[str, Any]:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": Decimal(amount),
        "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail},
    }


def invoice(qbo: QBO, customer: str, amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    return qbo.create("Invoice", {"CustomerRef": {"value": customer}, "Line": [line(amount)], **extra})


def customer(qbo: QBO, name: str, **extra: Any) -> dict[str, Any]:
    return qbo.create("Customer", {"DisplayName": name, **extra})


@contextmanager
def served_empty_realm() -> Iterator[tuple[ServedApp, QBOSandboxSettings]]:
    """A QBO sandbox with reference data only, relaxed limits (a module fixture's body)."""
    settings = QBOSandboxSettings(**RELAXED, empty=True)
    app = serve_app(create_app(settings))
    try:
        yield app, settings
    finally:
        app.stop()


@contextmanager
def fresh_client(app: ServedApp, settings: QBOSandboxSettings) -> Iterator[tuple[QBOClient, OAuthClient]]:
    """Reset the realm (and its faults) and yield revqb's own QBO client logged in to it, with its OAuth."""
    httpx.post(f"{app.url}/_admin/reset").raise_for_status()
    httpx.post(f"{app.url}/_admin/faults", json=[]).raise_for_status()
    oauth = OAuthClient(
        f"{app.url}/oauth2/v1/tokens/bearer",
        settings.client_id,
        settings.client_secret,
        MemoryTokenStore(),
        settings.realm_id,
    )
    oauth.bootstrap(settings.initial_refresh_token)
    client = QBOClient(app.url, settings.realm_id, oauth, limiter=QBORateLimiter(), backoff_base_s=0.01)
    try:
        yield client, oauth
    finally:
        client.close()
        oauth.close()


def requests_sent(client: QBOClient) -> int:
    """The requests the sandbox has answered for ``client``'s realm (its ``/_admin/stats``)."""
    stats = httpx.get(f"{client.base_url}/_admin/stats").json()
    return int(stats["realms"][client.realm_id]["requests"])
