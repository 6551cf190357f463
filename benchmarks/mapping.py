"""Mapping + validation at scale: ``python -m benchmarks.mapping [--sizes 200000,1000000] [--only ...]``.

For each size (charge lines), a fresh child process per path builds the same seeded input (bills of four
staged charges; their invoice payloads from ``invoice_payload``; default mapping, ``taxes.mode: lines``) and
times one path over it. Every path ends at the same place (the failures of the ``invoice_lines_valid``
rules: staged charges, mapped invoice lines, bill totals); they differ in where they start:

from the staged rows in memory (the dicts the invoices step holds to build the payloads):

* ``columnar`` (issue 10 item 4): ``staged_invoice_check_failures(bills, charges)`` over the row dicts: the
  rows read column by column (``frames.charge_rows_frame``), mapped to invoice lines as integer columns,
  then the ``ChargeLines`` / ``MappedInvoiceLines`` / ``BillTotals`` rules as vectorized pandera checks;
* ``pydantic``: a plain per-record loop doing the same conversion and rules with one pydantic model per
  charge, per payload line and per bill (``Decimal`` fields), over the rows and the built payloads;

from the staging database (a SQLite file with the partition's ``stg_bills`` / ``stg_charges``, written
before the clock; "read s" is the read, "check s" the rest, the ratio compares read + check):

* ``columnar_db``: ``staging.charges_frame.bill_columns`` / ``charge_columns`` (the partition's bills and
  charges from the cursor into int64 / categorical columns, no dict per row), then the same checks;
* ``pydantic_db``: the invoices step's read (``StagingStore.rows("stg_bills")`` + ``rows_in("stg_charges")``:
  one dict per row), then the loop (its payloads are built before the clock, as the step has them);

and two more, not like with like: ``columnar_df`` (the checks from a charges DataFrame built before the
clock with ``pd.DataFrame(rows)``, timed apart as "to frame") and ``checks`` (the dict path,
``invoice_check_failures`` over the 1.6M payload-line dicts: the "before" of docs/performance.md).

Building the input is not timed. Each path runs once on one bill before the clock starts (pandera imports
its backends, about 0.5 s, on the first validation of a process). Seconds are wall time, "CPU s" the
process CPU time of read + check (steadier on a shared machine). Peak RSS is the child's ``ru_maxrss``;
"RSS added" is that peak minus the RSS just before the timed part (the input's own memory excluded). Prints
the ratio against issue 10's goal (>= 20x faster than the loop, peak RSS <= 1.5 GB). Nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, model_validator

GOAL_RATIO = 20.0
GOAL_RSS_MB = 1536.0
CHARGES_PER_BILL = 4
PATHS = ("columnar", "columnar_db", "columnar_df", "checks", "pydantic", "pydantic_db")
DEFAULT_PATHS = "columnar,columnar_db,pydantic,pydantic_db"
PAIRS = {
    "columnar": "pydantic",
    "columnar_db": "pydantic_db",
    "columnar_df": "pydantic",
    "checks": "pydantic",
}
DAY = "2026-01-01"
CENT = Decimal("0.01")
PRICE_PLACES = Decimal("0.00001")
LIABILITY = {"Other Current Liability", "Long Term Liability"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mapping", description=__doc__)
    parser.add_argument("--sizes", default="200000,1000000", help="charge lines, comma-separated")
    parser.add_argument(
        "--only", default=DEFAULT_PATHS, help=f"paths to run, comma-separated, of {','.join(PATHS)}"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", default=None, help=argparse.SUPPRESS)
    return parser


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----- input ------------------------------------------------------------------------------------------


def make_inputs(
    lines: int, seed: int, payloads: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], Any]:
    """(payloads, bills, charges, cfg): ``lines`` staged charges in bills of four, then (unless
    ``payloads`` is False) one payload per bill, built after all rows as the invoices step does."""
    from revqb_pipeline.entities.invoices.mapping import invoice_payload
    from revqb_pipeline.entities.invoices.sync import symbolic_item_refs
    from revqb_pipeline.mapping.config import load_mapping

    cfg = load_mapping(None)
    refs = symbolic_item_refs(cfg)
    rng = random.Random(seed)
    kinds = ((101, 10, "recurring", 302), (201, 20, "usage", 101), (101, 10, "recurring", 201))
    bills: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    for b in range(lines // CHARGES_PER_BILL):
        bill_id, customer_id = 100_000 + b, 1 + b % 5000
        mine = []
        for k in range(CHARGES_PER_BILL):
            pid, ptid, kind, tax_class = kinds[rng.randrange(3)]
            qty = rng.randint(1, 60)
            rate_c = rng.randint(5, 9999)
            product_c = qty * rate_c if kind == "recurring" else rng.randint(1, 90000)
            tax_c = rng.randint(0, product_c // 8)
            mine.append(
                {
                    "charge_id": bill_id * 10 + k,
                    "bill_id": bill_id,
                    "customer_id": customer_id,
                    "product_id": pid,
                    "product_type_id": ptid,
                    "charge_kind": kind,
                    "quantity": str(qty),
                    "rate": str(Decimal(rate_c) / 100) if kind == "recurring" else None,
                    "product_amount_cents": product_c,
                    "tax_amount_cents": tax_c,
                    "amount_cents": product_c + tax_c,
                    "tax_class_id": tax_class,
                    "geocode": "US130890000",
                }
            )
        bills.append(
            {
                "bill_id": bill_id,
                "customer_id": customer_id,
                "bill_date": "2026-01-01",
                "invoice_amount_cents": sum(c["amount_cents"] for c in mine),
            }
        )
        charges.extend(mine)
    built = []
    for i, bill in enumerate(bills if payloads else []):
        mine = charges[i * CHARGES_PER_BILL : (i + 1) * CHARGES_PER_BILL]
        built.append(
            invoice_payload(bill, mine, customer_ref=str(bill["customer_id"]), item_refs=refs, cfg=cfg)
        )
    return built, bills, charges, cfg


def write_staging_db(path: Path, lines: int, seed: int) -> None:
    """The input's bills and charges as the partition ``DAY`` of a SQLite staging database at ``path``."""
    from revqb_pipeline.staging.db import create_schema, make_engine, stg_bills, stg_charges

    _, bills, charges, _ = make_inputs(lines, seed, payloads=False)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    engine.dispose()
    extra = {"partition_key": DAY, "record_hash": "-", "raw_json": "{}", "updated_at": "2026-01-01 00:00:00"}
    with sqlite3.connect(path) as con:
        for table, rows in ((stg_bills, bills), (stg_charges, charges)):
            cols = [*rows[0], *extra]
            sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            con.executemany(sql, ((*r.values(), *extra.values()) for r in rows))


