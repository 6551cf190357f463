"""Issue 12, bad input over the sandboxes (property-based): one field of one of the day's Rev.io records
(bill, charge, payment, credit, customer, product, product type) is overwritten through the sandbox's raw
admin endpoint, and the day runs through the Dagster sync job (extract -> stage -> payload -> checks -> load).

For every source record of the day the only outcomes allowed are "synced" or "quarantined / waiting with a
reason"; no step fails; and every record that synced agrees with QBO to the cent. One sandbox pair, one
staging database and one QBO company serve every example (the Rev.io sandbox is reset before each), so the
examples also re-run the pipeline over what earlier examples left in QBO and in the ledger.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from revqb_pipeline.money import MoneyError, to_cents
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.stage import record_id_of
from revqb_pipeline_tests._harness import Pipeline, pipeline

pytestmark = pytest.mark.slow

DAY = "2026-01-01"
ENTERED = f"{DAY}T20:00:00"
PARKED = (LedgerStatus.QUARANTINED, LedgerStatus.WAITING)
DONE = (LedgerStatus.SYNCED, LedgerStatus.VOIDED)
TABLE_PK = {
    "bills": "bill_id",
    "charges": "charge_id",
    "payments": "payment_id",
    "credits": "credit_memo_id",
    "customers": "customer_id",
    "products": "product_id",
    "product_types": "product_type_id",
}
# The sandbox sorts every listing by primary key and filters on bill_id / customer_id: a primary key that is
# not an int, or NaN / Infinity / a list in a filtered field, makes the sandbox itself answer 500 / 400 (which
# the pipeline rightly treats as the API failing). So primary keys are not corrupted here (the pure property
# test corrupts them) and filtered fields get only finite scalars.
FILTERED = {"bill_id", "customer_id", "created_date", "updated_date"}
FIELDS = {
    "bills": [
        "invoice_amount",
        "customer_id",
        "created_date",
        "due_date",
        "is_reversed",
        "credit_memo_amount",
    ],
    "charges": ["amount", "product_id", "product_type_id", "quantity", "tax_amount", "bill_id"],
    "payments": ["amount", "method", "bill_id", "received_date", "refund_flag", "customer_id"],
    "credits": ["amount", "atype", "bill_id", "tax_amount", "quantity"],
    "customers": ["billing_address", "finance", "email", "status", "fields"],
    "products": ["product_type_id", "description", "active", "rate"],
    "product_types": ["product_type_code", "one_time_flag", "description"],
}
NAN, INF = float("nan"), float("inf")
SCALARS: list[Any] = [
    "abc",
    "",
    None,
    True,
    NAN,
    INF,
    -INF,
    12.345,
    "12.345",
    "NaN",
    -5,
    0,
    2**64,
    1e300,
    "1e999999",
    "2026-13-01",
    "31/02/2024",
    "a\x00b",
    "x" * 3000,
]
SHAPES: list[Any] = [[], [1, 2], {}, {"a": 1}]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp: Path = tmp_path_factory.mktemp("bad_input_sandbox")
    with pipeline(f"sqlite:///{tmp / 'revqb.db'}", tmp, customers=4, seed=21) as p:
        yield p


def prepare_day(p: Pipeline) -> dict[str, list[dict[str, Any]]]:
    """Reset Rev.io; add a payment and a credit entered on the day, on the day's first bill; return the
    day's records by table."""
    p.revio_admin("reset", {})
    now = p.revio_admin("clock", method="GET")["now"]
    bills = sorted(
        (b for b in p.revio().iter_records("Bills") if str(b["created_date"])[:10] == DAY),
        key=lambda b: int(b["bill_id"]),
    )
    first = bills[0]
    p.revio_admin("clock", {"now": ENTERED})
    p.revio_admin(
        "payments", {"customer_id": first["customer_id"], "bill_id": first["bill_id"], "amount": "7.00"}
    )
    p.revio_admin(
        "credits", {"customer_id": first["customer_id"], "bill_id": first["bill_id"], "amount": "3.00"}
    )
    p.revio_admin("clock", {"now": now})
    return day_records(p)


def day_records(p: Pipeline) -> dict[str, list[dict[str, Any]]]:
    """The day's records as Rev.io holds them now (read through the API)."""
    rv = p.revio()
    bills = [b for b in rv.iter_records("Bills") if str(b.get("created_date"))[:10] == DAY]
    bill_ids = [b["bill_id"] for b in bills]
    customer_ids = {b.get("customer_id") for b in bills}
    charges = [c for bid in bill_ids for c in rv.charges(bill_id=bid)]
    on_day = [("payments", rv.iter_records("Payments")), ("credits", rv.iter_records("Credits"))]
    out: dict[str, list[dict[str, Any]]] = {"bills": bills, "charges": charges}
    for table, records in on_day:
        out[table] = [
            r for r in records if str(r.get("created_date"))[:10] == DAY or r.get("bill_id") in bill_ids
        ]
    out["customers"] = [c for c in rv.iter_records("Customers") if c.get("customer_id") in customer_ids]
    out["products"] = list(rv.products())
    out["product_types"] = list(rv.product_types())
    return out


