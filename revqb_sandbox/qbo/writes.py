"""Create / update (full and sparse) / delete / void of entities. Callers hold the store lock."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Hashable
from typing import Any

from revqb_sandbox.qbo import txns
from revqb_sandbox.qbo.common import QBOError, to_decimal
from revqb_sandbox.qbo.entities import (
    ACCOUNT_CLASSIFICATION,
    DOCNUM_TXNS,
    PERSON_ENTITIES,
    SALES_TXNS,
    SPECS,
    SUBTYPE_TO_TYPE,
    EntitySpec,
)
from revqb_sandbox.qbo.index import OTHER
from revqb_sandbox.qbo.store import Obj, public
from revqb_sandbox.qbo.validation import (
    WriteContext,
    check_date,
    check_length,
    check_lengths,
    check_properties,
    check_refs,
    clean,
    required,
)

SPECS_PAYMENT = SPECS["Payment"]
READ_ONLY = frozenset(
    {"MetaData", "domain", "sparse", "status", "FullyQualifiedName", "Level", "Balance", "BalanceWithJobs"}
    | {"HomeBalance", "HomeTotalAmt", "RemainingCredit", "UnappliedAmt", "CurrentBalance", "InvoiceLink"}
    | {"CurrentBalanceWithSubAccounts", "Classification", "DeliveryInfo", "SubItem", "SubClass"}
    | {"SubDepartment", "SubAccount", "Job"}
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")


def not_found(entity: str, obj_id: Any) -> QBOError:
    """610 for an Id that does not exist."""
    return QBOError(
        "610",
        "Object Not Found",
        f"Object Not Found : Another user has deleted this transaction. ({entity} Id={obj_id})",
        "Id",
    )


def _target(ctx: WriteContext, spec: EntitySpec, body: Obj) -> Obj:
    obj_id = body.get("Id")
    if obj_id in (None, ""):
        raise required("Id")
    existing = ctx.get(spec.name, obj_id)
    if existing is None:
        raise not_found(spec.name, obj_id)
    token = body.get("SyncToken")
    if token in (None, ""):
        raise required("SyncToken")
    if str(token) != existing["SyncToken"]:
        raise QBOError(
            "5010",
            "Stale Object Error",
            "Stale Object Error : You and sandbox-user were working on this at the same time. sandbox-user "
            "finished before you did, so your work was not saved. "
            f"(SyncToken {token} != {existing['SyncToken']})",
            "SyncToken",
        )
    return existing


def save(ctx: WriteContext, spec: EntitySpec, raw: Any) -> Obj:
    """Create (no Id) or update (Id + SyncToken; ``sparse`` honoured). Returns the public object."""
    if not isinstance(raw, dict):
        raise QBOError(
            "2010", "Request has invalid or unsupported property", f"{spec.name} must be an object"
        )
    if not spec.creatable:
        raise QBOError(
            "500", "Unsupported Operation", f"Operation Create/Update is not supported for {spec.name}"
        )
    check_properties(spec, raw)
    body = clean(copy.deepcopy(raw))
    is_update = body.get("Id") not in (None, "", 0, "0")
    existing = _target(ctx, spec, body) if is_update else None
    if existing is not None and spec.kind == "name" and spec.name_field == "Name" and "Name" not in body:
        raise required("Name")
    sparse = bool(body.get("sparse")) and existing is not None
    for key in READ_ONLY | {"Id", "SyncToken"}:
        body.pop(key, None)
    if spec.name != "Payment":
        body.pop("TotalAmt", None)
    if spec.name in SALES_TXNS:
        body.pop("LinkedTxn", None)
    if sparse and existing is not None:
        merged = {
            k: copy.deepcopy(v) for k, v in existing.items() if k not in READ_ONLY and not k.startswith("_")
        }
        merged.pop("Id", None)
        merged.pop("SyncToken", None)
        merged.update(body)
        body = merged
    for key in spec.required:
        if body.get(key) in (None, [], {}):
            raise required(key)
    check_lengths(spec, body)
    check_refs(ctx, spec, body)
    _prepare(ctx, spec, body, existing)
    obj = _commit(ctx, spec, body, existing)
    if ctx.settings.auto_apply_credit and existing is None and spec.name in ("Invoice", "CreditMemo"):
        if auto_apply_credits(ctx, obj["CustomerRef"]["value"]):
            obj = public(ctx.realm.table(spec.name)[obj["Id"]])
    return obj


def auto_apply_credits(ctx: WriteContext, customer_id: str) -> int:
    """AutoApplyCredit: pair open credit memos with open invoices (oldest first) via zero-total Payments."""

    def open_txns(entity: str, field: str) -> list[Obj]:
        rows = [
            t
            for _, t in txns.by_customer(ctx, entity, [customer_id])
            if t["CustomerRef"]["value"] == customer_id and t.get(field, 0) > 0 and not t.get("_voided")
        ]
        return sorted(rows, key=lambda t: (t.get("TxnDate", ""), int(t["Id"])))  # fmt: skip

    made = 0
    for cm in open_txns("CreditMemo", "RemainingCredit"):
        for inv in open_txns("Invoice", "Balance"):
            amount = min(cm["RemainingCredit"], inv["Balance"])
            if amount <= 0:
                break
            links = [("Invoice", inv["Id"]), ("CreditMemo", cm["Id"])]
            lines = [{"Amount": amount, "LinkedTxn": [{"TxnId": i, "TxnType": t}]} for t, i in links]
            save(ctx, SPECS_PAYMENT, {"CustomerRef": {"value": customer_id}, "TotalAmt": 0, "Line": lines})
            made += 1
    return made


def _prepare(ctx: WriteContext, spec: EntitySpec, body: Obj, existing: Obj | None) -> None:
    name = spec.name
    if name in PERSON_ENTITIES:
        _person(ctx, spec, body, existing)
    elif spec.kind == "name":
        _name_list(ctx, spec, body, existing)
    if name in SALES_TXNS:
        for key in ("TxnDate", "DueDate", "ShipDate", "ExpirationDate", "AcceptedDate"):
            check_date(body, key)
        txns.sales_lines(ctx, name, body, existing)
        if name == "Invoice":
            txns.due_date(ctx, body)
            for key, default in (("EmailStatus", "NotSet"), ("PrintStatus", "NotSet"), ("Deposit", 0)):
                body.setdefault(key, default)
            body.setdefault("ApplyTaxAfterDiscount", False)
        else:
            body.setdefault("TxnDate", ctx.clock.today())
        if name in ("RefundReceipt", "SalesReceipt"):
            body["Balance"] = to_decimal(0, "Balance")
        if name == "SalesReceipt" and "DepositToAccountRef" not in body:
            undeposited = _account_by_subtype(ctx, "UndepositedFunds")
            if undeposited:
                body["DepositToAccountRef"] = {"value": undeposited, "name": "Undeposited Funds"}
        if name == "Estimate":
            body.setdefault("TxnStatus", "Pending")
            for key, default in (("EmailStatus", "NotSet"), ("PrintStatus", "NotSet")):
                body.setdefault(key, default)
        body.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
    elif name == "Payment":
        check_date(body, "TxnDate")
        txns.payment_lines(ctx, body, existing)
        if "DepositToAccountRef" not in body:
            undeposited = _account_by_subtype(ctx, "UndepositedFunds")
            if undeposited:
                body["DepositToAccountRef"] = {"value": undeposited}
        body.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
    elif name == "JournalEntry":
        check_date(body, "TxnDate")
        txns.journal_lines(ctx, body, existing)
    if name in DOCNUM_TXNS:
        _doc_number(ctx, spec, body, existing)


def _account_by_subtype(ctx: WriteContext, subtype: str) -> str | None:
    for aid, acct in ctx.realm.table("Account").items():
        if acct.get("AccountSubType") == subtype and acct.get("Active", True):
            return aid
    return None


def _same_name(ctx: WriteContext, a: str, b: str) -> bool:
    if ctx.settings.duplicate_name_case_insensitive:
        return a.casefold() == b.casefold()
    return a == b


def _duplicate(
    ctx: WriteContext,
    entities: tuple[str, ...],
    field: str,
    value: str,
    self_id: str | None,
    self_entity: str | None = None,
) -> None:
    """6240 if another object of ``entities`` (not ``self_entity`` ``self_id``) uses ``value``."""
    self_entity = self_entity or entities[0]
    fold = ctx.settings.duplicate_name_case_insensitive
    wanted = value.casefold() if fold else value
    for entity in entities:
        table = ctx.realm.table(entity)
        index = table.index(("name", field, fold), _name_keys(field, fold))
        for oid in table.in_order(index.lookup([wanted])):
            other = table[oid]
            if entity == self_entity and oid == self_id:
                continue
            if other.get("Active") is False and not ctx.settings.duplicate_name_includes_inactive:
                continue
            existing = other.get(field)
            if isinstance(existing, str) and _same_name(ctx, existing, value):
                raise duplicate_name(self_entity, field, oid)


def _name_keys(field: str, fold: bool) -> Callable[[Obj], tuple[str, ...]]:
    """Index key of ``field`` for the 6240 check: the text as :func:`_same_name` compares it."""

    def keys(obj: Obj) -> tuple[str, ...]:
        value = obj.get(field)
        if not isinstance(value, str):
            return ()
        return (value.casefold() if fold else value,)

    return keys


DUPLICATE_WHO = {
    "Item": "product or service",
    "Account": "account",
    "Class": "class",
    "Department": "location",
    "Term": "term",
    "PaymentMethod": "payment method",
    "TaxAgency": "tax agency",
}


def duplicate_name(entity: str, field: str, existing_id: str) -> QBOError:
    """6240 worded as Intuit words it for ``entity`` (people share one text), with the holder's Id."""
    if field == "AcctNum":
        return QBOError(
            "6240",
            "Duplicate Name Exists Error",
            "The name supplied already exists. : Another account is already using this number. "
            f"Please use a different number. Id={existing_id}",
            field,
        )
    who = DUPLICATE_WHO.get(entity, "customer, vendor or employee")
    return QBOError(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {who} is already using this name. "
        f"Please use a different name. Id={existing_id}",
        field,
    )


