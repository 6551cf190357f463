"""Transaction rules: sales lines and totals, payments (application), journal entries, balances."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.qbo.common import STRUCTURE_ERRORS, QBOError, money, to_decimal
from revqb_sandbox.qbo.entities import OPEN_BALANCE_TXNS
from revqb_sandbox.qbo.index import OTHER
from revqb_sandbox.qbo.store import Obj
from revqb_sandbox.qbo.validation import WriteContext, required, resolve_ref

ZERO = Decimal("0")


def _line_ids(existing: Obj | None) -> tuple[set[str], int]:
    ids = {str(line["Id"]) for line in (existing or {}).get("Line", []) if "Id" in line}
    return ids, max((int(i) for i in ids if i.isdigit()), default=0)


def _assign_line_id(line: Obj, known: set[str], counter: list[int]) -> None:
    lid = str(line.get("Id", ""))
    if lid in known:
        line["Id"] = lid
        known.discard(lid)
    else:
        counter[0] += 1
        line["Id"] = str(counter[0])


def sales_lines(ctx: WriteContext, entity: str, body: Obj, existing: Obj | None) -> None:
    """Validate sales lines, assign line Ids/LineNum, add the SubTotal line, compute TotalAmt."""
    lines_in = [ln for ln in body.get("Line", []) if ln.get("DetailType") != "SubTotalLineDetail"]
    if not lines_in:
        raise required("Line")
    known, top = _line_ids(existing)
    counter = [top]
    subtotal = discount = taxable = ZERO
    out: list[Obj] = []
    for n, line in enumerate(lines_in, start=1):
        dt = line["DetailType"]
        if dt == "SalesItemLineDetail":
            amount, is_taxable = _sales_item_line(ctx, line, n)
            subtotal += amount
            if is_taxable:
                taxable += amount
        elif dt == "DiscountLineDetail":
            detail = line.setdefault("DiscountLineDetail", {})
            if detail.get("PercentBased"):
                pct = to_decimal(detail.get("DiscountPercent", 0), "Line.DiscountLineDetail.DiscountPercent")
                line["Amount"] = money(subtotal * pct / 100)
            elif "Amount" in line:
                line["Amount"] = money(to_decimal(line["Amount"], "Line.Amount"))
            else:
                raise QBOError("6090", "Discount Line Missing Amount", "Supply an Amount or DiscountPercent")
            discount += line["Amount"]
        elif dt == "DescriptionOnly":
            line.setdefault("DescriptionLineDetail", {})
            if line.get("Description") == "Subtotal:":
                line["Amount"] = subtotal
            else:
                line.pop("Amount", None)
        else:
            raise QBOError(
                "2010", "Request has invalid or unsupported property", f"{dt} not allowed on {entity}"
            )
        for other in (
            "SalesItemLineDetail",
            "DiscountLineDetail",
            "DescriptionLineDetail",
            "SubTotalLineDetail",
        ):
            if other in line and not line[other] and other != _detail_key(dt):
                line.pop(other)
        _assign_line_id(line, known, counter)
        line["LineNum"] = n
        line.pop("LinkedTxn", None)
        line.pop("CustomField", None)
        out.append(line)
    out.append({"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    body["Line"] = out
    tax = _tax(ctx, body, taxable)
    body["TotalAmt"] = money(subtotal - discount + tax)
    body["HomeTotalAmt"] = body["TotalAmt"]


def _detail_key(dt: str) -> str:
    return "DescriptionLineDetail" if dt == "DescriptionOnly" else dt


def _sales_item_line(ctx: WriteContext, line: Obj, n: int) -> tuple[Decimal, bool]:
    if "Amount" not in line:
        raise required("Line.Amount")
    amount = to_decimal(line["Amount"], "Line.Amount")
    if amount < 0 and ctx.settings.reject_negative_sales_lines:
        raise QBOError(
            "2290", "NegativeAmount", f"Line {n}: Amount cannot be negative: {amount}", "Line.Amount"
        )
    detail = line.setdefault("SalesItemLineDetail", {})
    qty = to_decimal(detail["Qty"], "Line.SalesItemLineDetail.Qty") if "Qty" in detail else ZERO
    price = (
        to_decimal(detail["UnitPrice"], "Line.SalesItemLineDetail.UnitPrice")
        if "UnitPrice" in detail
        else ZERO
    )
    if qty != 0 and price != 0 and money(qty * price) != money(amount):
        raise QBOError(
            "6070",
            "Amount calculation incorrect in the request",
            f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
            "Line.Amount",
        )
    for key, value in (("Qty", qty), ("UnitPrice", price)):
        if key in detail:
            detail[key] = value
    line["Amount"] = money(amount)
    item_ref = detail.get("ItemRef")
    if isinstance(item_ref, dict) and item_ref.get("value") not in (None, "", 0, "0"):
        resolve_ref(ctx, "Item", item_ref, "Line.SalesItemLineDetail.ItemRef")
    else:
        detail.pop("ItemRef", None)
    code_ref = detail.get("TaxCodeRef")
    code = str(code_ref.get("value")) if isinstance(code_ref, dict) and code_ref.get("value") else None
    if code is None:
        code = ctx.settings.default_line_tax_code
        detail["TaxCodeRef"] = {"value": code}
    if code not in ("TAX", "NON"):
        raise QBOError(
            "6100",
            "Invalid line TaxCode",
            f"Line {n}: TaxCodeRef {code!r} is not valid for a US company; use TAX or NON",
            "Line.SalesItemLineDetail.TaxCodeRef",
        )
    detail["TaxCodeRef"] = {"value": code}
    for key in ("ClassRef",):
        ref = detail.get(key)
        if isinstance(ref, dict) and ref.get("value"):
            resolve_ref(ctx, "Class", ref, f"Line.SalesItemLineDetail.{key}")
    return (line["Amount"] if "ItemRef" in detail else ZERO), code == "TAX"


def _tax(ctx: WriteContext, body: Obj, taxable: Decimal) -> Decimal:
    detail = body.get("TxnTaxDetail")
    if isinstance(detail, dict) and "TotalTax" in detail:
        tax = money(to_decimal(detail["TotalTax"], "TxnTaxDetail.TotalTax"))
    elif ctx.settings.partner_tax_enabled:
        tax = money(taxable * ctx.settings.ast_rate_percent / 100)
    else:
        tax = ZERO
    out = dict(detail) if isinstance(detail, dict) else {}
    out["TotalTax"] = tax
    body["TxnTaxDetail"] = out
    return tax


def due_date(ctx: WriteContext, body: Obj) -> None:
    """Default TxnDate (today) and DueDate (TxnDate + term days)."""
    body.setdefault("TxnDate", ctx.clock.today())
    if "DueDate" in body:
        return
    days = 0
    term_ref = body.get("SalesTermRef")
    if isinstance(term_ref, dict):
        term = ctx.get("Term", term_ref.get("value"))
        days = int((term or {}).get("DueDays", 0) or 0)
    body["DueDate"] = (date.fromisoformat(str(body["TxnDate"])[:10]) + timedelta(days=days)).isoformat()


def _link_keys(pay: Obj) -> list[Hashable]:
    """Index keys of a payment: the (TxnType, TxnId) it links (OTHER if its lines cannot be read)."""
    try:
        return [
            (link["TxnType"], str(link["TxnId"]))
            for line in pay.get("Line", [])
            for link in line.get("LinkedTxn", [])
        ]
    except (*STRUCTURE_ERRORS,):
        return [OTHER]


def _customer_key(obj: Obj) -> tuple[Hashable, ...]:
    """Index key of a transaction: its ``CustomerRef`` value (OTHER if that is not a plain value)."""
    ref = obj.get("CustomerRef")
    value = ref.get("value") if isinstance(ref, dict) else OTHER
    if value is None:
        return ()
    return (value,) if isinstance(value, str | int) else (OTHER,)


def by_customer(ctx: WriteContext, entity: str, customer_ids: Iterable[str]) -> list[tuple[str, Obj]]:
    """The rows of ``entity`` that may belong to ``customer_ids``, in table order (callers re-check)."""
    table = ctx.realm.table(entity)
    index = table.index("customer", _customer_key)
    return [(oid, table[oid]) for oid in table.in_order(index.lookup(customer_ids))]


def _applied(
    ctx: WriteContext, exclude_payment: str | None = None, wanted: set[tuple[str, str]] | None = None
) -> dict[tuple[str, str], Decimal]:
    """Amount applied to each (TxnType, TxnId) by live payments (with ``wanted``: at least those keys)."""
    out: dict[tuple[str, str], Decimal] = {}
    table = ctx.realm.table("Payment")
    if wanted is None:
        payments = list(table.items())
    else:
        index = table.index("links", _link_keys)
        payments = [(pid, table[pid]) for pid in table.in_order(index.lookup(wanted))]
    for pid, pay in payments:
        if pid == exclude_payment:
            continue
        for line in pay.get("Line", []):
            for link in line.get("LinkedTxn", []):
                key = (link["TxnType"], str(link["TxnId"]))
                out[key] = out.get(key, ZERO) + line["Amount"]
    return out


def _wanted_links(body: Obj) -> set[tuple[str, str]]:
    """The (TxnType, TxnId) a payment body links, read without raising (its validation comes later)."""
    out: set[tuple[str, str]] = set()
    lines = body.get("Line")
    for line in lines if isinstance(lines, list) else []:
        links = line.get("LinkedTxn") if isinstance(line, dict) else None
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict):
                out.add((str(link.get("TxnType", "")), str(link.get("TxnId", ""))))
    return out


def payment_lines(ctx: WriteContext, body: Obj, existing: Obj | None) -> None:
    """Validate a payment's links and amounts; compute UnappliedAmt."""
    total = money(to_decimal(body["TotalAmt"], "TotalAmt"))
    if total < 0:
        raise QBOError("2290", "NegativeAmount", "TotalAmt cannot be negative", "TotalAmt")
    body["TotalAmt"] = total
    customer_id = body["CustomerRef"]["value"]
    applied = _applied(ctx, existing["Id"] if existing else None, _wanted_links(body))
    inv_sum = cm_sum = ZERO
    for n, line in enumerate(body.get("Line", []), start=1):
        if "Amount" not in line:
            raise required("Line.Amount")
        amount = money(to_decimal(line["Amount"], "Line.Amount"))
        if amount < 0:
            raise QBOError("2290", "NegativeAmount", f"Line {n}: Amount cannot be negative", "Line.Amount")
        links = line.get("LinkedTxn")
        if not links:
            raise required("Line.LinkedTxn")
        clean_links = []
        for link in links:
            txn_type, txn_id = str(link.get("TxnType", "")), str(link.get("TxnId", ""))
            if txn_type not in ("Invoice", "CreditMemo"):
                raise QBOError("620", "Transaction ID cannot be linked", f"Cannot link TxnType {txn_type!r}")
            target = ctx.get(txn_type, txn_id)
            if target is None:
                raise QBOError(
                    "610",
                    "Object Not Found",
                    f"Object Not Found : Another user has deleted this transaction. ({txn_type} {txn_id})",
                    "Line.LinkedTxn.TxnId",
                )
            if target["CustomerRef"]["value"] != customer_id or target.get("_voided"):
                raise QBOError(
                    "620",
                    "Transaction ID cannot be linked",
                    f"{txn_type} {txn_id} cannot be linked to this payment (other customer or voided)",
                    "Line.LinkedTxn.TxnId",
                )
            open_amt = target["TotalAmt"] - applied.get((txn_type, txn_id), ZERO)
            if amount > open_amt:
                raise QBOError(
                    "6000",
                    "A business validation error has occurred while processing your request",
                    f"Business Validation Error: The payment amount {amount} applied to {txn_type} {txn_id} "
                    f"exceeds its open balance {open_amt}.",
                    "Line.Amount",
                )
            applied[(txn_type, txn_id)] = applied.get((txn_type, txn_id), ZERO) + amount
            clean_links.append({"TxnId": txn_id, "TxnType": txn_type})
        if clean_links[0]["TxnType"] == "Invoice":
            inv_sum += amount
        else:
            cm_sum += amount
        line.clear()
        line.update({"Amount": amount, "LinkedTxn": clean_links})
    unapplied = total - inv_sum + cm_sum
    if unapplied < 0:
        raise QBOError(
            "6000",
            "A business validation error has occurred while processing your request",
            "Business Validation Error: The amounts applied to invoices exceed the payment plus credits.",
            "TotalAmt",
        )
    body["UnappliedAmt"] = unapplied
    body.setdefault("TxnDate", ctx.clock.today())
    body.setdefault("ProcessPayment", False)


