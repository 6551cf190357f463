"""mapping/frames.py: staged charges -> invoice lines as integer columns, checked by vectorized pandera rules.

The spec is ``invoice_payload`` (what is posted) and ``invoice_check_failures`` (the dict path): the frame's
lines equal the payload's lines to the cent (property test over random bills), a built payload passes both
paths, and each rule's failure is found and named by bill (and line).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from revqb_pipeline.entities.invoices.mapping import invoice_payload
from revqb_pipeline.entities.invoices.sync import symbolic_item_refs
from revqb_pipeline.mapping.checks import invoice_check_failures, staged_invoice_check_failures
from revqb_pipeline.mapping.config import MappingConfig, load_mapping, parse_mapping
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.frames import (
    FAILURE_COLUMNS,
    InvoiceFrames,
    decimal_text,
    frame_check_failures,
    invoice_frames,
    unit_price_text,
)

CFG: MappingConfig = load_mapping(None)
GA = "US130890000"  # Georgia
TX = "US481230000"  # Texas


def with_taxes(base: MappingConfig, **taxes: Any) -> MappingConfig:
    data = yaml.safe_load(base.model_dump_json(by_alias=True))
    data["taxes"].update(taxes)
    return parse_mapping(data)


# a state-specific rule, so the geocode matters for class 201
STATE_RULES = [
    *[r.model_dump() for r in CFG.taxes.rules],
    {"tax_class_id": 201, "jurisdiction": "TX", "item": "State Telecom Excise Tax",
     "liability_account": "State Telecom Taxes Payable", "level": "state", "name": "Texas telecom tax"},
]  # fmt: skip
BY_PRODUCT = {
    "default_item": "Telecom Services",
    "rules": [
        {"product_id": 201, "item": "Usage"},
        {"product_type_code": "NRC", "item": "Installation", "class": None},
    ],
}
MAPPINGS = {
    "lines": CFG,
    "by_product": parse_mapping(
        {**yaml.safe_load(CFG.model_dump_json(by_alias=True)), "products": BY_PRODUCT}
    ),
    "override": with_taxes(CFG, mode="total_tax_override"),
    "by_state": with_taxes(CFG, rules=STATE_RULES),
}


def bill_and_charges() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    charges = [
        {"charge_id": 1, "bill_id": 10, "customer_id": 7, "product_id": 101, "product_type_id": 10,
         "charge_kind": "recurring", "quantity": "2", "rate": "24.95", "product_amount_cents": 4990,
         "tax_amount_cents": 150, "amount_cents": 5140, "tax_class_id": 302, "geocode": GA},
        {"charge_id": 2, "bill_id": 10, "customer_id": 7, "product_id": 201, "product_type_id": 20,
         "charge_kind": "usage", "quantity": "48", "rate": None, "product_amount_cents": 45150,
         "tax_amount_cents": 3838, "amount_cents": 48988, "tax_class_id": 101, "geocode": GA},
    ]  # fmt: skip
    bill = {"bill_id": 10, "customer_id": 7, "bill_date": "2026-01-01", "invoice_amount_cents": 54128}
    return bill, charges


# the product types invoice_payload gets from stg_product_types (type-code rules, a charge without a kind)
TYPES: dict[int, dict[str, Any]] = {
    10: {"product_type_id": 10, "product_type_code": "MRC", "charge_kind": "recurring"},
    20: {"product_type_id": 20, "product_type_code": "USAGE", "charge_kind": "usage"},
    30: {"product_type_id": 30, "product_type_code": "NRC", "charge_kind": "one_time"},
    40: {"product_type_id": 40, "product_type_code": "FAX", "charge_kind": "recurring"},
}


def payload_of(bill: dict[str, Any], charges: list[dict[str, Any]], cfg: MappingConfig) -> dict[str, Any]:
    refs = symbolic_item_refs(cfg)
    return invoice_payload(bill, charges, customer_ref="5", item_refs=refs, cfg=cfg, product_types=TYPES)


def frame_lines(frames: InvoiceFrames) -> dict[int, list[tuple[Any, ...]]]:
    """bill id -> its lines in order: (item, amount text, Qty text, UnitPrice text) as posted."""
    out: dict[int, list[tuple[Any, ...]]] = {}
    df = frames.lines.sort_values(["bill_id", "line_num"])
    for r in df.itertuples(index=False):
        amount = format((Decimal(int(r.amount_cents)) / 100).quantize(Decimal("0.01")), "f")
        qty = decimal_text(r.qty_mantissa, r.qty_places)
        out.setdefault(int(r.bill_id), []).append(
            (r.item_name, amount, qty, unit_price_text(r.unit_price_e5))
        )
    return out


def payload_lines(payload: dict[str, Any]) -> list[tuple[Any, ...]]:
    lines = []
    for ln in payload["Line"]:
        d = ln["SalesItemLineDetail"]
        lines.append((d["ItemRef"]["name"], format(ln["Amount"], "f"), format(d["Qty"], "f"),
                      format(d["UnitPrice"], "f")))  # fmt: skip
    return lines


def checks_of(fc: pd.DataFrame) -> set[str]:
    return set(fc["check"])


# ----- the frame is what is posted ----------------------------------------------------------------------

# quantities and rates as Rev.io sends them: integers, decimals with trailing zeros, exponents, odd spacing
QUANTITY = st.one_of(
    st.integers(0, 500).map(str),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False).map(str),
    st.sampled_from(["48", "48.000", "1E+1", " 3 ", "0", "0.5", "1234567890.1234567", "", None, "abc"]),
)
RATE = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=500, places=5, allow_nan=False).map(str),
    st.sampled_from(["24.95", "9.40625", "0.000001", "1E+1", "-2", "x"]),
)
KIND = st.sampled_from([(101, 10, "recurring"), (201, 20, "usage"), (301, 30, "one_time"), (418, 40, None)])


@st.composite
def charge(draw: Any, bill_id: int, charge_id: int) -> dict[str, Any]:
    pid, ptid, kind = draw(KIND)
    quantity, rate = draw(QUANTITY), draw(RATE)
    if draw(st.booleans()) and rate not in (None, "x", "-2") and quantity not in (None, "", "abc"):
        # often Rev.io's own quantity x rate (the common case)
        try:
            cents = Decimal(quantity.strip()) * Decimal(rate) * 100
        except ArithmeticError:
            cents = Decimal(-1)
        product = int(cents) if cents == cents.to_integral_value() and 0 <= cents < 10**10 else 0
    else:
        product = draw(st.integers(0, 10**9))
    tax = draw(st.sampled_from([0, 0, 1, 37, 1999]))
    return {
        "charge_id": charge_id, "bill_id": bill_id, "customer_id": 7, "product_id": pid,
        "product_type_id": ptid, "charge_kind": kind, "quantity": quantity, "rate": rate,
        "product_amount_cents": product, "tax_amount_cents": tax, "amount_cents": product + tax,
        "tax_class_id": draw(st.sampled_from([101, 201, 302])), "geocode": draw(st.sampled_from([GA, TX])),
        "description": draw(st.sampled_from([None, "PBX seat"])),
    }  # fmt: skip


@st.composite
def bills_and_charges(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    bills, charges = [], []
    for b in range(draw(st.integers(1, 4))):
        bill_id = 900 + b
        mine = [draw(charge(bill_id, bill_id * 100 + k)) for k in range(draw(st.integers(1, 5)))]
        total = sum(c["amount_cents"] for c in mine)
        bills.append({"bill_id": bill_id, "customer_id": 7, "bill_date": "2026-01-01",
                      "invoice_amount_cents": total})  # fmt: skip
        charges.extend(mine)
    return bills, draw(st.permutations(charges))


def built(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], cfg: MappingConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(bills ``invoice_payload`` builds, their payloads, their charges), as the invoices step keeps them."""
    bills, charges = data
    ok, payloads = [], []
    for bill in bills:
        mine = [c for c in charges if c["bill_id"] == bill["bill_id"]]
        try:
            payloads.append(payload_of(bill, mine, cfg))
        except (RecordError, MappingMissing):
            continue
        ok.append(bill)
    ids = {b["bill_id"] for b in ok}
    return ok, payloads, [c for c in charges if c["bill_id"] in ids]