def _hierarchy(ctx: WriteContext, spec: EntitySpec, body: Obj, name: str) -> None:
    parent_ref = body.get("ParentRef")
    if isinstance(parent_ref, dict) and parent_ref.get("value"):
        parent = ctx.get(spec.name, parent_ref["value"]) or {}
        level = int(parent.get("Level", 0) or 0) + 1
        if level > 4:
            raise QBOError("6180", "More than 5 hierarchy levels", "A list can have at most 5 levels")
        body["FullyQualifiedName"] = f"{parent.get('FullyQualifiedName', '')}:{name}"
        body["Level"] = level
        sub_flag = {"Customer": "Job", "Item": "SubItem", "Account": "SubAccount", "Class": "SubClass"}
        body[sub_flag.get(spec.name, "SubDepartment")] = True
    else:
        body["FullyQualifiedName"] = name
        if spec.name == "Customer":
            body["Job"] = False
        elif spec.name in ("Item", "Account", "Class", "Department"):
            body[
                {"Item": "SubItem", "Account": "SubAccount", "Class": "SubClass"}.get(
                    spec.name, "SubDepartment"
                )
            ] = False


def _person(ctx: WriteContext, spec: EntitySpec, body: Obj, existing: Obj | None) -> None:
    display = body.get("DisplayName")
    if not display:
        display = " ".join(str(body[p]) for p in NAME_PARTS if body.get(p))
        if not display:
            raise QBOError(
                "6080", "No Name Provided", "Please provide a DisplayName or a name part", "DisplayName"
            )
        body["DisplayName"] = display
    if ":" in display:
        raise QBOError("2040", "Invalid String", "DisplayName cannot contain ':'", "DisplayName")
    self_id = existing["Id"] if existing else None
    _duplicate(ctx, PERSON_ENTITIES, "DisplayName", display, self_id, spec.name)
    email = (body.get("PrimaryEmailAddr") or {}).get("Address")
    if email is not None and not EMAIL_RE.match(str(email)):
        raise QBOError(
            "2210", "Invalid Email Address format", f"Invalid email address: {email}", "PrimaryEmailAddr"
        )
    body.setdefault("PrintOnCheckName", display[:110])
    body.setdefault("Active", True)
    if spec.name == "Vendor":
        body.setdefault("Vendor1099", False)
        body.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
        body["Balance"] = to_decimal(existing.get("Balance", 0) if existing else 0, "Balance")
    elif spec.name == "Employee":
        body.setdefault("BillableTime", False)
    if spec.name == "Customer":
        _hierarchy(ctx, spec, body, display)
        body.setdefault("BillWithParent", False)
        body.setdefault("Taxable", True)
        body.setdefault("PreferredDeliveryMethod", "Print")
        body.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})
        balance = existing.get("Balance", 0) if existing else 0
        body["Balance"] = to_decimal(balance, "Balance")
        body["BalanceWithJobs"] = body["Balance"]
        if existing and body.get("Active") is False and body["Balance"] != 0:
            raise QBOError(
                "6220",
                "Delete Entity Has Balance Error",
                f"{display} cannot be deleted because it has a non-zero balance",
                "Active",
            )


