"""Issue 12, bad input, pure layers (no I/O): valid Rev.io records of every type with one field corrupted
(type, value or shape) go through normalize -> payload -> checks. The only outcomes allowed: mapped, or a
``RecordError`` whose reason is non-empty and, at the record's own normalizer, names the corrupted field."""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revqb_pipeline.entities.customers.mapping import customer_payload
from revqb_pipeline.entities.invoices.sync import build_invoice_payloads
from revqb_pipeline.entities.payments.documents import build_documents
from revqb_pipeline.entities.payments.working_set import WorkingSet
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.mapping.checks import invoice_check_failures
from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.money import MoneyError, to_cents
from revqb_pipeline.sync.stage import record_id_of
from revqb_sandbox.revio.generator import generate

CFG: MappingConfig = load_mapping(None)
DATA = generate(seed=5, customers=4, start=date(2026, 1, 1), months=2)
PK = {
    "bills": "bill_id",
    "charges": "charge_id",
    "credits": "credit_memo_id",
    "payments": "payment_id",
    "customers": "customer_id",
    "products": "product_id",
    "product_types": "product_type_id",
}
TABLES = sorted(PK)

# Values that have broken (or could break) a reader: wrong types, non-finite and huge numbers, fractions of
# a cent, bad dates, wrong shapes, NUL characters, negative and oversized ids.
ODD_VALUES: list[Any] = [
    "abc",
    "",
    " ",
    None,
    True,
    False,
    float("nan"),
    float("inf"),
    -float("inf"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    "NaN",
    "Infinity",
    "-inf",
    12.345,
    Decimal("12.345"),
    "12.345",
    0.1 + 0.2,
    -5,
    0,
    -1,
    2**64,
    10**30,
    Decimal("1E+999999"),
    Decimal("1E-999999"),
    "1e999999",
    "1_000",
    "0x1F",
    "2026-13-01",
    "31/02/2024",
    "2026-02-30T10:00:00",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "2026-01-01T10:00:00+14:00",
    [],
    [1, 2],
    {},
    {"a": 1},
    [{"field_id": "x"}],
    "a\x00b",
    "ü" * 300,
    "x" * 5000,
]


def odd_value() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(ODD_VALUES),
        st.text(max_size=20),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True, places=None),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, int, list[str], Any]:
    """(table, index of the record, path of the field, new value or ``DELETE``)."""
    table = draw(st.sampled_from(TABLES))
    records = getattr(DATA, table)
    idx = draw(st.integers(min_value=0, max_value=len(records) - 1))
    rec = records[idx]
    key = draw(st.sampled_from(sorted(rec)))
    path = [key]
    if isinstance(rec[key], dict) and rec[key] and draw(st.booleans()):
        path.append(draw(st.sampled_from(sorted(rec[key]))))
    value = draw(st.one_of(st.just(DELETE), odd_value()))
    return table, idx, path, value


DELETE = object()


def corrupt(table: str, idx: int, path: list[str], value: Any) -> dict[str, list[dict[str, Any]]]:
    tables = {t: copy.deepcopy(getattr(DATA, t)) for t in TABLES}
    target = tables[table][idx]
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return tables


def names_field(reason: str, field: str) -> bool:
    words = {field, field.replace("_", " "), field.removesuffix("_id").replace("_", " ")}
    words |= {w.removesuffix("_date") for w in words} | {w.removesuffix("_amount") for w in words}
    low = reason.lower()
    return any(w and w.lower() in low for w in words)