@given(data=bills_and_charges(), mode=st.sampled_from(sorted(MAPPINGS)))
def test_frame_lines_are_the_posted_payload_lines(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], mode: str
) -> None:
    """Every bill ``invoice_payload`` builds has exactly the frame's lines, in order, to the cent."""
    cfg = MAPPINGS[mode]
    bills, payloads, charges = built(data, cfg)
    got = frame_lines(invoice_frames(bills, charges, cfg, product_types=TYPES))
    assert got == {b["bill_id"]: payload_lines(p) for b, p in zip(bills, payloads, strict=True)}


@settings(max_examples=25)
@given(data=bills_and_charges(), mode=st.sampled_from(sorted(MAPPINGS)))
def test_both_check_paths_find_the_same_failures(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], mode: str
) -> None:
    """Over built payloads the columnar checks and the dict path agree (unreadable quantities fail both)."""
    cfg = MAPPINGS[mode]
    bills, payloads, charges = built(data, cfg)
    if not bills:
        return
    columnar = staged_invoice_check_failures(bills, charges, cfg, product_types=TYPES)
    legacy = invoice_check_failures(payloads, bills, charges, cfg)

    def verdicts(fc: pd.DataFrame) -> set[tuple[Any, ...]]:
        # a null quantity is pandera's not_nullable on the dict path, the quantity rule here
        return {(r.schema, int(r.bill_id)) for r in fc.itertuples(index=False)}

    assert verdicts(columnar) == verdicts(legacy)
    assert not {s for s, _ in verdicts(columnar)} - {"ChargeLines"}