def _name_list(ctx: WriteContext, spec: EntitySpec, body: Obj, existing: Obj | None) -> None:
    field = spec.name_field
    name = body.get(field)
    if not name:
        raise required(field)
    if spec.name in ("Account", "Item", "Class", "Department") and ":" in str(name):
        raise QBOError("2040", "Invalid String", f"{field} cannot contain ':'", field)
    if spec.name == "Account" and '"' in str(name):
        raise QBOError("2040", "Invalid String", f"{field} cannot contain '\"'", field)
    _duplicate(ctx, (spec.name,), field, str(name), existing["Id"] if existing else None)
    body.setdefault("Active", True)
    if spec.name in ("Item", "Account", "Class", "Department"):
        _hierarchy(ctx, spec, body, str(name))
    if spec.name == "Item":
        _item(body)
    elif spec.name == "Account":
        _account(ctx, body, existing)
    elif spec.name == "Term":
        body.setdefault("Type", "DATE_DRIVEN" if "DayOfMonthDue" in body else "STANDARD")
    elif spec.name == "PaymentMethod":
        body.setdefault("Type", "NON_CREDIT_CARD")


def _item(body: Obj) -> None:
    itype = body.setdefault("Type", "Service")
    if itype not in ("Service", "NonInventory", "Inventory", "Category", "Group"):
        raise QBOError(
            "2010", "Request has invalid or unsupported property", f"Invalid Item Type {itype!r}", "Type"
        )
    if itype in ("Service", "NonInventory", "Inventory") and "IncomeAccountRef" not in body:
        raise required("IncomeAccountRef")
    if itype == "Inventory":
        for key in ("AssetAccountRef", "QtyOnHand", "InvStartDate"):
            if key not in body:
                raise required(key)
    for key in ("UnitPrice", "PurchaseCost", "QtyOnHand"):
        if key in body:
            body[key] = to_decimal(body[key], key)
    body.setdefault("UnitPrice", to_decimal(0, "UnitPrice"))
    body.setdefault("Taxable", False)
    body.setdefault("TrackQtyOnHand", itype == "Inventory")


