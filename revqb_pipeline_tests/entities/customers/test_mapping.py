"""Customer payloads, display-name rules, matching order, collision suffixes and sparse updates."""

from __future__ import annotations

from typing import Any

import pytest

from revqb_pipeline.entities.customers.mapping import (
    CustomerIndex,
    clean_display_name,
    customer_payload,
    customer_update_payload,
    match_customer,
    merge_notes,
    resolve_display_name_collision,
)
from revqb_pipeline.mapping.config import MappingConfig, load_mapping


@pytest.fixture(scope="module")
def cfg() -> MappingConfig:
    return load_mapping(None)


def row(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "customer_id": 1042,
        "account_number": "A-1042",
        "display_name": "Acme Telecom LLC",
        "company_name": "Acme Telecom LLC",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ap@acme.example",
        "phone": "(512) 555-0100",
        "bill_line1": "1 Main St",
        "bill_line2": None,
        "bill_city": "Austin",
        "bill_state": "TX",
        "bill_postal_code": "78701",
        "bill_country": "235",
    }
    base.update(over)
    return base


def test_customer_payload(cfg: MappingConfig) -> None:
    p = customer_payload(row(), cfg)
    assert p == {
        "DisplayName": "Acme Telecom LLC",
        "CompanyName": "Acme Telecom LLC",
        "GivenName": "Ann",
        "FamilyName": "Lee",
        "PrimaryEmailAddr": {"Address": "ap@acme.example"},
        "PrimaryPhone": {"FreeFormNumber": "(512) 555-0100"},
        "BillAddr": {
            "Line1": "1 Main St",
            "City": "Austin",
            "CountrySubDivisionCode": "TX",
            "PostalCode": "78701",
            "Country": "US",
        },
        "Notes": "revio:account:A-1042",
    }


def test_customer_payload_limits_and_bad_values(cfg: MappingConfig) -> None:
    p = customer_payload(
        row(
            account_number=None,
            company_name="C" * 150,
            email="not an email",
            phone="1" * 31,
            bill_line1=None,
            bill_city=None,
            bill_state=None,
            bill_postal_code=None,
            bill_country=None,
        ),
        cfg,
    )
    assert len(p["CompanyName"]) == 100
    assert "PrimaryEmailAddr" not in p and "PrimaryPhone" not in p and "BillAddr" not in p
    assert p["Notes"] == "revio:account:1042"
    long_email = "a" * 95 + "@x.com"
    assert "PrimaryEmailAddr" not in customer_payload(row(email=long_email), cfg)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Acme   Telecom\tLLC ", "Acme Telecom LLC"),
        ("O'Brien's Diner", "O'Brien's Diner"),
        ("Back\\slash Co", "Back\\slash Co"),
        ("Café Société", "Café Société"),
        ("Cafe\u0301", "Café"),  # decomposed accent -> NFC
        ("Acme: East", "Acme - East"),
        ("Parent:Child", "Parent - Child"),
        ("Line\nbreak", "Line break"),
        ("", "Rev.io customer 7"),
        (None, "Rev.io customer 7"),
        (":::", "- - -"),
    ],
)
def test_display_name_rules(raw: str | None, expected: str) -> None:
    assert clean_display_name(raw, 7) == expected


def test_display_name_is_capped() -> None:
    assert len(clean_display_name("x" * 600, 1)) == 500


def qbo(
    ident: str, name: str, *, email: str | None = None, notes: str | None = None, active: bool = True
) -> dict[str, Any]:
    c: dict[str, Any] = {"Id": ident, "SyncToken": "3", "DisplayName": name, "Active": active}
    if email:
        c["PrimaryEmailAddr"] = {"Address": email}
    if notes:
        c["Notes"] = notes
    return c


def test_matching_order_marker_beats_email_beats_name() -> None:
    customers = [
        qbo("1", "Acme Telecom LLC"),
        qbo("2", "Somebody Else", email="AP@acme.example"),
        qbo("3", "Old Name", notes="billing contact: Ann\nrevio:account:A-1042", active=False),
    ]
    index = CustomerIndex.from_qbo(customers)
    m = match_customer(row(), index)
    assert m is not None and (m.rule, m.qbo_id, m.sync_token) == ("marker", "3", "3")
    index = CustomerIndex.from_qbo(customers[:2])
    m = match_customer(row(), index)
    assert m is not None and (m.rule, m.qbo_id) == ("email", "2")
    index = CustomerIndex.from_qbo(customers[:1])
    m = match_customer(row(display_name="ACME  telecom llc"), index)
    assert m is not None and (m.rule, m.qbo_id) == ("display_name", "1")
    assert match_customer(row(display_name="Nobody", email=None), index) is None