def staged(
    raws: list[dict[str, Any]], pk: str, normalize: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[dict[int, dict[str, Any]], dict[str, str]]:
    """What ``stage_records`` keeps (rows by id) and quarantines (record id -> reason), without a DB."""
    rows: dict[int, dict[str, Any]] = {}
    bad: dict[str, str] = {}
    for raw in raws:
        try:
            row = normalize(raw)
        except RecordError as exc:
            bad[record_id_of(raw, pk)] = exc.reason
            continue
        json.dumps(row, allow_nan=False, default=str)  # a row the database can hold
        rows[int(row[pk])] = row
    return rows, bad


def run_pure_pipeline(
    tables: dict[str, list[dict[str, Any]]], *, check_all: bool = False
) -> dict[str, dict[str, str]]:
    """normalize -> payload -> checks over every record; returns the quarantined records by table."""
    quarantined: dict[str, dict[str, str]] = {}
    types, quarantined["product_types"] = staged(
        tables["product_types"], "product_type_id", lambda r: norm.normalize_product_type(r, CFG)
    )
    products, quarantined["products"] = staged(tables["products"], "product_id", norm.normalize_product)
    customers, quarantined["customers"] = staged(tables["customers"], "customer_id", norm.normalize_customer)
    bills, quarantined["bills"] = staged(tables["bills"], "bill_id", lambda r: norm.normalize_bill(r))
    charges, quarantined["charges"] = staged(
        tables["charges"],
        "charge_id",
        lambda r: norm.normalize_charge(r, types, None, products=products or None),
    )
    payments, quarantined["payments"] = staged(tables["payments"], "payment_id", norm.normalize_payment)
    credits, quarantined["credits"] = staged(
        tables["credits"], "credit_memo_id", lambda r: norm.normalize_credit(r, None, CFG)
    )
    for row in customers.values():
        try:
            customer_payload(row, CFG)
        except RecordError as exc:
            assert exc.reason.strip()
    by_bill: dict[int, list[dict[str, Any]]] = {}
    for ch in charges.values():
        if ch["bill_id"]:
            by_bill.setdefault(int(ch["bill_id"]), []).append(ch)
    rows, bad = build_invoice_payloads(list(bills.values()), by_bill, CFG, types, products)
    assert all(reason.strip() for reason in bad.values())
    # the pandera checks (slow) run over the payloads the corruption changed (all of them, the first time)
    if not check_all:
        rows = [r for r in rows if json.dumps(r, default=str, sort_keys=True) not in baseline()]
    ok_bills = {int(r["source_id"]) for r in rows}
    failures = invoice_check_failures(
        [r["payload"] for r in rows],
        [b for b in bills.values() if int(b["bill_id"]) in ok_bills],
        [c for bid in sorted(ok_bills) for c in by_bill.get(bid, [])],
        CFG,
    )
    # a payload the builder produced always passes the checks: they tie to the cent
    assert len(failures) == 0, failures.to_dict("records")
    ws = WorkingSet(payments=dict(sorted(payments.items())), credits=dict(sorted(credits.items())))
    ws.bills = bills
    docs = build_documents(ws, CFG, "2026-01-01")
    for row in docs.payments + docs.credits + docs.applications:
        env = row["payload"]
        assert env["decision"] in ("post", "reject", "wait", "void", "fold", "none", "apply", "skip"), env
        assert str(env.get("reason") or "").strip() or env["decision"] == "post", env
        body = env.get("body")
        if body:
            json.dumps(body, allow_nan=False, default=str)
            for amount in [body.get("TotalAmt"), *(ln.get("Amount") for ln in body.get("Line", []))]:
                if amount is not None:
                    to_cents(amount)  # whole cents, finite
    return quarantined


@functools.cache
def baseline() -> frozenset[str]:
    """The invoice payload rows of the uncorrupted dataset (JSON), built once."""
    tables = {t: copy.deepcopy(getattr(DATA, t)) for t in TABLES}
    types = {int(r["product_type_id"]): norm.normalize_product_type(r, CFG) for r in tables["product_types"]}
    products = {int(r["product_id"]): norm.normalize_product(r) for r in tables["products"]}
    by_bill: dict[int, list[dict[str, Any]]] = {}
    for raw in tables["charges"]:
        ch = norm.normalize_charge(raw, types, None, products=products)
        if ch["bill_id"]:
            by_bill.setdefault(int(ch["bill_id"]), []).append(ch)
    bills = [norm.normalize_bill(b) for b in tables["bills"]]
    rows, bad = build_invoice_payloads(bills, by_bill, CFG, types, products)
    assert not bad and rows
    return frozenset(json.dumps(r, default=str, sort_keys=True) for r in rows)


def test_valid_dataset_maps_without_quarantine() -> None:
    quarantined = run_pure_pipeline({t: copy.deepcopy(getattr(DATA, t)) for t in TABLES}, check_all=True)
    assert not any(quarantined.values()), quarantined
    assert baseline()


@given(corruption())  # examples, deadline: the conftest's hypothesis profile (300; 40 in the fast suite)
def test_one_corrupted_field_is_mapped_or_quarantined_naming_the_field(
    case: tuple[str, int, list[str], Any],
) -> None:
    table, idx, path, value = case
    quarantined = run_pure_pipeline(corrupt(table, idx, path, value))
    original = getattr(DATA, table)[idx]
    rid = record_id_of(corrupt(table, idx, path, value)[table][idx], PK[table])
    reason = quarantined[table].get(rid) or quarantined[table].get(str(original[PK[table]]))
    if reason is not None:
        assert reason.strip()
        field = path[0]
        assert names_field(reason, field) or any(names_field(reason, p) for p in path), (path, value, reason)


@pytest.mark.parametrize(
    "value",
    ["abc", 12.345, float("nan"), float("inf"), Decimal("sNaN"), True, [1], {"a": 1}, 10**30, "1e999999"],
)
def test_money_readers_are_total(value: Any) -> None:
    """``to_cents`` raises only MoneyError; the model reader turns it into a reason naming the value."""
    with pytest.raises(MoneyError):
        to_cents(value)
    raw = {**DATA.charges[0], "amount": value}
    with pytest.raises(RecordError) as err:
        norm.normalize_charge(raw, {10: {"charge_kind": "recurring"}})
    assert "amount" in err.value.reason
    shown = repr(value)[:20] if not isinstance(value, float) or math.isfinite(value) else repr(value)
    assert shown[:8] in err.value.reason or "too large" in err.value.reason, err.value.reason