def overwrite(p: Pipeline, table: str, rid: Any, field: str, value: Any) -> None:
    body = json.dumps({field: value}, allow_nan=True)
    r = httpx.post(
        f"{p.sb.revio_url}/_admin/records/{table}/{rid}",
        content=body.encode(),
        headers={"content-type": "application/json"},
    )
    r.raise_for_status()


@st.composite
def corruption(draw: st.DrawFn) -> tuple[str, int, str, Any]:
    """(table, index among the day's records of that table, field, new value)."""
    table = draw(st.sampled_from(sorted(TABLE_PK)))
    idx = draw(st.integers(min_value=0, max_value=3))
    field = draw(st.sampled_from(FIELDS[table]))
    finite = [v for v in SCALARS if not (isinstance(v, float) and not math.isfinite(v))]
    pool = finite if field in FILTERED else SCALARS + SHAPES
    value = draw(st.one_of(st.sampled_from(pool), st.text(max_size=8), st.integers(-(10**20), 10**20)))
    if field in FILTERED and isinstance(value, str):
        value = value.replace(",", ";")  # a comma in a filter value means "any of" to the sandbox
    return table, idx, field, value


def reason_of(p: Pipeline, source_type: str, sid: str) -> tuple[LedgerStatus | None, str]:
    row = p.runtime().ledger.get(source_type, sid)
    return (row.status, row.last_error or "") if row else (None, "")


def cents(value: Any) -> int | None:
    try:
        return abs(to_cents(value))
    except MoneyError:
        return None


def assert_outcomes(p: Pipeline, records: dict[str, list[dict[str, Any]]]) -> None:
    """Every record of the day: synced (and equal in QBO to the cent) or parked with a reason."""
    rt = p.runtime()
    staged_charges = {str(r["charge_id"]) for r in rt.store.rows("stg_charges")}
    for ch in records["charges"]:
        sid = record_id_of(ch, "charge_id")
        status, why = reason_of(p, "charge", sid)
        # a clean charge is staged; its ledger row exists only if an earlier example quarantined it, and
        # then the clean read resolved it (synced)
        clean = status in (None, LedgerStatus.SYNCED) and sid in staged_charges
        assert clean or (status in PARKED and why.strip()), (ch, status)
    for table, source_type, entity, amount_field in (
        ("bills", "bill", "Invoice", "invoice_amount"),
        ("payments", "payment", "Payment", "amount"),
        ("credits", "credit", "CreditMemo", "amount"),
        ("customers", "customer", None, None),
    ):
        for rec in records[table]:
            sid = record_id_of(rec, TABLE_PK[table])
            status, why = reason_of(p, source_type, sid)
            if status in PARKED:
                assert why.strip(), (table, sid)
                continue
            if table == "bills" and status is None and rec.get("is_reversed") is True:
                continue  # a reversed bill that never reached QBO: nothing to post
            assert status in DONE, (table, sid, status, why)
            row = rt.ledger.get(source_type, sid)
            plain = not any(rec.get(k) for k in ("refund_flag", "bounced", "original_payment_id"))
            if entity and status == LedgerStatus.SYNCED and row and row.qbo_id and plain:
                qbo = rt.qbo.read(entity, row.qbo_id)
                assert to_cents(qbo["TotalAmt"]) == cents(rec.get(amount_field)), (
                    table,
                    sid,
                    qbo["TotalAmt"],
                )


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example is a whole sync run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=corruption())
def test_one_corrupted_field_over_the_sandboxes_syncs_or_quarantines_with_a_reason(
    pipe: Pipeline, case: tuple[str, int, str, Any]
) -> None:
    from revqb_pipeline.definitions import defs

    table, idx, field, value = case
    records = prepare_day(pipe)
    target = records[table][idx % len(records[table])]
    overwrite(pipe, table, target[TABLE_PK[table]], field, value)
    job = defs().resolve_job_def("revqb_sync_job")
    result = job.execute_in_process(partition_key=DAY, instance=pipe.instance, raise_on_error=False)
    failures = [e.step_key for e in result.all_events if e.is_step_failure]
    assert result.success and not failures, (case, failures)
    assert_outcomes(pipe, day_records(pipe))