# ----- the per-record pydantic loop (baseline) --------------------------------------------------------


class _Charge(BaseModel):
    charge_id: int
    bill_id: int
    product_amount_cents: int
    tax_amount_cents: int
    amount_cents: int
    quantity: Decimal

    @model_validator(mode="after")
    def _rules(self) -> _Charge:
        if self.product_amount_cents < 0 or self.quantity < 0:
            raise ValueError("negative charge")
        if self.amount_cents != self.product_amount_cents + self.tax_amount_cents:
            raise ValueError("amount_cents != product_amount_cents + tax_amount_cents")
        return self


class _Line(BaseModel):
    bill_id: int
    doc_number: str
    item_name: str
    item_ref: str
    amount: Decimal
    qty: Decimal
    unit_price: Decimal
    account_type: str | None
    is_tax: bool

    @model_validator(mode="after")
    def _rules(self) -> _Line:
        if not 1 <= len(self.doc_number) <= 21 or not self.item_name or not self.item_ref:
            raise ValueError("bad line")
        if self.amount != self.amount.quantize(CENT) or self.amount < 0 or self.qty < 0:
            raise ValueError("amount is not a whole number of non-negative cents")
        if self.unit_price != self.unit_price.quantize(PRICE_PLACES):
            raise ValueError("unit_price has more than 5 places")
        if self.qty * self.unit_price != self.amount:
            raise ValueError("qty * unit_price != amount")
        if self.is_tax and self.account_type not in LIABILITY:
            raise ValueError("tax line's item does not post to a liability account")
        return self

    @property
    def cents(self) -> int:
        return int(self.amount * 100)


class _Bill(BaseModel):
    bill_id: int
    lines_cents: int
    tax_lines_cents: int
    invoice_amount_cents: int
    charge_tax_cents: int

    @model_validator(mode="after")
    def _rules(self) -> _Bill:
        if self.lines_cents != self.invoice_amount_cents or self.tax_lines_cents != self.charge_tax_cents:
            raise ValueError("bill totals")
        return self


