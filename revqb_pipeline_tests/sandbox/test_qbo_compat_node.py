"""Issue 15: node-quickbooks (from npm, pinned in node_compat/package-lock.json) against ``serve``'s defaults.

The fixture installs the locked packages with ``npm ci`` when node_modules is missing, starts the QBO sandbox
exactly as ``revqb sandbox serve`` configures it (sample company, 0.15 s latency, Intuit's limits) over HTTPS
with the generated CA (trusted through NODE_EXTRA_CA_CERTS), and runs node_compat/compat.js once; each test
checks one part of what the real client observed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from revqb_sandbox.harness import serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.servers import serve_settings
from revqb_sandbox.tls import make_certificates

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).parent / "node_compat"
PERSON_TEXT = "Another customer, vendor or employee is already using this name. Please use a different name."


def _npm_install() -> None:
    if (NODE_DIR / "node_modules" / "node-quickbooks").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm is needed for the node-quickbooks compatibility test (node v20 + npm)"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=300
    )


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node (v20) is needed for the node-quickbooks compatibility test"
    _npm_install()
    _, settings = serve_settings()
    tls = make_certificates(tmp_path_factory.mktemp("tls"))
    served = serve_app(create_app(settings), tls=tls)
    env = os.environ | {
        "NODE_EXTRA_CA_CERTS": str(tls.ca),
        "QBO_BASE": served.url,
        "QBO_REALM": settings.realm_id,
        "QBO_CLIENT_ID": settings.client_id,
        "QBO_CLIENT_SECRET": settings.client_secret,
        "QBO_REFRESH_TOKEN": settings.initial_refresh_token,
    }
    try:
        proc = subprocess.run(
            [node, "compat.js"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=240
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)["steps"]
        stats = httpx.get(f"{served.url}/_admin/stats", verify=str(tls.ca), timeout=10).json()
        result["server"] = stats["realms"][settings.realm_id]
        yield result
    finally:
        served.stop()


def test_oauth_refresh_and_preferences(observed: dict[str, Any]) -> None:
    assert observed["token"] is True
    assert observed["prefs_sections"] == [
        "AccountingInfoPrefs", "CurrencyPrefs", "EmailMessagesPrefs", "OtherPrefs", "ProductAndServicesPrefs",
        "ReportPrefs", "SalesFormsPrefs", "TaxPrefs", "TimeTrackingPrefs", "VendorAndPurchasesPrefs",
    ]  # fmt: skip
    update = observed["prefs_update"]
    assert update["synctoken"] == ["0", "1"] and update["subject"] == "Invoice from node"
    assert update["message_kept"] and update["allow_shipping"] is True and update["custom_txn_numbers_kept"]


def test_seeded_company(observed: dict[str, Any]) -> None:
    seed = observed["seed"]
    assert seed["vendors"] == 10 and seed["employees"] == ["Emily Platt", "John Johnson"]
    assert Decimal(str(seed["invoice_1003_balance"])) == Decimal("40")
    assert seed["estimates"] == ["Accepted", "Pending"] and seed["sales_receipts"] == 1
    assert seed["rock_fountain_sku"] == "RF-1002"
    assert (seed["classes"], seed["departments"], seed["tax_agencies"], seed["customers"]) == (3, 2, 1, 15)


def test_vendor_employee_crud_and_6240_texts(observed: dict[str, Any]) -> None:
    people = observed["people"]
    assert people["vendor"] == ["0", "1", "Node Co", 1, False]
    assert people["employee"] == ["Node Worker", "N-1", "1"]
    for key in ("dup_customer", "dup_vendor", "dup_employee"):
        fault = people[key]
        assert (fault["status"], fault["code"], fault["message"]) == (
            400,
            "6240",
            "Duplicate Name Exists Error",
        )
        assert PERSON_TEXT in fault["detail"]
    assert "Another product or service is already using this name" in people["dup_item"]["detail"]


def test_name_lists_and_tax_service(observed: dict[str, Any]) -> None:
    lists = observed["lists"]
    assert lists["account"] == [
        "4100-0000-02",
        "Revenue",
    ]  # a 12-character AcctNum, as the live service takes
    assert lists["item"] == ["NODE-1", 25, "1"]
    assert lists["class_dept"] == ["Node Class", "Node Dept"] and lists["term_off"] is False
    assert lists["method"] == "NON_CREDIT_CARD" and lists["tax_code"] == "Node 911"
    assert lists["long_rate_name"] == "Node County 911 Fee"


def test_transactions_crud_void_delete(observed: dict[str, Any]) -> None:
    inv = observed["invoice"]
    assert Decimal(str(inv["total"])) == Decimal("100") and inv["update_synctoken"] == "1"
    assert (Decimal(str(inv["partly"])), Decimal(str(inv["after_void"]))) == (Decimal("70"), Decimal("100"))
    assert inv["voided"][0] == 0 and inv["voided"][1].startswith("Voided") and inv["gone"] == "610"
    other = observed["other_txns"]
    assert other["sales_receipt"] == [50, 0, "1"] and other["estimate"] == ["Pending", "Accepted"]
    assert other["credit_memo"] == 25 and other["refund_receipt"] == 25
    assert other["journal"] == [7.5, "1"] and other["left"] == 0


def test_serial_client_never_sees_429_and_a_burst_does(observed: dict[str, Any]) -> None:
    serial, burst = observed["serial"], observed["burst"]
    assert serial["throttled"] == 0 and serial["per_second"] < 10
    assert 0 < burst["ok"] <= 10 and burst["ok"] + burst["throttled"] == 25
    assert burst["recovered"] == "Kate Whelan"
    assert observed["server"]["throttled_429"] == burst["throttled"]  # only the burst was ever throttled
