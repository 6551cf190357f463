"""Mapping checks (pure, no I/O): what the Rev.io data needs that the mapping file lacks, and the
mapping-aware pandera rules the blocking ``invoice_lines_valid`` asset check runs before anything is posted.

Completeness (``mapping_completeness`` / ``completeness_from_revio``): products, product types, tax classes
(+ the state taken from the geocode), credit types and payment methods the data uses but the mapping cannot
place, each named with the ``MappingMissing`` message (the same text a quarantined record carries).

Payload rules (``invoice_check_failures``), each backed by a pandera schema:

* ``ChargeLines`` (staging): charge ids unique, amount = product + tax, no negative product amount;
* ``MappedInvoiceLines`` (payload): every line maps to an item of the mapping file with a QBO item id; every
  tax line's item posts to a liability account; amounts are whole cents; Qty x UnitPrice = Amount;
  no negative line, price or quantity;
* ``BillTotals``: tax lines (+ ``TotalTax``) = Σ the bill's charge taxes; lines (+ ``TotalTax``) = the bill
  total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from revqb_pipeline.mapping.config import LIABILITY_TYPES, MappingConfig, jurisdiction_of
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.frames import frame_check_failures, invoice_frames
from revqb_pipeline.mapping.normalize import (
    normalize_charge,
    normalize_credit,
    normalize_payment,
    normalize_product,
    normalize_product_type,
)
from revqb_pipeline.mapping.schemas import (
    BillTotals,
    ChargeLines,
    InvoicePayloadLines,
    bill_totals_from_lines,
    invoice_lines_frame,
    non_negative,
)
from revqb_pipeline.money import to_cents

Row = Mapping[str, Any]
MAX_EXAMPLES = 5

# ----- completeness -----------------------------------------------------------------------------------


@dataclass
class Need:
    """One thing the mapping lacks. ``records`` counts the current Rev.io records that need it (0: it is
    only in the Rev.io catalog so far); ``message`` says what to add to the mapping file."""

    kind: str
    key: str
    message: str
    records: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return self.records > 0

    def add(self, example: str) -> None:
        self.records += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "records": self.records,
            "examples": list(self.examples),
        }


@dataclass
class CompletenessReport:
    """Everything ``revqb mappings check`` prints; ``ok()`` is the exit status."""

    missing: list[Need] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def failing(self, strict: bool = False) -> list[Need]:
        """Needs of current records (and, with ``strict``, catalog entries not used yet)."""
        return [n for n in self.missing if n.used or strict]

    def ok(self, strict: bool = False) -> bool:
        return not self.failing(strict) and not self.problems

    def as_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": self.ok(strict),
            "missing": [n.as_dict() for n in self.missing],
            "problems": list(self.problems),
            "notes": list(self.notes),
            "unreadable": list(self.unreadable),
            "checked": dict(self.checked),
        }

    def format(self, strict: bool = False, verbose: bool = False) -> str:
        """Plain text for the terminal, the failing entries first."""
        checked = ", ".join(f"{v} {k}" for k, v in self.checked.items())
        out = [f"checked {checked}" if checked else "nothing to check"]
        failing = self.failing(strict)
        if failing:
            out.append(f"\nMISSING from the mapping file ({len(failing)}):")
            for n in failing:
                used = f"{n.records} record(s), e.g. {', '.join(n.examples)}" if n.used else "catalog only"
                out.append(f"  - [{n.kind} {n.key}] {n.message}\n      needed by {used}")
        later = [n for n in self.missing if n not in failing]
        if later:
            out.append(f"\nIn the Rev.io catalog but not used yet ({len(later)}; --strict makes these fail):")
            out.extend(f"  - [{n.kind} {n.key}] {n.message}" for n in later)
        if self.problems:
            out.append(f"\nMapping problems ({len(self.problems)}):")
            out.extend(f"  - {p}" for p in self.problems)
        if self.unreadable:
            out.append(
                f"\nRecords that cannot be read ({len(self.unreadable)}; they are quarantined on sync):"
            )
            out.extend(f"  - {u}" for u in self.unreadable[: 20 if not verbose else None])
        if self.notes and verbose:
            out.append("\nNotes:")
            out.extend(f"  - {n}" for n in self.notes)
        elif self.notes:
            out.append(f"\n{len(self.notes)} note(s) about catch-all rules (--verbose lists them)")
        out.append(
            "\nOK: the mapping covers the Rev.io data." if self.ok(strict) else "\nNOT OK (see above)."
        )
        return "\n".join(out)


class _Collector:
    def __init__(self) -> None:
        self.needs: dict[tuple[str, str], Need] = {}

    def missing(self, exc: MappingMissing, example: str | None) -> None:
        key = _key_text(exc.key)
        need = self.needs.setdefault((exc.kind, key), Need(exc.kind, key, exc.message))
        if example is not None:
            need.add(example)


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return "/".join(str(k) for k in key)
    return "" if key is None else str(key)


def _int(value: Any) -> int | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return int(value)


def mapping_problems(cfg: MappingConfig) -> list[str]:
    """Mapping mistakes the file format allows: revenue posted through a tax item or a liability account."""
    problems: list[str] = []
    tax_items = set(cfg.tax_item_names())

    def check(where: str, item: str | None) -> None:
        if item is None or item not in cfg.items:
            return
        account = cfg.items[item].income_account
        acct = cfg.accounts.get(account)
        if item in tax_items:
            problems.append(
                f"{where}: charges are posted to tax item {item!r}; revenue would be booked as tax owed "
                f"(and the invoice's tax would no longer match Rev.io's)"
            )
        elif acct is not None and acct.type in LIABILITY_TYPES:
            problems.append(
                f"{where}: item {item!r} posts to liability account {account!r}; revenue items need an "
                "income account"
            )

    for i, rule in enumerate(cfg.products.rules):
        check(f"products.rules[{i}]", rule.item)
    check("products.default_item", cfg.products.default_item)
    return problems


def mapping_completeness(
    cfg: MappingConfig,
    *,
    products: Sequence[Row] = (),
    product_types: Sequence[Row] = (),
    charges: Sequence[Row] = (),
    credits: Sequence[Row] = (),
    payments: Sequence[Row] = (),
    payment_methods: Sequence[str] = (),
    credit_errors: Mapping[str, MappingMissing] | None = None,
) -> CompletenessReport:
    """What ``cfg`` lacks for these staged-shape rows (``stg_products``, ``stg_product_types``,
    ``stg_charges``, ``stg_credits``, ``stg_payments``) plus Rev.io payment method codes from the catalog.

    ``credit_errors`` maps a credit label to the ``MappingMissing`` its normalisation raised (an unknown
    credit type). Tax rules are only needed in ``taxes.mode: lines``.
    """
    report = CompletenessReport(problems=mapping_problems(cfg))
    found = _Collector()
    types = {int(t["product_type_id"]): t for t in product_types}
    prods = {int(p["product_id"]): p for p in products}
    lines_mode = cfg.taxes.mode == "lines"

    # products and product types: every charge, then every active catalog product not billed yet
    billed: set[int] = set()
    catch_all: dict[int, str] = {}
    for ch in charges:
        label = f"charge {ch.get('charge_id')} (bill {ch.get('bill_id')})"
        pid = _int(ch.get("product_id"))
        try:
            rule = cfg.item_for_charge(ch, types, prods)
        except MappingMissing as exc:
            found.missing(exc, label)
        else:
            if pid is not None and rule.matched_on in ("charge_kind", "default"):
                catch_all[pid] = f"{rule.matched_on} -> item {rule.item!r}"
        if pid is not None:
            billed.add(pid)
        tax_c = int(ch.get("tax_amount_cents") or 0)
        if tax_c and lines_mode:
            _tax_need(cfg, found, report, ch, label)
    for pid, product in sorted(prods.items()):
        if pid in billed or not product.get("active", True):
            continue
        ptype = types.get(_int(product.get("product_type_id")) or -1)
        row = {
            "product_id": pid,
            "product_type_id": product.get("product_type_id"),
            "charge_kind": (ptype or {}).get("charge_kind"),
        }
        try:
            rule = cfg.item_for_charge(row, types, prods)
        except MappingMissing as exc:
            found.missing(exc, None)
        else:
            if rule.matched_on in ("charge_kind", "default"):
                catch_all[pid] = f"{rule.matched_on} -> item {rule.item!r}"
    for pid, how in sorted(catch_all.items()):
        desc = (prods.get(pid) or {}).get("description") or ""
        report.notes.append(f"product {pid} {desc!r} has no specific rule; mapped by {how}")
    for tid, ptype in sorted(types.items()):
        code = (ptype.get("product_type_code") or "").strip().upper()
        if code and code not in cfg.product_type_codes:
            report.notes.append(
                f"product type {tid} code {code} is not under product_type_codes; its charges count as "
                f"{ptype.get('charge_kind') or cfg.charge_kind_for_type(code, ptype.get('one_time_flag'))}"
            )

    # tax classes of the catalog (any state) not used by a charge yet
    if lines_mode:
        classes = {_int(p.get("tax_class_id")) for p in [*prods.values(), *types.values()]} - {None}
        for tc in sorted(c for c in classes if c is not None):
            if not any(r.tax_class_id == tc for r in cfg.taxes.rules):
                found.missing(
                    MappingMissing("tax", tc, f"no mapping for tax class {tc}; add it under taxes.rules"),
                    None,
                )

    # credits: credit types (from normalisation) and their taxes
    for label, exc in (credit_errors or {}).items():
        found.missing(exc, label)
    for cr in credits:
        label = f"credit {cr.get('credit_memo_id')}"
        try:
            cfg.credit_item_for(str(cr.get("credit_kind") or ""))
        except MappingMissing as exc:
            found.missing(exc, label)
        if int(cr.get("tax_amount_cents") or 0) and lines_mode:
            _tax_need(cfg, found, report, cr, label)

    # payment methods: every payment, then the catalog
    used_methods: set[str] = set()
    for pay in payments:
        method = pay.get("method")
        used_methods.add((method or "").strip().upper())
        try:
            cfg.payment_method_for(method)
        except MappingMissing as exc:
            found.missing(exc, f"payment {pay.get('payment_id')}")
    for code in sorted({(c or "").strip().upper() for c in payment_methods} - used_methods - {""}):
        try:
            cfg.payment_method_for(code)
        except MappingMissing as exc:
            found.missing(exc, None)

    report.missing = sorted(found.needs.values(), key=lambda n: (not n.used, n.kind, n.key))
    report.checked = {
        "products": len(prods),
        "product types": len(types),
        "charges": len(charges),
        "credits": len(credits) + len(credit_errors or {}),
        "payments": len(payments),
        "payment methods": len(payment_methods),
    }
    return report


def _tax_need(
    cfg: MappingConfig, found: _Collector, report: CompletenessReport, row: Row, label: str
) -> None:
    try:
        cfg.tax_rule_for(_int(row.get("tax_class_id")), row.get("geocode"))
    except MappingMissing as exc:
        found.missing(exc, label)
    except RecordError as exc:
        report.unreadable.append(f"{label}: {exc.reason}")


def completeness_from_revio(
    cfg: MappingConfig,
    *,
    products: Iterable[Row] = (),
    product_types: Iterable[Row] = (),
    charges: Iterable[Row] = (),
    credits: Iterable[Row] = (),
    payments: Iterable[Row] = (),
    payment_methods: Iterable[Row] = (),
) -> CompletenessReport:
    """``mapping_completeness`` over raw Rev.io API records (normalised here; unreadable ones are listed)."""
    unreadable: list[str] = []
    missing: dict[str, MappingMissing] = {}

    def norm(kind: str, id_key: str, raws: Iterable[Row], fn: Any) -> list[dict[str, Any]]:
        out = []
        for raw in raws:
            label = f"{kind} {raw.get(id_key)}"
            try:
                out.append(fn(raw))
            except MappingMissing as exc:
                missing[label] = exc
            except RecordError as exc:
                unreadable.append(f"{label}: {exc.reason}")
        return out

    types = norm("product type", "product_type_id", product_types, lambda r: normalize_product_type(r, cfg))
    prods = norm("product", "product_id", products, normalize_product)
    by_type = {int(t["product_type_id"]): t for t in types}
    by_product = {int(p["product_id"]): p for p in prods}
    chs = norm("charge", "charge_id", charges, lambda r: normalize_charge(r, by_type, products=by_product))
    charge_missing = {k: v for k, v in missing.items() if k.startswith("charge ")}
    crs = norm("credit", "credit_memo_id", credits, lambda r: normalize_credit(r, None, cfg))
    credit_missing = {k: v for k, v in missing.items() if k.startswith("credit ")}
    pays = norm("payment", "payment_id", payments, normalize_payment)
    codes = [str(m.get("code") or m.get("description") or "") for m in payment_methods]
    report = mapping_completeness(
        cfg,
        products=prods,
        product_types=types,
        charges=chs,
        credits=crs,
        payments=pays,
        payment_methods=codes,
        credit_errors=credit_missing,
    )
    collector = {(n.kind, n.key): n for n in report.missing}
    for label, exc in charge_missing.items():  # a charge whose product type is not in Rev.io's catalog
        key = (exc.kind, _key_text(exc.key))
        need = collector.setdefault(key, Need(exc.kind, key[1], exc.message))
        need.add(label)
    report.missing = sorted(collector.values(), key=lambda n: (not n.used, n.kind, n.key))
    report.unreadable.extend(unreadable)
    return report


def unmapped_summary(bad: Mapping[str, str]) -> dict[str, list[str]]:
    """Quarantine reasons (bill id -> reason) grouped by reason: which missing mapping holds which bills."""
    out: dict[str, list[str]] = {}
    for sid, reason in sorted(bad.items(), key=lambda kv: kv[0]):
        out.setdefault(reason, []).append(sid)
    return out


# ----- payload rules ----------------------------------------------------------------------------------


class MappedInvoiceLines(InvoicePayloadLines):
    """``InvoicePayloadLines`` plus the mapping-aware rules (frame from ``mapped_lines_frame``): every line's
    item is an item of the mapping file; every tax line's item posts to a liability account; quantities are
    non-negative decimals."""

    item_in_mapping: Series[bool]
    posting_account: Series[str] = pa.Field(nullable=True)
    posting_account_type: Series[str] = pa.Field(nullable=True)

    @pa.check("qty", error="qty is not a non-negative decimal (negative lines go to credit memos)")
    def qty_non_negative(cls, series: pd.Series) -> Series[bool]:
        return non_negative(series)

    @pa.dataframe_check(error="line item is not an item of the mapping file")
    def every_line_maps_to_an_item(cls, df: pd.DataFrame) -> Series[bool]:
        return df["item_in_mapping"].astype(bool)

    @pa.dataframe_check(error="tax line's item does not post to a liability account")
    def tax_lines_post_to_liability(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["line_kind"] != "tax") | df["posting_account_type"].isin(sorted(LIABILITY_TYPES))

    class Config:
        coerce = True
        strict = False


def mapped_lines_frame(payloads: Iterable[Mapping[str, Any]], cfg: MappingConfig) -> pd.DataFrame:
    """``invoice_lines_frame`` plus ``item_in_mapping``, ``posting_account`` (the item's income account) and
    ``posting_account_type`` from the mapping file."""
    df = invoice_lines_frame(payloads, cfg)
    accounts = {n: i.income_account for n, i in cfg.items.items()}
    types = {a: acct.type for a, acct in cfg.accounts.items()}
    names = df["item_name"].where(df["item_name"].map(lambda v: isinstance(v, str)))
    df["item_in_mapping"] = names.isin(list(accounts)).to_numpy(dtype=bool)
    df["posting_account"] = names.map(accounts).astype(object).where(df["item_in_mapping"], None)
    df["posting_account_type"] = df["posting_account"].map(types).astype(object)
    df["posting_account_type"] = df["posting_account_type"].where(df["posting_account_type"].notna(), None)
    return df


_FAILURE_COLUMNS = ["schema", "bill_id", "column", "check", "failure_case", "index"]


_ROW_COLUMNS = (
    "charge_id",
    "doc_number",
    "line_num",
    "line_kind",
    "item_name",
    "posting_account",
    "amount",
    "qty",
    "unit_price",
    "product_amount_cents",
    "tax_amount_cents",
    "amount_cents",
    "lines_cents",
    "tax_lines_cents",
    "total_tax_cents",
    "invoice_amount_cents",
    "charge_tax_cents",
)


def _row_text(df: pd.DataFrame, idx: Any) -> str:
    if idx is None or idx != idx or idx not in df.index:
        return ""
    return ", ".join(f"{c}={df.at[idx, c]}" for c in _ROW_COLUMNS if c in df.columns)


def _failures(schema: Any, df: pd.DataFrame, name: str) -> pd.DataFrame:
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.copy()
        fc["schema"] = name
        bill_ids = []
        for idx in fc["index"]:
            bid = None
            if idx is not None and idx == idx and "bill_id" in df.columns and idx in df.index:
                value = df.at[idx, "bill_id"]
                bid = None if value is None or value != value else int(value)
            bill_ids.append(bid)
        fc["bill_id"] = pd.array(bill_ids, dtype="Int64")
        # a dataframe-wide check reports every column of a failing row: show that row once
        fc["column"] = fc["column"].astype(object)
        fc["failure_case"] = fc["failure_case"].astype(object)
        whole_row = fc.duplicated(subset=["check", "index"], keep=False)
        fc.loc[whole_row, "column"] = "(row)"
        fc.loc[whole_row, "failure_case"] = [_row_text(df, i) for i in fc.loc[whole_row, "index"]]
        fc = fc.drop_duplicates(subset=["check", "index", "column"])
        return fc.reindex(columns=_FAILURE_COLUMNS).reset_index(drop=True)
    return pd.DataFrame(columns=_FAILURE_COLUMNS)


def invoice_check_failures(
    payloads: Sequence[Mapping[str, Any]],
    bills: Sequence[Row] | pd.DataFrame,
    charges: Sequence[Row] | pd.DataFrame,
    cfg: MappingConfig,
) -> pd.DataFrame:
    """Every failing row of ``ChargeLines`` (the bills' staged charges), ``MappedInvoiceLines`` (the payload
    lines) and ``BillTotals`` (per bill), as one frame (``schema``, ``bill_id``, ``column``, ``check``,
    ``failure_case``, ``index``); empty when everything passes."""
    frames = []
    charge_df = charges if isinstance(charges, pd.DataFrame) else pd.DataFrame(list(charges))
    if len(charge_df):
        frames.append(_failures(ChargeLines, charge_df, "ChargeLines"))
    lines = mapped_lines_frame(payloads, cfg)
    frames.append(_failures(MappedInvoiceLines, lines, "MappedInvoiceLines"))
    totals = bill_totals_from_lines(lines, bills, charge_df if len(charge_df) else None)
    frames.append(_failures(BillTotals, totals, "BillTotals"))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=_FAILURE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def jurisdiction_or_unknown(geocode: str | None) -> str:
    """The state of a geocode, or ``"??"`` when it cannot be read (for reports, never for posting)."""
    try:
        return jurisdiction_of(geocode)
    except RecordError:
        return "??"


def staged_invoice_check_failures(
    bills: Sequence[Row] | pd.DataFrame,
    charges: Sequence[Row] | pd.DataFrame,
    cfg: MappingConfig,
    *,
    product_types: Mapping[int, Row] | None = None,
    products: Mapping[int, Row] | None = None,
    payloads: Mapping[int, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The columnar ``invoice_check_failures``: the billed bills' staged charges mapped to invoice lines as
    integer columns (``frames.invoice_frames``, the rules of ``invoice_payload``) and checked by the same
    rules as vectorized pandera checks; same failure table. Pass the bills that got a payload, their
    charges, and the ``product_types`` / ``products`` the payloads were built with; with ``payloads`` (bill
    id -> body), a bill whose body does not match its checked lines fails too (``payloads_disagreeing``)."""
    frames = invoice_frames(bills, charges, cfg, product_types=product_types, products=products)
    failures = frame_check_failures(frames)
    if payloads is None:
        return failures
    drift = payloads_disagreeing(payloads, frames.lines)
    if not drift:
        return failures
    extra = pd.DataFrame(
        [
            {
                "schema": "PayloadLines",
                "bill_id": bid,
                "column": "Line",
                "check": "payload lines equal the checked lines",
                "failure_case": reason,
                "index": None,
            }
            for bid, reason in sorted(drift.items())
        ],
        columns=_FAILURE_COLUMNS,
    )
    return pd.concat([f for f in (failures, extra) if len(f)], ignore_index=True)


def payloads_disagreeing(payloads: Mapping[int, Mapping[str, Any]], lines: pd.DataFrame) -> dict[int, str]:
    """Bills whose payload (what will be posted) differs from the checked line frame in its number of lines
    or its lines' total cents: ties the dicts to the columnar checks with one cheap pass over their lines."""
    grouped = lines.groupby("bill_id")["amount_cents"].agg(["size", "sum"]) if len(lines) else None
    out: dict[int, str] = {}
    for bid, payload in payloads.items():
        posted = payload.get("Line") or []
        cents = sum(to_cents(line.get("Amount", 0)) for line in posted)
        if grouped is not None and bid in grouped.index:
            n, total = int(grouped.at[bid, "size"]), int(grouped.at[bid, "sum"])
        else:
            n, total = 0, 0
        if (len(posted), cents) != (n, total):
            out[bid] = f"payload has {len(posted)} lines totalling {cents} cents, checked lines {n} / {total}"
    return out