def test_ambiguous_email_is_not_used() -> None:
    index = CustomerIndex.from_qbo(
        [qbo("1", "First", email="ap@acme.example"), qbo("2", "Second", email="ap@acme.example")]
    )
    assert match_customer(row(display_name="Unrelated"), index) is None
    index = CustomerIndex.from_qbo(
        [
            qbo("1", "First", email="ap@acme.example"),
            qbo("2", "Second", email="ap@acme.example"),
            qbo("3", "Acme Telecom LLC"),
        ]
    )
    m = match_customer(row(), index)
    assert m is not None and (m.rule, m.qbo_id) == ("display_name", "3")


def test_marker_uses_customer_id_without_account_number() -> None:
    index = CustomerIndex.from_qbo([qbo("9", "X", notes="revio:account:1042")])
    m = match_customer(row(account_number=None, display_name="Other", email=None), index)
    assert m is not None and m.rule == "marker"


def test_fallbacks_can_be_turned_off(cfg: MappingConfig) -> None:
    strict = cfg.model_copy(
        update={
            "customers": cfg.customers.model_copy(
                update={"match_by_email": False, "match_by_display_name": False}
            )
        }
    )
    index = CustomerIndex.from_qbo([qbo("2", "Acme Telecom LLC", email="ap@acme.example")])
    assert match_customer(row(), index, strict) is None
    assert match_customer(row(), index, cfg) is not None


def test_collision_suffix_is_deterministic() -> None:
    taken = {"acme telecom llc"}
    assert resolve_display_name_collision("Fresh Name", 1042, taken) == "Fresh Name"
    first = resolve_display_name_collision("Acme Telecom LLC", 1042, taken)
    assert first == "Acme Telecom LLC (Rev.io 1042)"
    assert resolve_display_name_collision("Acme Telecom LLC", 1042, taken) == first
    second = resolve_display_name_collision("Acme Telecom LLC", 1042, taken | {first})
    assert second == "Acme Telecom LLC (Rev.io 1042-2)"
    long = resolve_display_name_collision("y" * 500, 1042, {"y" * 500})
    assert len(long) == 500 and long.endswith(" (Rev.io 1042)")


def test_update_payload_changed_fields_only(cfg: MappingConfig) -> None:
    desired = customer_payload(row(), cfg)
    existing = {
        "Id": "58",
        "SyncToken": "4",
        "DisplayName": "Acme Telecom LLC",
        "CompanyName": "Acme Telecom LLC",
        "GivenName": "Ann",
        "FamilyName": "Lee",
        "PrimaryEmailAddr": {"Address": "AP@ACME.EXAMPLE"},
        "PrimaryPhone": {"FreeFormNumber": "(512) 555-0100"},
        "BillAddr": {"Id": "7", **desired["BillAddr"]},
        "Notes": "Pays by ACH\nrevio:account:A-1042\nCall before 5pm",
        "Balance": 12.5,
        "MetaData": {"CreateTime": "2024-01-01"},
    }
    assert customer_update_payload(existing, desired) is None
    changed = customer_update_payload(
        {**existing, "DisplayName": "Acme Old", "Notes": "Pays by ACH"}, desired
    )
    assert changed == {
        "Id": "58",
        "SyncToken": "4",
        "sparse": True,
        "DisplayName": "Acme Telecom LLC",
        "Notes": "revio:account:A-1042\nPays by ACH",
    }
    moved = customer_update_payload(
        {**existing, "BillAddr": {"Line1": "9 Elm St", "City": "Austin"}}, desired
    )
    assert moved is not None and moved["BillAddr"] == desired["BillAddr"] and "Notes" not in moved


def test_merge_notes_keeps_other_lines_and_replaces_marker() -> None:
    assert merge_notes("keep me\nrevio:account:OLD\nrevio:account:DUP", "revio:account:NEW") == (
        "keep me\nrevio:account:NEW"
    )
    assert merge_notes(None, "revio:account:1") == "revio:account:1"
    assert merge_notes("revio:status:OPEN", "revio:account:1") == "revio:account:1\nrevio:status:OPEN"
    long = merge_notes("z" * 2500, "revio:account:1")
    assert len(long) == 2000 and long.startswith("revio:account:1\n")
