"""Reference data in QBO: the accounts, items and payment methods named in the mapping file.

Each is looked up by name (inactive ones included) and created only when missing, with a ``requestid``
derived from its name, so a lost response followed by a re-run never creates a second one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.clients.errors import QBODuplicateName
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.sync.writer import create_entity, update_entity

log = logging.getLogger("revqb.sync")


@dataclass
class RefIds:
    """QBO ids of the reference data, by name."""

    accounts: dict[str, str] = field(default_factory=dict)
    items: dict[str, str] = field(default_factory=dict)
    payment_methods: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)


def _rid(kind: str, name: str) -> str:
    return hashlib.sha256(f"revqb:{kind}:{name}".encode()).hexdigest()[:32]


def _by_name(rows: list[dict[str, Any]], key: str = "Name") -> dict[str, dict[str, Any]]:
    return {str(r.get(key, "")).casefold(): r for r in rows}


def _ensure(
    qbo: QBOClient,
    entity: str,
    name: str,
    body: dict[str, Any],
    existing: dict[str, dict[str, Any]],
    refs: RefIds,
) -> str:
    hit = existing.get(name.casefold())
    if hit is not None:
        return str(hit["Id"])
    try:
        created = create_entity(qbo, entity, body, request_id=_rid(entity, name))
    except QBODuplicateName:
        # Created meanwhile (another run, or a response we lost): read it back by name.
        rows = qbo.query_rows(
            f"SELECT * FROM {entity} WHERE Name = '{_escape(name)}' AND Active IN (true, false)"
        )
        if not rows:
            raise
        created = rows[0]
    existing[name.casefold()] = created
    refs.created.append(f"{entity} {name}")
    verb = "dry run: would create" if getattr(qbo, "dry_run", False) else "created"
    log.info("%s %s %r in QBO (Id %s)", verb, entity, name, created["Id"])
    return str(created["Id"])


def _enforce_item(
    qbo: QBOClient, item: dict[str, Any], account_name: str, account_id: str, refs: RefIds
) -> None:
    """The mapping file decides where an item posts: an existing item on another income account is
    corrected with a sparse update, and the correction is logged and reported. An item someone made
    inactive stays inactive: QBO then rejects what uses it, and those records are quarantined and alerted."""
    current = str((item.get("IncomeAccountRef") or {}).get("value", ""))
    if current == account_id:
        return
    body = {
        "Id": item["Id"],
        "SyncToken": item["SyncToken"],
        "sparse": True,
        "Name": item["Name"],
        "IncomeAccountRef": {"value": account_id},
    }
    rid = _rid("item-fix", f"{item['Id']}:{item['SyncToken']}")
    updated = update_entity(qbo, "Item", body, request_id=rid)
    item.update(updated)
    note = f"Item {item['Name']}: income account {current or '-'} -> {account_name} ({account_id})"
    refs.corrected.append(note)
    if getattr(qbo, "dry_run", False):
        log.info("dry run: would correct QBO %s to follow the mapping file", note)
    else:
        log.warning("corrected QBO %s to follow the mapping file", note)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


CACHE_SECONDS = 300.0
_cache: dict[tuple[str, str, str, str], tuple[float, RefIds]] = {}
_cache_lock = threading.Lock()


def clear_reference_cache() -> None:
    """Forget every cached result (QBO never deletes accounts or items; a wiped sandbox company does)."""
    with _cache_lock:
        _cache.clear()


def ensure_reference_data(qbo: QBOClient, cfg: MappingConfig, max_age_s: float = CACHE_SECONDS) -> RefIds:
    """Ids of every account, item and payment method the mapping names, created in QBO when missing.

    A verified result is reused for ``max_age_s`` per realm and mapping, so the assets of one run (and the
    partitions of a backfill) check QBO once instead of once per asset; a cached answer reports nothing
    created or corrected. A dry run's client (``cache_scope``) caches apart from real runs.
    """
    return ensure_reference_data_with(qbo, cfg, [], max_age_s)[0]


def ensure_reference_data_with(
    qbo: QBOClient, cfg: MappingConfig, queries: list[tuple[str, str]], max_age_s: float = CACHE_SECONDS
) -> tuple[RefIds, list[list[dict[str, Any]]] | None]:
    """:func:`ensure_reference_data`, with the caller's ``(entity, where)`` ``queries`` sent in the same
    ``/batch`` call as the reference lists when those are read: their rows, in order, or None when the
    cached answer was used and ``queries`` were not sent."""
    # a dry run's client has its own scope: its made-up ids never reach a real run's cache, nor the reverse
    scope = str(getattr(qbo, "cache_scope", ""))
    key = (qbo.base_url, qbo.realm_id, hashlib.sha256(cfg.model_dump_json().encode()).hexdigest(), scope)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < max_age_s:
        cached = hit[1]
        return RefIds(dict(cached.accounts), dict(cached.items), dict(cached.payment_methods)), None
    lists = qbo.query_all_each(REFERENCE_QUERIES + queries)  # one batch call
    refs = _ensure_all(qbo, cfg, *lists[: len(REFERENCE_QUERIES)])
    with _cache_lock:
        _cache[key] = (time.monotonic(), refs)
    return refs, lists[len(REFERENCE_QUERIES) :]


_EVERY = "Active IN (true, false)"
#: The lists reference data are found in (inactive records included), read in one batch call.
REFERENCE_QUERIES = [("Account", _EVERY), ("Item", _EVERY), ("PaymentMethod", _EVERY)]


def _ensure_all(
    qbo: QBOClient,
    cfg: MappingConfig,
    account_rows: list[dict[str, Any]],
    item_rows: list[dict[str, Any]],
    method_rows: list[dict[str, Any]],
) -> RefIds:
    refs = RefIds()
    accounts = _by_name(account_rows)
    for name, rule in cfg.accounts.items():
        if rule.existing and name.casefold() not in accounts:
            raise LookupError(f"account {name!r} is marked existing in the mapping file but is not in QBO")
        body: dict[str, Any] = {"Name": name, "AccountType": rule.type}
        if rule.subtype:
            body["AccountSubType"] = rule.subtype
        refs.accounts[name] = _ensure(qbo, "Account", name, body, accounts, refs)

    items = _by_name(item_rows)
    for name, rule in cfg.items.items():
        income = refs.accounts[rule.income_account]
        body = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": income}}
        if rule.description:
            body["Description"] = rule.description
        refs.items[name] = _ensure(qbo, "Item", name, body, items, refs)
        _enforce_item(qbo, items[name.casefold()], rule.income_account, income, refs)

    methods = _by_name(method_rows)
    for name in sorted({pm.qbo_payment_method for pm in cfg.payment_methods.values()}):
        body = {"Name": name, "Type": "CREDIT_CARD" if "card" in name.casefold() else "NON_CREDIT_CARD"}
        refs.payment_methods[name] = _ensure(qbo, "PaymentMethod", name, body, methods, refs)
    return refs