def _account(ctx: WriteContext, body: Obj, existing: Obj | None) -> None:
    atype, subtype = body.get("AccountType"), body.get("AccountSubType")
    if not atype and not subtype:
        raise QBOError("6010", "Invalid account type", "You must select an account type or detail type")
    if not atype:
        atype = SUBTYPE_TO_TYPE.get(str(subtype))
        if atype is None:
            raise QBOError(
                "2170", "Invalid Enumeration", f"Unknown AccountSubType {subtype!r}", "AccountSubType"
            )
        body["AccountType"] = atype
    if atype not in ACCOUNT_CLASSIFICATION:
        raise QBOError("2170", "Invalid Enumeration", f"Unknown AccountType {atype!r}", "AccountType")
    body["Classification"] = ACCOUNT_CLASSIFICATION[atype]
    acct_num = body.get("AcctNum")
    if acct_num:
        check_length(acct_num, ctx.settings.acct_num_max_len, "AcctNum")
        if ":" in str(acct_num):
            raise QBOError("2040", "Invalid String", "AcctNum cannot contain ':'", "AcctNum")
        _duplicate(ctx, ("Account",), "AcctNum", str(acct_num), existing["Id"] if existing else None)
    zero = to_decimal(0, "CurrentBalance")
    body["CurrentBalance"] = existing.get("CurrentBalance", zero) if existing else zero
    body["CurrentBalanceWithSubAccounts"] = body["CurrentBalance"]
    body.setdefault("CurrencyRef", {"value": "USD", "name": "United States Dollar"})