def journal_lines(ctx: WriteContext, body: Obj, existing: Obj | None) -> None:
    """Validate JE lines (posting type, account, A/R entity) and the debit/credit balance (2300)."""
    lines = body.get("Line") or []
    if not lines:
        raise required("Line")
    known, top = _line_ids(existing)
    counter = [top]
    debits = credits = ZERO
    for n, line in enumerate(lines, start=1):
        line.pop("CustomField", None)
        line.pop("LinkedTxn", None)
        _assign_line_id(line, known, counter)
        line["LineNum"] = n
        if line["DetailType"] == "DescriptionOnly":
            line.pop("Amount", None)
            continue
        if line["DetailType"] != "JournalEntryLineDetail":
            raise QBOError(
                "2010", "Request has invalid or unsupported property", "JournalEntry line DetailType"
            )
        if "Amount" not in line:
            raise required("Line.Amount")
        amount = money(to_decimal(line["Amount"], "Line.Amount"))
        if amount < 0:
            raise QBOError("2290", "NegativeAmount", f"Line {n}: Amount cannot be negative", "Line.Amount")
        line["Amount"] = amount
        detail = line.get("JournalEntryLineDetail")
        if not detail:
            raise required("Line.JournalEntryLineDetail")
        posting = detail.get("PostingType")
        if posting is None:
            raise QBOError("2260", "MissingPostingType", f"Line {n}: PostingType is missing", "PostingType")
        if posting not in ("Debit", "Credit"):
            raise QBOError("2010", "Request has invalid or unsupported property", f"PostingType {posting!r}")
        if "AccountRef" not in detail:
            raise required("Line.JournalEntryLineDetail.AccountRef")
        account = resolve_ref(ctx, "Account", detail["AccountRef"], "Line.JournalEntryLineDetail.AccountRef")
        _je_entity(ctx, detail, account, n)
        for key, entity in (("ClassRef", "Class"), ("DepartmentRef", "Department")):
            if isinstance(detail.get(key), dict):
                resolve_ref(ctx, entity, detail[key], f"Line.JournalEntryLineDetail.{key}")
        detail.pop("TaxApplicableOn", None) if not detail.get("TaxCodeRef") else None
        detail.pop("TaxAmount", None) if not detail.get("TaxCodeRef") else None
        if posting == "Debit":
            debits += amount
        else:
            credits += amount
    if debits != credits:
        raise QBOError(
            "2300",
            "Transaction Not Balanced",
            f"Amount on debits not equal to credits: debits {debits}, credits {credits}. "
            "Make sure the debits and credits are equal.",
            "Line",
        )
    body["TotalAmt"] = debits
    body.setdefault("Adjustment", False)
    body.setdefault("TxnDate", ctx.clock.today())