def test_unsorted_and_frame_input_give_the_same_lines() -> None:
    bill, charges = bill_and_charges()
    as_rows = frame_lines(invoice_frames([bill], charges, CFG))
    as_frame = frame_lines(invoice_frames(pd.DataFrame([bill]), pd.DataFrame(charges[::-1]), CFG))
    assert as_rows == as_frame == {10: payload_lines(payload_of(bill, charges, CFG))}
    # 451.50 / 48 = 9.40625 (rule 2) and the tax lines in rule order after the charge lines
    assert as_rows[10] == [
        ("Telecom Services", "49.90", "2", "24.95"),
        ("Usage", "451.50", "48", "9.40625"),
        ("Federal USF Surcharge", "38.38", "1", "38.38"),
        ("E911 Fee", "1.50", "1", "1.50"),
    ]


@pytest.mark.parametrize("mode", sorted(MAPPINGS))
def test_built_payloads_pass_both_paths(mode: str) -> None:
    cfg = MAPPINGS[mode]
    bill, charges = bill_and_charges()
    assert staged_invoice_check_failures([bill], charges, cfg).empty
    assert invoice_check_failures([payload_of(bill, charges, cfg)], [bill], charges, cfg).empty
    totals = invoice_frames([bill], charges, cfg).totals.iloc[0]
    assert int(totals["lines_cents"]) + int(totals["total_tax_cents"]) == 54128
    assert int(totals["charge_tax_cents"]) == 150 + 3838


# ----- each rule fails, named by bill and line ----------------------------------------------------------


def failures_for(charges: list[dict[str, Any]], cfg: MappingConfig = CFG, **bill: Any) -> pd.DataFrame:
    base, _ = bill_and_charges()
    fc = staged_invoice_check_failures([{**base, **bill}], charges, cfg)
    assert list(fc.columns) == FAILURE_COLUMNS
    return fc


def only(fc: pd.DataFrame, check: str) -> pd.Series:
    rows = fc[fc["check"] == check]
    assert len(rows) == 1, fc.to_string()
    return rows.iloc[0]


@pytest.mark.parametrize(
    ("change", "schema", "check"),
    [
        ({"amount_cents": 5141}, "ChargeLines", "amount_cents != product_amount_cents + tax_amount_cents"),
        ({"quantity": "-2"}, "ChargeLines", "quantity is not a non-negative decimal number"),
        ({"quantity": "two"}, "ChargeLines", "quantity is not a non-negative decimal number"),
        ({"charge_id": 2}, "ChargeLines", "field_uniqueness"),
    ],
)
def test_staged_charge_rules(change: dict[str, Any], schema: str, check: str) -> None:
    _, charges = bill_and_charges()
    fc = failures_for([{**charges[0], **change}, charges[1]])
    row = fc[fc["check"] == check]
    assert len(row), fc.to_string()
    assert set(row["schema"]) == {schema}
    assert set(row["bill_id"]) == {10}


def test_negative_charge_is_a_negative_line_named_by_bill_and_line() -> None:
    _, charges = bill_and_charges()
    bad = {**charges[1], "product_amount_cents": -45150, "amount_cents": -45150 + 3838}
    fc = failures_for([charges[0], bad], invoice_amount_cents=54128 - 2 * 45150)
    row = only(fc, "amount is negative (negative lines go to credit memos)")
    assert (row["schema"], row["bill_id"], row["column"]) == ("MappedInvoiceLines", 10, "(row)")
    assert "bill_id=10, line_num=2, charge_id=2, line_kind=item, item_name=Usage" in row["failure_case"]
    assert "amount_cents=-45150" in row["failure_case"]
    assert "greater_than_or_equal_to(0)" in checks_of(fc)  # and the staged charge itself


def test_unmapped_product_and_tax_class_are_named() -> None:
    strict = parse_mapping(
        {**yaml.safe_load(CFG.model_dump_json(by_alias=True)),
         "products": {"rules": [{"product_id": 101, "item": "Telecom Services"}]}}
    )  # fmt: skip
    _, charges = bill_and_charges()
    odd_tax = {**charges[0], "tax_class_id": 999}
    fc = failures_for([odd_tax, charges[1]], strict)
    rows = fc[fc["check"] == "line item is not an item of the mapping file"]
    texts = " | ".join(rows["failure_case"])
    assert set(rows["bill_id"]) == {10}
    assert "line_num=2, charge_id=2, line_kind=item, item_name=nan" in texts  # product 201: no rule
    assert "line_num=3, line_kind=item, item_name=nan" in texts  # tax class 999: no tax rule