def _doc_number(ctx: WriteContext, spec: EntitySpec, body: Obj, existing: Obj | None) -> None:
    table = ctx.realm.table(spec.name)
    doc = body.get("DocNumber")
    auto = doc == "AUTO_GENERATE" or (
        doc is None and not ctx.settings.custom_txn_numbers and spec.name != "JournalEntry"
    )
    if auto:
        numbers = [int(t["DocNumber"]) for t in table.values() if str(t.get("DocNumber", "")).isdigit()]
        body["DocNumber"] = str(max(numbers, default=1000) + 1)
        return
    if doc is None or "allowduplicatedocnum" in ctx.include:
        return
    if spec.name == "JournalEntry" and not ctx.settings.warn_duplicate_journal_number:
        return
    fold = ctx.settings.docnumber_case_insensitive
    if isinstance(doc, str):
        index = table.index(("docnumber", fold), _doc_keys(fold))
        candidates = [(tid, table[tid]) for tid in table.in_order(index.lookup([_doc_key(doc, fold)]))]
    else:
        candidates = list(table.items())
    for tid, other in candidates:
        if existing is not None and tid == existing["Id"]:
            continue
        other_doc = other.get("DocNumber")
        if other_doc is None:
            continue
        if (other_doc.casefold() == str(doc).casefold()) if fold else other_doc == doc:
            raise QBOError(
                "6140",
                "Duplicate Document Number Error",
                "Duplicate Document Number Error : You must specify a different number. This number has "
                f"already been used. DocNumber={doc} is assigned to TxnType={spec.name} with TxnId={tid}",
                "DocNumber",
            )


def _doc_key(doc: str, fold: bool) -> str:
    return doc.casefold() if fold else doc


def _doc_keys(fold: bool) -> Callable[[Obj], tuple[Hashable, ...]]:
    """Index key of DocNumber for the 6140 check (OTHER: not text, compared as the scan compares it)."""

    def keys(obj: Obj) -> tuple[Hashable, ...]:
        doc = obj.get("DocNumber")
        if doc is None:
            return ()
        return (_doc_key(doc, fold),) if isinstance(doc, str) else (OTHER,)

    return keys


def _customer_of(obj: Obj | None) -> set[str]:
    ref = (obj or {}).get("CustomerRef")
    return {str(ref["value"])} if isinstance(ref, dict) and ref.get("value") else set()