def _je_entity(ctx: WriteContext, detail: Obj, account: Obj, n: int) -> None:
    entity: Any = detail.get("Entity")
    atype = account.get("AccountType")
    needed = {"Accounts Receivable": "Customer", "Accounts Payable": "Vendor"}.get(str(atype))
    if (
        isinstance(entity, dict)
        and isinstance(entity.get("EntityRef"), dict)
        and entity["EntityRef"].get("value")
    ):
        etype = entity.get("Type") or needed or "Customer"
        entity["Type"] = etype
        resolve_ref(ctx, etype, entity["EntityRef"], "Line.JournalEntryLineDetail.Entity.EntityRef")
        if needed and etype != needed:
            entity = None
    else:
        detail.pop("Entity", None)
        entity = None
    if needed and entity is None:
        noun = needed.lower()
        raise QBOError(
            ctx.settings.je_ar_entity_error_code,
            "A business validation error has occurred while processing your request",
            f"Business Validation Error: Line {n}: When you use {atype}, you must choose a {noun} "
            "in the Name field.",
            "Line.JournalEntryLineDetail.Entity",
        )


def recompute(ctx: WriteContext, customer_ids: set[str], written: tuple[str, str] | None = None) -> None:
    """Recompute Balance/LinkedTxn/RemainingCredit/UnappliedAmt and Customer.Balance for these customers.

    Other invoices/credit memos whose balance changed get a new LastUpdatedTime (and SyncToken if
    ``bump_synctoken_on_apply``) plus an Update event; ``written`` (the object being saved) does not.
    """
    if not customer_ids:
        return
    realm = ctx.realm
    applied: dict[tuple[str, str], Decimal] = {}
    links: dict[tuple[str, str], list[Obj]] = {}
    for pid, pay in by_customer(ctx, "Payment", customer_ids):
        if pay["CustomerRef"]["value"] not in customer_ids:
            continue
        inv = cm = ZERO
        for line in pay.get("Line", []):
            for link in line.get("LinkedTxn", []):
                key = (link["TxnType"], str(link["TxnId"]))
                if realm.table(key[0]).get(key[1]) is None:
                    continue
                applied[key] = applied.get(key, ZERO) + line["Amount"]
                links.setdefault(key, []).append({"TxnId": pid, "TxnType": "Payment"})
                if key[0] == "Invoice":
                    inv += line["Amount"]
                else:
                    cm += line["Amount"]
        pay["UnappliedAmt"] = pay["TotalAmt"] - inv + cm
    for entity in OPEN_BALANCE_TXNS:
        for tid, txn in by_customer(ctx, entity, customer_ids):
            if txn.get("CustomerRef", {}).get("value") not in customer_ids:
                continue
            key = (entity, tid)
            balance = txn["TotalAmt"] - applied.get(key, ZERO)
            old_links = txn.get("LinkedTxn")
            changed = balance != txn.get("Balance") or (
                entity == "Invoice" and links.get(key, []) != old_links
            )
            txn["Balance"] = balance
            if entity == "Invoice":
                txn["LinkedTxn"] = links.get(key, [])
                txn["HomeBalance"] = balance
            else:
                txn["RemainingCredit"] = balance
            if changed and key != written:
                txn["MetaData"]["LastUpdatedTime"] = ctx.clock.stamp()
                if ctx.settings.bump_synctoken_on_apply:
                    txn["SyncToken"] = str(int(txn["SyncToken"]) + 1)
                ctx.events.append((entity, tid, "Update"))
    for cid in customer_ids:
        cust = realm.table("Customer").get(cid)
        if cust is None:
            continue
        mine = {e: [t for _, t in by_customer(ctx, e, [cid])] for e in ("Invoice", "CreditMemo", "Payment")}
        bal = sum((i["Balance"] for i in mine["Invoice"] if i["CustomerRef"]["value"] == cid), ZERO)
        bal -= sum((c["Balance"] for c in mine["CreditMemo"] if c["CustomerRef"]["value"] == cid), ZERO)
        bal -= sum((p["UnappliedAmt"] for p in mine["Payment"] if p["CustomerRef"]["value"] == cid), ZERO)
        cust["Balance"] = bal
        cust["BalanceWithJobs"] = bal
