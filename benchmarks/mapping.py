"""Mapping + validation at scale: ``python -m benchmarks.mapping [--sizes 200000,1000000] [--only ...]``.

For each size (charge lines), a fresh child process per path builds the same seeded input (bills of four
staged charges, read first as the invoices step reads ``stg_bills`` / ``stg_charges``; then their invoice
payloads from ``invoice_payload``; default mapping, ``taxes.mode: lines``) and times one path over it:

* ``columnar`` (issue 10 item 4): ``staged_invoice_check_failures`` from the staged rows (the loop's input):
  the charge rows read into integer/object columns, mapped to invoice lines as integer columns by
  vectorized lookups, then the ``ChargeLines``, ``MappedInvoiceLines`` and ``BillTotals`` rules as
  vectorized pandera checks (mapping/frames.py). Its children build no payloads (they do not read them);
* ``columnar_df``: the same from a charges DataFrame built before the clock (``pd.DataFrame(rows)``, timed
  apart as ``to frame``): the convention of the ``checks`` figures;
* ``checks``: the dict path, ``invoice_check_failures`` (flatten the 1.6M payload-line dicts, then the same
  schemas): the "before" of docs/performance.md;
* ``pydantic``: a plain per-record loop doing the same conversion and rules with one pydantic model per
  charge, per payload line and per bill (``Decimal`` fields).

Building the input is not timed. Each path runs once on one bill before the clock starts (pandera imports
its backends, about 0.5 s, on the first validation of a process). Seconds are wall time, "CPU s" the
process CPU time (steadier on a shared machine). Peak RSS is the child's ``ru_maxrss``; "RSS added" is
that peak minus the RSS just before the timed path (the input's own memory excluded). Prints the ratio
against issue 10's goal (>= 20x faster than the loop, RSS added <= 1.5 GB). Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, model_validator

GOAL_RATIO = 20.0
GOAL_RSS_MB = 1536.0
CHARGES_PER_BILL = 4
PATHS = ("columnar", "columnar_df", "checks", "pydantic")
DEFAULT_PATHS = "columnar,columnar_df,pydantic"
CENT = Decimal("0.01")
PRICE_PLACES = Decimal("0.00001")
LIABILITY = {"Other Current Liability", "Long Term Liability"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mapping", description=__doc__)
    parser.add_argument("--sizes", default="200000,1000000", help="charge lines, comma-separated")
    parser.add_argument(
        "--only", default=DEFAULT_PATHS, help="paths to run: columnar,columnar_df,checks,pydantic"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
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
    """One path over the input; the number of failures it found."""
    from revqb_pipeline.mapping.checks import invoice_check_failures, staged_invoice_check_failures

    if path in ("columnar", "columnar_df"):
        return len(staged_invoice_check_failures(bills, charges, cfg))
    if path == "checks":
        return len(invoice_check_failures(payloads, bills, charges, cfg))
    return pydantic_loop(payloads, bills, charges, cfg)


def measure(lines: int, path: str, seed: int) -> dict[str, Any]:
    """Build the input, then time one path over it in this process."""
    import pandas as pd

    t0 = time.perf_counter()
    payloads, bills, charges, cfg = make_inputs(lines, seed, payloads=not path.startswith("columnar"))
    build_s = time.perf_counter() - t0
    first = CHARGES_PER_BILL
    as_frame = path in ("columnar_df", "checks")
    _run(path, payloads[:1], bills[:1], pd.DataFrame(charges[:first]) if as_frame else charges[:first], cfg)
    to_frame_s = 0.0
    charge_input: Any = charges
    if as_frame:
        t1 = time.perf_counter()
        charge_input = pd.DataFrame(charges)
        to_frame_s = time.perf_counter() - t1
    del charges
    rss0 = _rss_mb()
    c0, t2 = time.process_time(), time.perf_counter()
    failures = _run(path, payloads, bills, charge_input, cfg)
    took, cpu = time.perf_counter() - t2, time.process_time() - c0
    peak = _peak_mb()
    return {
        "lines": lines,
        "path": path,
        "payload_lines": sum(len(p["Line"]) for p in payloads) if payloads else None,
        "build_s": build_s,
        "to_frame_s": to_frame_s,
        "seconds": took,
        "cpu_s": cpu,
        "failures": failures,
        "peak_rss_mb": peak,
        "rss_added_mb": peak - rss0,
    }


def run_child(lines: int, path: str, seed: int) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (its own peak RSS)."""
    cmd = [sys.executable, "-m", "benchmarks.mapping", "--child", f"{lines}:{path}", "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{lines:,} lines, {path}: the child failed\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[dict[str, Any]]) -> None:
    """Print one row per (size, path) and the ratios against the goal."""
    print("\n== Mapping + validation of charge lines (one fresh process per size and path) ==", flush=True)
    print(f"  {'lines':>9} {'path':>11} {'seconds':>8} {'CPU s':>7} {'lines/s':>10} {'to frame s':>10} "
          f"{'peak RSS MB':>11} {'RSS added MB':>12} {'failures':>8}")  # fmt: skip
    for r in results:
        print(
            f"  {r['lines']:>9,} {r['path']:>11} {r['seconds']:>8.2f} {r['cpu_s']:>7.2f} "
            f"{r['lines'] / r['seconds']:>10,.0f} {r['to_frame_s']:>10.2f} {r['peak_rss_mb']:>11.0f} "
            f"{r['rss_added_mb']:>12.0f} {r['failures']:>8}"
        )
    for lines in sorted({r["lines"] for r in results}):
        by = {r["path"]: r for r in results if r["lines"] == lines}
        print(f"  {lines:,} lines: input build (not timed) " + ", ".join(
            f"{p} {r['build_s']:.1f} s" for p, r in by.items()))  # fmt: skip
        loop = by.get("pydantic")
        for path in ("columnar", "columnar_df", "checks"):
            if path not in by or loop is None:
                continue
            r = by[path]
            speedup, cpu_speedup = loop["seconds"] / r["seconds"], loop["cpu_s"] / r["cpu_s"]
            ok = speedup >= GOAL_RATIO and r["rss_added_mb"] <= GOAL_RSS_MB
            print(
                f"  {lines:,} lines: {path} is x{speedup:.1f} the speed of the pydantic loop "
                f"(CPU x{cpu_speedup:.1f}; goal >= x{GOAL_RATIO:g}), RSS added {r['rss_added_mb']:.0f} MB "
                f"(goal <= {GOAL_RSS_MB:.0f}) -> {'met' if ok else 'MISSED'}"
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
        print(json.dumps(measure(int(lines), path, args.seed)), flush=True)
        return 0
    paths = [p for p in args.only.split(",") if p in PATHS]
    results = []
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        for path in paths:
            print(f"  {n:,} lines, {path} ...", flush=True)
            results.append(run_child(n, path, args.seed))
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