def _commit(ctx: WriteContext, spec: EntitySpec, body: Obj, existing: Obj | None) -> Obj:
    stamp = ctx.clock.stamp()
    realm = ctx.realm
    if existing is None:
        obj_id = realm.next_id(spec.name)
        head: Obj = {"Id": obj_id, "SyncToken": "0", "domain": "QBO", "sparse": False}
        meta = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        op = "Create"
    else:
        obj_id = existing["Id"]
        head = {
            "Id": obj_id,
            "SyncToken": str(int(existing["SyncToken"]) + 1),
            "domain": "QBO",
            "sparse": False,
        }
        meta = {"CreateTime": existing["MetaData"]["CreateTime"], "LastUpdatedTime": stamp}
        op = "Update"
        for key, value in existing.items():
            if key.startswith("_"):
                head[key] = value
    obj = head | body
    if obj.get("_voided") and not str(obj.get("PrivateNote") or "").startswith("Voided"):
        del obj["_voided"]  # edited back (amounts and note re-entered): a live transaction again
    obj["MetaData"] = meta
    realm.table(spec.name)[obj_id] = obj
    ctx.events.append((spec.name, obj_id, op))
    if spec.kind == "txn":
        txns.recompute(ctx, _customer_of(existing) | _customer_of(obj), (spec.name, obj_id))
    return public(obj)


def delete(ctx: WriteContext, spec: EntitySpec, raw: Any) -> Obj:
    """``operation=delete`` (transactions only). Returns the ``status: Deleted`` stub."""
    if spec.kind != "txn":
        raise QBOError("500", "Unsupported Operation", f"Operation Delete is not supported for {spec.name}")
    if not isinstance(raw, dict):
        raise QBOError("2010", "Request has invalid or unsupported property", "body must be an object")
    existing = _target(ctx, spec, clean(raw))
    obj_id = existing["Id"]
    del ctx.realm.table(spec.name)[obj_id]
    stamp = ctx.clock.stamp()
    ctx.realm.deleted.setdefault(spec.name, {})[obj_id] = {
        "Id": obj_id,
        "status": "Deleted",
        "domain": "QBO",
        "MetaData": {"LastUpdatedTime": stamp},
    }
    ctx.events.append((spec.name, obj_id, "Delete"))
    txns.recompute(ctx, _customer_of(existing))
    return {"status": "Deleted", "domain": "QBO", "Id": obj_id}


def void(ctx: WriteContext, spec: EntitySpec, raw: Any) -> Obj:
    """Void an Invoice / CreditMemo / RefundReceipt (``operation=void``) or Payment (``include=void``)."""
    if spec.name not in ("Invoice", "Payment", "CreditMemo", "RefundReceipt", "SalesReceipt"):
        raise QBOError("500", "Unsupported Operation", f"Operation Void is not supported for {spec.name}")
    if not isinstance(raw, dict):
        raise QBOError("2010", "Request has invalid or unsupported property", "body must be an object")
    existing = _target(ctx, spec, clean(raw))
    zero = to_decimal(0, "Amount")
    obj = copy.deepcopy(existing)
    for line in obj.get("Line", []):
        if "Amount" in line:
            line["Amount"] = zero
    for key in ("TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "UnappliedAmt", "RemainingCredit"):
        if key in obj:
            obj[key] = zero
    if "TxnTaxDetail" in obj:
        obj["TxnTaxDetail"] = {"TotalTax": zero}
    note = obj.get("PrivateNote")
    obj["PrivateNote"] = f"Voided - {note}" if note else "Voided"
    obj["_voided"] = True
    obj["SyncToken"] = str(int(existing["SyncToken"]) + 1)
    obj["MetaData"] = {"CreateTime": existing["MetaData"]["CreateTime"], "LastUpdatedTime": ctx.clock.stamp()}
    ctx.realm.table(spec.name)[obj["Id"]] = obj
    ctx.events.append((spec.name, obj["Id"], "Void"))
    txns.recompute(ctx, _customer_of(existing), (spec.name, obj["Id"]))
    return public(obj)