def pydantic_loop(
    payloads: Sequence[Mapping[str, Any]], bills: Sequence[Mapping[str, Any]], charges: Any, cfg: Any
) -> int:
    """The same conversion and rules, one pydantic model per record; returns the number of failures."""
    failures = 0
    tax_items = set(cfg.tax_item_names())
    charge_tax: dict[int, int] = {}
    for ch in charges:
        try:
            c = _Charge.model_validate(ch)
        except ValueError:
            failures += 1
            continue
        charge_tax[c.bill_id] = charge_tax.get(c.bill_id, 0) + c.tax_amount_cents
    amounts = {int(b["bill_id"]): int(b["invoice_amount_cents"]) for b in bills}
    marker = cfg.invoice.bill_note_marker
    for payload in payloads:
        bill_id = int(str(payload["PrivateNote"])[len(marker) :])
        total = tax = 0
        for line in payload["Line"]:
            detail = line["SalesItemLineDetail"]
            name = detail["ItemRef"]["name"]
            item = cfg.items.get(name)
            account = cfg.accounts.get(item.income_account) if item is not None else None
            try:
                ln = _Line(
                    bill_id=bill_id,
                    doc_number=payload["DocNumber"],
                    item_name=name if item is not None else "",
                    item_ref=detail["ItemRef"]["value"],
                    amount=line["Amount"],
                    qty=detail["Qty"],
                    unit_price=detail["UnitPrice"],
                    account_type=account.type if account is not None else None,
                    is_tax=name in tax_items,
                )
            except ValueError:
                failures += 1
                continue
            total += ln.cents
            tax += ln.cents if ln.is_tax else 0
        try:
            _Bill(
                bill_id=bill_id,
                lines_cents=total,
                tax_lines_cents=tax,
                invoice_amount_cents=amounts[bill_id],
                charge_tax_cents=charge_tax.get(bill_id, 0),
            )
        except ValueError:
            failures += 1
    return failures


# ----- one measurement per child ----------------------------------------------------------------------


def _run(path: str, payloads: Any, bills: Any, charges: Any, cfg: Any) -> int:
    """One path's check over its input; the number of failures it found."""
    from revqb_pipeline.mapping.checks import invoice_check_failures, staged_invoice_check_failures

    if path.startswith("columnar"):
        return len(staged_invoice_check_failures(bills, charges, cfg))
    if path == "checks":
        return len(invoice_check_failures(payloads, bills, charges, cfg))
    return pydantic_loop(payloads, bills, charges, cfg)


def _read(path: str, db: str) -> tuple[Any, Any]:
    """(bills, charges) of the partition from the staging DB, as the path reads them."""
    from revqb_pipeline.staging.charges_frame import bill_columns, charge_columns
    from revqb_pipeline.staging.db import make_engine
    from revqb_pipeline.staging.store import StagingStore

    engine = make_engine(f"sqlite:///{db}")
    try:
        if path == "columnar_db":
            return bill_columns(engine, DAY), charge_columns(engine, DAY)
        store = StagingStore(engine)
        bills = store.rows("stg_bills", partition_key=DAY)
        return bills, store.rows_in("stg_charges", "bill_id", [b["bill_id"] for b in bills])
    finally:
        engine.dispose()


def measure(lines: int, path: str, seed: int, db: str | None = None) -> dict[str, Any]:
    """Build the input, then time one path over it in this process."""
    import pandas as pd

    t0 = time.perf_counter()
    with_payloads = not path.startswith("columnar")
    # columnar_db reads everything from the DB: its child builds only one bill (for the untimed first run)
    built = CHARGES_PER_BILL if path == "columnar_db" else lines
    payloads, bills, charges, cfg = make_inputs(built, seed, payloads=with_payloads)
    build_s = time.perf_counter() - t0
    first = CHARGES_PER_BILL
    as_frame = path in ("columnar_df", "checks", "columnar_db")
    _run(path, payloads[:1], bills[:1], pd.DataFrame(charges[:first]) if as_frame else charges[:first], cfg)
    to_frame_s = 0.0
    charge_input: Any = charges
    if path in ("columnar_df", "checks"):
        t1 = time.perf_counter()
        charge_input = pd.DataFrame(charges)
        to_frame_s = time.perf_counter() - t1
    del charges
    if path.endswith("_db"):
        bills = charge_input = None
    rss0 = _rss_mb()
    c0, t2 = time.process_time(), time.perf_counter()
    read_s = 0.0
    if db is not None and path.endswith("_db"):
        bills, charge_input = _read(path, db)
        read_s = time.perf_counter() - t2
    failures = _run(path, payloads, bills, charge_input, cfg)
    took, cpu = time.perf_counter() - t2, time.process_time() - c0
    peak = _peak_mb()
    return {
        "lines": lines,
        "path": path,
        "payload_lines": sum(len(p["Line"]) for p in payloads) if payloads else None,
        "build_s": build_s,
        "to_frame_s": to_frame_s,
        "read_s": read_s,
        "seconds": took,
        "cpu_s": cpu,
        "failures": failures,
        "peak_rss_mb": peak,
        "rss_added_mb": peak - rss0,
    }


