"""QBO ids written back to Rev.io custom fields: one PATCH when the index is known, safe when it moved."""

from __future__ import annotations

import httpx
import pytest

from revqb_pipeline.clients.revio import RevioClient
from revqb_sandbox.harness import serve_app
from revqb_sandbox.revio.app import create_app
from revqb_sandbox.revio.settings import RevioSandboxSettings

pytestmark = pytest.mark.slow


def _labels(client: RevioClient, bill_id: int) -> dict[str, str]:
    return {f["label"]: f["value"] for f in client.get("Bills", bill_id)["fields"]}


def test_known_index_patches_once_and_a_stale_index_falls_back() -> None:
    settings = RevioSandboxSettings(customers=3)
    served = serve_app(create_app(settings))
    try:
        client = RevioClient(
            served.url + "/v1",
            settings.client_code,
            settings.login,
            settings.password,
            settings.subscription_key,
        )
        bill = next(iter(client.iter_records("Bills")))
        index = next(i for i, f in enumerate(bill["fields"]) if f["label"] == "QBO Invoice Id")
        seen: list[str] = []
        client._http.event_hooks["request"].append(lambda r: seen.append(r.method))
        client.set_custom_field("Bills", bill["bill_id"], "QBO Invoice Id", "77", known_index=index)
        assert seen == ["PATCH"] and _labels(client, bill["bill_id"])["QBO Invoice Id"] == "77"
        seen.clear()
        # a wrong (stale) index fails the JSON Patch test op; the client re-reads and patches the right field
        client.set_custom_field("Bills", bill["bill_id"], "QBO Invoice Id", "78", known_index=index + 5)
        assert seen[0] == "PATCH" and "GET" in seen
        labels = _labels(client, bill["bill_id"])
        assert labels["QBO Invoice Id"] == "78"
        assert httpx.get(served.url + "/_admin/summary").status_code == 200
    finally:
        served.stop()
