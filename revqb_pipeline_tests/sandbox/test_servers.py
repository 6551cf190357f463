"""Both sandboxes together: env() works against the real servers, faults are split per service, serve()."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from revqb_sandbox.servers import build_settings, sandboxes, serve

pytestmark = pytest.mark.slow


def _revio(env: dict[str, str]) -> httpx.Client:
    return httpx.Client(
        base_url=env["REVIO_BASE_URL"],
        auth=(f"{env['REVIO_USERNAME']}@{env['REVIO_CLIENT_CODE']}", env["REVIO_PASSWORD"]),
        headers={"Ocp-Apim-Subscription-Key": env["REVIO_SUBSCRIPTION_KEY"]},
        timeout=10,
    )


def _token(env: dict[str, str]) -> httpx.Response:
    return httpx.post(
        env["QBO_TOKEN_URL"],
        auth=(env["QBO_CLIENT_ID"], env["QBO_CLIENT_SECRET"]),
        data={"grant_type": "refresh_token", "refresh_token": env["QBO_REFRESH_TOKEN"]},
        headers={"Accept": "application/json"},
        timeout=10,
    )


def test_env_points_the_pipeline_at_both_sandboxes() -> None:
    with sandboxes(customers=4, qbo_empty=True) as sb:
        env = sb.env()
        revio_keys = {"REVIO_BASE_URL", "REVIO_CLIENT_CODE", "REVIO_USERNAME", "REVIO_PASSWORD"}
        qbo_keys = {"QBO_BASE_URL", "QBO_TOKEN_URL", "QBO_REALM_ID", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET"}
        assert set(env) == revio_keys | qbo_keys | {"REVIO_SUBSCRIPTION_KEY", "QBO_REFRESH_TOKEN"}
        assert env["REVIO_BASE_URL"] == sb.revio_url + "/v1" and env["QBO_BASE_URL"] == sb.qbo_url
        with _revio(env) as c:
            r = c.get("/Customers", params={"search.page_size": 50})
            assert r.status_code == 200 and r.json()["record_count"] == 4
        tok = _token(env)
        assert tok.status_code == 200, tok.text
        access = tok.json()["access_token"]
        r = httpx.get(
            f"{env['QBO_BASE_URL']}/v3/company/{env['QBO_REALM_ID']}/companyinfo/{env['QBO_REALM_ID']}",
            headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert sb.revio.customers == 4 and sb.qbo.empty is True
        assert sb.revio_app.state.sandbox.state.summary()["customers"]["count"] == 4


def test_faults_are_split_per_service() -> None:
    with sandboxes(customers=2, faults="revio.http_503=#1,qbo.http_503=#1") as sb:
        env = sb.env()
        with _revio(env) as c:
            assert c.get("/Bills").status_code == 503
            assert c.get("/Bills").status_code == 200
        assert _token(env).status_code == 503
        assert _token(env).status_code == 200
    revio, qbo = build_settings(faults="qbo.http_500=0.5")
    assert revio.faults is None and len(qbo.faults) == 1
    with pytest.raises(ValueError):
        build_settings(faults="stripe.http_500=1")


def test_serve_prints_urls_and_credentials_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    t = threading.Thread(
        target=serve, kwargs={"revio_port": 0, "qbo_port": 0, "customers": 2, "stop": stop}, daemon=True
    )
    t.start()
    deadline = time.monotonic() + 10
    out = ""
    while "Ctrl-C" not in out and time.monotonic() < deadline:
        time.sleep(0.05)
        out += capsys.readouterr().out
    stop.set()
    t.join(timeout=10)
    assert not t.is_alive()
    assert "Rev.io sandbox: http://127.0.0.1:" in out and "export QBO_REFRESH_TOKEN=" in out
    assert "INTEGRATIONS@sandbox" in out
