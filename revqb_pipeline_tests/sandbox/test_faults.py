"""FaultInjector / FaultMiddleware / parse_fault_spec over real HTTP (a tiny Starlette app)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from revqb_sandbox.faults import FaultInjector, FaultMiddleware, FaultRule, parse_fault_spec
from revqb_sandbox.harness import ServedApp, serve_app


class Counter:
    def __init__(self) -> None:
        self.writes = 0


def _error(status: int, rule: FaultRule) -> tuple[bytes, dict[str, str]]:
    return json.dumps({"err": status}).encode(), {"content-type": "application/json"}


@pytest.fixture
def served() -> Iterator[tuple[ServedApp, FaultInjector, Counter]]:
    counter = Counter()

    async def write(request: Request) -> JSONResponse:
        await request.body()
        counter.writes += 1
        return JSONResponse({"ok": True, "n": counter.writes})

    async def read(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/w", write, methods=["POST"]), Route("/r", read)])
    injector = FaultInjector([], seed=1)
    srv = serve_app(FaultMiddleware(app, injector, _error))
    yield srv, injector, counter
    srv.stop()


def test_http_errors_use_app_body_and_retry_after(served: tuple[ServedApp, FaultInjector, Counter]) -> None:
    srv, inj, counter = served
    inj.set_rules([FaultRule(kind="http_429", count=1, retry_after_s=7), FaultRule(kind="http_503", count=1)])
    r1 = httpx.get(srv.url + "/r")
    assert r1.status_code == 429 and r1.json() == {"err": 429} and r1.headers["retry-after"] == "7"
    r2 = httpx.post(srv.url + "/w", content=b"{}")
    assert r2.status_code == 503 and counter.writes == 0
    assert httpx.get(srv.url + "/r").status_code == 200


def test_reset_before_write_does_not_call_app(served: tuple[ServedApp, FaultInjector, Counter]) -> None:
    srv, inj, counter = served
    inj.set_rules([FaultRule(kind="reset_before_write", count=1)])
    assert httpx.get(srv.url + "/r").status_code == 200  # reads are not subject to write faults
    with pytest.raises(httpx.TransportError):
        httpx.post(srv.url + "/w", content=b"{}")
    assert counter.writes == 0
    assert httpx.post(srv.url + "/w", content=b"{}").json()["n"] == 1


def test_drop_after_commit_commits_then_cuts(served: tuple[ServedApp, FaultInjector, Counter]) -> None:
    srv, inj, counter = served
    inj.set_rules([FaultRule(kind="drop_after_commit", count=1, path_regex=r"^/w")])
    with pytest.raises(httpx.TransportError):
        httpx.post(srv.url + "/w", content=b"{}")
    assert counter.writes == 1


def test_slow_and_timeout(served: tuple[ServedApp, FaultInjector, Counter]) -> None:
    srv, inj, _ = served
    inj.set_rules([FaultRule(kind="slow", count=1, delay_s=0.2), FaultRule(kind="timeout", count=1)])
    r = httpx.get(srv.url + "/r")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2
    with pytest.raises(httpx.TimeoutException):
        httpx.get(srv.url + "/r", timeout=0.3)


def test_probability_is_seeded_and_method_filter() -> None:
    def run() -> list[bool]:
        inj = FaultInjector([FaultRule(kind="http_500", probability=0.5, method="GET")], seed=42)
        return [inj.decide("GET", "/x") is not None for _ in range(50)]

    a, b = run(), run()
    assert a == b and 5 < sum(a) < 45
    inj = FaultInjector([FaultRule(kind="http_500", probability=1.0, method="GET")], seed=0)
    assert inj.decide("POST", "/x") is None
    inj = FaultInjector([FaultRule(kind="drop_after_commit", probability=1.0)], seed=0)
    assert inj.decide("GET", "/x") is None and inj.decide("DELETE", "/x") is not None


def test_parse_fault_spec() -> None:
    spec = parse_fault_spec("qbo.drop_after_commit=0.2, revio.http_429=0.05,qbo.http_500=#3")
    assert [r.kind for r in spec["qbo"]] == ["drop_after_commit", "http_500"]
    assert spec["qbo"][0].probability == 0.2 and spec["qbo"][1].count == 3
    assert spec["revio"][0].kind == "http_429"
    for bad in ("qbo=0.1", "qbo.nope=0.1", "qbo.http_500=x"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)