def run_child(lines: int, path: str, seed: int, db: Path | None = None) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (its own peak RSS)."""
    cmd = [sys.executable, "-m", "benchmarks.mapping", "--child", f"{lines}:{path}", "--seed", str(seed)]
    if db is not None:
        cmd += ["--db", str(db)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lines:,} lines, {path}: the child failed\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict[str, Any]]) -> None:
    """Print one row per (size, path) and the ratios against the goal."""
    print("\n== Mapping + validation of charge lines (one fresh process per size and path) ==", flush=True)
    print(f"  {'lines':>9} {'path':>11} {'read s':>7} {'check s':>7} {'total s':>7} {'CPU s':>7} "
          f"{'lines/s':>10} {'to frame s':>10} {'peak RSS MB':>11} {'RSS added MB':>12} "
          f"{'failures':>8}")  # fmt: skip
    for r in results:
        print(
            f"  {r['lines']:>9,} {r['path']:>11} {r['read_s']:>7.2f} {r['seconds'] - r['read_s']:>7.2f} "
            f"{r['seconds']:>7.2f} {r['cpu_s']:>7.2f} {r['lines'] / r['seconds']:>10,.0f} "
            f"{r['to_frame_s']:>10.2f} {r['peak_rss_mb']:>11.0f} {r['rss_added_mb']:>12.0f} "
            f"{r['failures']:>8}"
        )
    for lines in sorted({r["lines"] for r in results}):
        by = {r["path"]: r for r in results if r["lines"] == lines}
        print(f"  {lines:,} lines: input build (not timed) " + ", ".join(
            f"{p} {r['build_s']:.1f} s" for p, r in by.items()))  # fmt: skip
        for path, base in PAIRS.items():
            r, loop = by.get(path), by.get(base)
            if r is None or loop is None:
                continue
            speedup, cpu_speedup = loop["seconds"] / r["seconds"], loop["cpu_s"] / r["cpu_s"]
            ok = speedup >= GOAL_RATIO and r["peak_rss_mb"] <= GOAL_RSS_MB
            print(
                f"  {lines:,} lines: {path} is x{speedup:.1f} the speed of {base} "
                f"(CPU x{cpu_speedup:.1f}; goal >= x{GOAL_RATIO:g}), peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(goal <= {GOAL_RSS_MB:.0f}) -> {'met' if ok else 'MISSED'}"
            )
            if path == "columnar_db":
                checks = (loop["seconds"] - loop["read_s"]) / (r["seconds"] - r["read_s"])
                print(
                    f"  {lines:,} lines: the check alone (after each path's read): x{checks:.1f}; "
                    f"reads {r['read_s']:.2f} s (columns) vs {loop['read_s']:.2f} s (dicts)"
                )
            if path == "columnar_df":
                with_frame = loop["seconds"] / (r["seconds"] + r["to_frame_s"])
                print(
                    f"  {lines:,} lines: columnar_df with pd.DataFrame(rows) counted "
                    f"(+{r['to_frame_s']:.2f} s): x{with_frame:.1f}"
                )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child is not None:
        lines, path = args.child.split(":")
        print(json.dumps(measure(int(lines), path, args.seed, args.db)), flush=True)
        return 0
    paths = [p for p in args.only.split(",") if p in PATHS]
    results = []
    with tempfile.TemporaryDirectory(prefix="revqb-bench-mapping-") as tmp:
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            db = None
            if any(p.endswith("_db") for p in paths):
                db = Path(tmp) / f"staging-{n}.db"
                t0 = time.perf_counter()
                write_staging_db(db, n, args.seed)
                print(f"  {n:,} lines: staging DB written in {time.perf_counter() - t0:.1f} s", flush=True)
            for path in paths:
                print(f"  {n:,} lines, {path} ...", flush=True)
                results.append(run_child(n, path, args.seed, db if path.endswith("_db") else None))
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
