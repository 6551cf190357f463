"""QBO sandbox: OAuth 2.0 (intuit-oauth), 401s, throttling in simulated time, fault injection, admin."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError

from revqb_pipeline_tests._qbo_support import (
    QBO,
    customer,
    data,
    fault_code,
    invoice,
    line,
    sandbox,
)

pytestmark = pytest.mark.slow


def _auth_client(client: QBO, **tokens: str) -> AuthClient:
    s = client.settings
    discovery = f"{client.url}/.well-known/openid_configuration"
    return AuthClient(s.client_id, s.client_secret, s.redirect_uri, discovery, **tokens)


def test_discovery_document_points_back_here() -> None:
    with sandbox() as (client, _):
        for name in ("openid_configuration", "openid_sandbox_configuration", "openid_configuration/"):
            doc = httpx.get(f"{client.url}/.well-known/{name}").json()
            assert doc["token_endpoint"] == f"{client.url}/oauth2/v1/tokens/bearer"
            assert doc["revocation_endpoint"] == f"{client.url}/oauth2/v1/tokens/revoke"


def test_intuit_oauth_refresh_rotation_and_grace() -> None:
    with sandbox(time_scale=0.01, refresh_grace_s=30) as (client, settings):
        auth = _auth_client(client, refresh_token=settings.initial_refresh_token)
        auth.refresh()
        first_rt = auth.refresh_token
        assert first_rt != settings.initial_refresh_token and auth.expires_in == 3600
        assert auth.x_refresh_token_expires_in > 8_000_000
        auth.refresh()  # rotation: each refresh returns a new refresh token
        assert auth.refresh_token != first_rt
        grace = _auth_client(client, refresh_token=first_rt)
        grace.refresh()  # the previous one still works within the grace period ...
        assert grace.refresh_token == auth.refresh_token
        time.sleep(0.4)  # ... 30 simulated seconds = 0.3 s
        with pytest.raises(AuthClientError) as info:
            _auth_client(client, refresh_token=first_rt).refresh()
        assert info.value.status_code == 400 and "invalid_grant" in info.value.content.decode()
        r = client.token({"grant_type": "refresh_token", "refresh_token": "made-up"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_invalid_client_and_authorization_code_grant() -> None:
    with sandbox() as (client, settings):
        r = client.token(
            {"grant_type": "refresh_token", "refresh_token": client.refresh_token}, auth="Basic Zm9vOmJhcg=="
        )
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        other_realm = "4620816365000000001"
        code = client.admin("oauth/authorize", {"realm_id": other_realm}).json()["code"]
        auth = _auth_client(client)
        auth.get_bearer_token(code, realm_id=other_realm)
        assert auth.access_token and auth.refresh_token
        with pytest.raises(AuthClientError):
            _auth_client(client).get_bearer_token(code)  # codes are single-use
        headers = {"Authorization": f"Bearer {auth.access_token}"}
        r = httpx.get(f"{client.url}/v3/company/{other_realm}/companyinfo/{other_realm}", headers=headers)
        assert r.status_code == 200 and r.json()["CompanyInfo"]["Country"] == "US"
        r = httpx.get(f"{client.url}/v3/company/{settings.realm_id}/preferences", headers=headers)
        assert r.status_code == 401  # tokens are per realm
        redirect = httpx.get(f"{client.url}/connect/oauth2", params={"state": "s1", "realmId": other_realm})
        assert redirect.status_code == 302 and "code=" in redirect.headers["location"]
        assert auth.revoke() is True
        r = httpx.get(f"{client.url}/v3/company/{other_realm}/preferences", headers=headers)
        assert r.status_code == 401
        with pytest.raises(AuthClientError):
            auth.refresh()


def test_401_lowercase_fault_and_refresh_after_expiry() -> None:
    with sandbox(time_scale=0.01, access_token_ttl_s=50) as (client, _):
        assert client.get("preferences").status_code == 200
        for header in ({}, {"Authorization": "Bearer nonsense"}):
            r = httpx.get(f"{client.url}/v3/company/{client.realm}/preferences", headers=header)
            assert r.status_code == 401
            fault = r.json()["fault"]
            assert fault["type"] == "AUTHENTICATION" and fault["error"][0]["code"] == "3200"
        assert client.admin("oauth/expire-access-tokens").json()["expired"] >= 1
        r = client.get("preferences")
        assert r.status_code == 401 and "expired" in r.json()["fault"]["error"][0]["detail"].lower()
        assert client.refresh().status_code == 200
        assert client.get("preferences").status_code == 200
        time.sleep(0.6)  # 60 simulated seconds > 50 s TTL
        assert client.get("preferences").status_code == 401


def test_per_second_limit() -> None:
    with sandbox(time_scale=0.5, per_second=10) as (client, _):
        responses = [client.get("preferences") for _ in range(12)]
        codes = [r.status_code for r in responses]
        assert codes[:10] == [200] * 10 and 429 in codes
        err = next(r for r in responses if r.status_code == 429).json()["Fault"]["Error"][0]
        assert err["code"] == "3001" and "ThrottleExceeded" in err["Message"]
        time.sleep(0.55)  # > 1 simulated second
        assert client.get("preferences").status_code == 200


def test_per_minute_limit_in_simulated_time() -> None:
    with sandbox(time_scale=0.01, per_minute=25) as (client, _):
        codes = [client.get("preferences").status_code for _ in range(26)]
        assert codes[:25] == [200] * 25 and codes[25] == 429
        assert client.stats()["throttled_429"] == 1
        time.sleep(0.65)  # > 60 simulated seconds
        assert client.get("preferences").status_code == 200


def test_batch_per_minute_xml_429_and_retry_after() -> None:
    with sandbox(time_scale=0.01, batch_per_minute=2, xml_429=True, retry_after_s=60) as (client, _):
        batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
        assert [client.post("batch", batch).status_code for _ in range(2)] == [200, 200]
        r = client.post("batch", batch)
        assert r.status_code == 429 and r.headers["retry-after"] == "60"
        assert r.headers["content-type"].startswith("application/xml") and 'code="3001"' in r.text
        assert client.get("preferences").status_code == 200  # non-batch requests unaffected
        time.sleep(0.65)
        assert client.post("batch", batch).status_code == 200


def test_concurrency_limit_and_peak_in_stats() -> None:
    with sandbox(max_concurrent=3, request_latency_s=0.3) as (client, _):
        token = client.access_token

        def one(_: int) -> int:
            url = f"{client.url}/v3/company/{client.realm}/preferences"
            return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, range(8)))
        assert codes.count(200) >= 3 and codes.count(429) >= 1
        stats = client.stats()
        assert stats["peak_concurrency"] >= 4 and stats["throttled_429"] == codes.count(429)


def test_injected_faults_via_admin() -> None:
    with sandbox() as (client, _):
        rules = [{"kind": "drop_after_commit", "count": 1, "path_regex": "/invoice$"}]
        assert client.admin("faults", rules).json() == {"rules": 1}
        body = {"CustomerRef": {"value": "1"}, "DocNumber": "DROP-1", "Line": [line("5")]}
        with pytest.raises(httpx.TransportError):
            client.post("invoice", body, requestid="drop-1")
        retry = client.post("invoice", body, requestid="drop-1")  # the write was committed: replayed
        assert retry.status_code == 200
        assert client.query("select count(*) from Invoice where DocNumber = 'DROP-1'") == {"totalCount": 1}
        client.admin("faults", [{"kind": "reset_before_write", "count": 1}])
        with pytest.raises(httpx.TransportError):
            client.post("customer", {"DisplayName": "Never Written"})
        assert client.query("select * from Customer where DisplayName = 'Never Written'") == {}
        client.admin(
            "faults", [{"kind": "http_500", "count": 1, "method": "GET"}, {"kind": "http_503", "count": 1}]
        )
        r = client.get("preferences")
        assert r.status_code == 500 and fault_code(r) == "10000" and r.headers["intuit_tid"]
        r = client.post("customer", {"DisplayName": "Unavailable"})
        assert r.status_code == 503 and data(r)["Fault"]["type"] == "SystemFault"
        client.admin("faults", [{"kind": "http_429", "count": 1, "retry_after_s": 5}])
        r = client.get("preferences")
        assert r.status_code == 429 and r.headers["retry-after"] == "5" and fault_code(r) == "3001"
        assert client.stats()["throttled_429"] == 1
        assert client.admin("faults", [{"kind": "bogus"}]).status_code == 422
        assert httpx.get(f"{client.url}/_admin/stats").json()["faults_injected"]["drop_after_commit"] == 1


def test_settings_faults_and_admin_reset_and_stats() -> None:
    with sandbox(faults=[{"kind": "http_503", "count": 1, "path_regex": "/customer"}]) as (client, _):
        assert client.post("customer", {"DisplayName": "First"}).status_code == 503
        cust = customer(client, "Counted")
        invoice(client, cust["Id"])
        stats = client.stats()
        assert stats["writes"] == 2 and stats["requests"] >= 3
        assert stats["entities"]["Invoice"] == 1 and stats["entities"]["Customer"] == 6
        assert client.admin("reset").status_code == 200
        assert client.query("select * from Customer where DisplayName = 'Counted'") == {}
        assert client.get("preferences").status_code == 200  # tokens survive a reset


def test_empty_company() -> None:
    with sandbox(empty=True, partner_tax_enabled=True, auto_apply_credit=True) as (client, _):
        assert client.query("select * from Customer") == {}
        assert client.query("select * from Item") == {}
        assert client.query("select count(*) from Account")["totalCount"] > 10
        assert client.query("select count(*) from PaymentMethod")["totalCount"] == 7
        prefs = data(client.get("preferences"))["Preferences"]
        assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is True
        assert prefs["SalesFormsPrefs"]["AutoApplyCredit"] is True