def test_tax_line_on_a_non_liability_item_fails() -> None:
    accounts = dict(CFG.accounts)
    accounts["Local Telecom Taxes Payable"] = accounts["Usage Revenue"]  # now an Income account
    broken = CFG.model_construct(**{**dict(CFG), "accounts": accounts})
    _, charges = bill_and_charges()
    row = only(failures_for(charges, broken), "tax line's item does not post to a liability account")
    assert row["bill_id"] == 10
    assert "line_num=4, line_kind=tax, item_name=E911 Fee" in row["failure_case"]


def test_bill_totals_rules() -> None:
    _, charges = bill_and_charges()
    row = only(
        failures_for(charges, invoice_amount_cents=54129),
        "invoice lines (+ TotalTax) != Rev.io invoice_amount",
    )
    assert (row["schema"], row["bill_id"]) == ("BillTotals", 10)


def test_revenue_posted_to_a_tax_item_fails_the_totals_in_both_paths() -> None:
    data = yaml.safe_load(CFG.model_dump_json(by_alias=True))
    rules = data["products"]["rules"]
    data["products"]["rules"] = [{"charge_kind": "recurring", "item": "E911 Fee"}, *rules[1:]]
    bad = parse_mapping(data)
    bill, charges = bill_and_charges()
    fc = staged_invoice_check_failures([bill], charges, bad)
    legacy = invoice_check_failures([payload_of(bill, charges, bad)], [bill], charges, bad)
    assert checks_of(fc) == checks_of(legacy) == {"invoice tax != sum of the bill's charge taxes"}
    assert set(fc["bill_id"]) == {10}


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("unit_price_e5", 2496000, "qty * unit_price != amount (QBO error 6070)"),
        ("qty_mantissa", -2, "qty is not a non-negative decimal (negative lines go to credit memos)"),
        ("qty_places", -1, "qty has more than 18 digits (cannot be checked exactly)"),
    ],
)
def test_line_rules_on_a_corrupted_frame(column: str, value: int, check: str) -> None:
    """Rules the mapping cannot break by construction still fail on a frame that breaks them."""
    bill, charges = bill_and_charges()
    frames = invoice_frames([bill], charges, CFG)
    frames.lines.loc[0, column] = value
    row = only(frame_check_failures(frames), check)
    assert (row["schema"], row["bill_id"]) == ("MappedInvoiceLines", 10)
    assert "bill_id=10, line_num=1, charge_id=1" in row["failure_case"]


def test_qty_times_price_exact_beyond_int64() -> None:
    """Products past an int64 are compared with Python ints, not rounded."""
    bill, charges = bill_and_charges()
    frames = invoice_frames([bill], charges, CFG)
    # 3_000_000_000 x 0.00001 = 30000.00 (the int64 fast path cannot multiply 3e9 by 1)
    frames.lines.loc[0, ["qty_mantissa", "qty_places", "unit_price_e5", "amount_cents"]] = [
        3 * 10**9,
        0,
        1,
        3000000,
    ]
    fc = frame_check_failures(frames)
    assert "qty * unit_price != amount (QBO error 6070)" not in checks_of(fc)
    frames.lines.loc[0, "amount_cents"] = 3000001
    assert "qty * unit_price != amount (QBO error 6070)" in checks_of(frame_check_failures(frames))


def test_a_bill_without_an_amount_fails_its_totals_named() -> None:
    _, charges = bill_and_charges()
    fc = failures_for(charges, invoice_amount_cents=None)
    assert set(fc["schema"]) == {"BillTotals"}
    assert set(fc["bill_id"]) == {10}


def test_a_payload_that_differs_from_its_checked_lines_fails_named() -> None:
    bill, charges = bill_and_charges()
    payload = payload_of(bill, charges, CFG)
    same = staged_invoice_check_failures([bill], charges, CFG, payloads={10: payload})
    assert same.empty
    tampered = {**payload, "Line": [{**payload["Line"][0], "Amount": Decimal("1.00")}, *payload["Line"][1:]]}
    fc = staged_invoice_check_failures([bill], charges, CFG, payloads={10: tampered})
    drift = fc[fc["schema"] == "PayloadLines"]
    assert list(drift["bill_id"]) == [10]
    assert "totalling" in drift["failure_case"].iloc[0]
    dropped = {**payload, "Line": payload["Line"][1:]}
    fc = staged_invoice_check_failures([bill], charges, CFG, payloads={10: dropped})
    assert list(fc[fc["schema"] == "PayloadLines"]["bill_id"]) == [10]
