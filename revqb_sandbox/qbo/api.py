"""Accounting API operations behind ``/v3/company/{realmId}/...`` (bytes in, status + JSON out)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from revqb_sandbox.qbo import batch, query, writes
from revqb_sandbox.qbo.common import (
    STRUCTURE_ERRORS,
    Clock,
    QBOError,
    dumps,
    fault_envelope,
    loads,
    structure_error,
    to_decimal,
)
from revqb_sandbox.qbo.entities import BY_LOWER, BY_PATH, SPECS
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.qbo.store import Obj, Realm, Store, StoredResponse, public
from revqb_sandbox.qbo.validation import WriteContext, check_length, clean, unknown

WRITE_OPS = ("create", "update", "delete", "void")


@dataclass
class ApiResult:
    """One API response."""

    status: int
    body: bytes
    events: list[tuple[str, str, str]]
    writes: int = 0


class QBOApi:
    """Dispatches API requests for one server (all realms)."""

    def __init__(self, settings: QBOSandboxSettings, clock: Clock, store: Store) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store

    def handle(self, realm_id: str, method: str, path: str, params: dict[str, str], raw: bytes) -> ApiResult:
        """Run one request under the store lock (with ``requestid`` replay for POSTs)."""
        with self.store.lock:
            realm = self.store.realm(realm_id)
            request_id = params.get("requestid") if method == "POST" else None
            key = ""
            if request_id:
                key = self._request_hash(path, params, raw)
                replay = self._replay(realm, request_id, key)
                if replay is not None:
                    return replay
            ctx = WriteContext(realm, self.settings, self.clock, self._includes(params))
            try:
                status, payload, n_writes = self._dispatch(ctx, method, path, params, raw, request_id)
            except (QBOError, *STRUCTURE_ERRORS) as exc:
                err = exc if isinstance(exc, QBOError) else structure_error(exc)
                status, payload, n_writes = err.status, fault_envelope(err, self.clock), 0
                ctx.events.clear()
            body = dumps(payload)
            if request_id and status < 500:
                realm.requestids[request_id] = StoredResponse(key, status, body, self.clock.sim())
            return ApiResult(status, body, list(ctx.events), n_writes)

    @staticmethod
    def _request_hash(path: str, params: dict[str, str], raw: bytes) -> str:
        fields = sorted((k, v) for k, v in params.items() if k not in ("requestid", "minorversion"))
        return hashlib.sha256(repr((path, fields)).encode() + b"\0" + raw).hexdigest()

    def _replay(self, realm: Realm, request_id: str, key: str) -> ApiResult | None:
        now = self.clock.sim()
        for rid in [r for r, s in realm.requestids.items() if now - s.at_sim > self.settings.requestid_ttl_s]:
            del realm.requestids[rid]
        stored = realm.requestids.get(request_id)
        if stored is None:
            return None
        if stored.body_hash == key:
            return ApiResult(stored.status, stored.body, [])
        err = QBOError(
            "600",
            "Duplicate Request ID",
            f"The request ID {request_id} you're trying to use already exists for a different request.",
        )
        return ApiResult(400, dumps(fault_envelope(err, self.clock)), [])

    @staticmethod
    def _includes(params: dict[str, str]) -> set[str]:
        return {p.strip().lower() for p in params.get("include", "").split(",") if p.strip()}

    def _dispatch(
        self,
        ctx: WriteContext,
        method: str,
        path: str,
        params: dict[str, str],
        raw: bytes,
        request_id: str | None,
    ) -> tuple[int, Obj, int]:
        parts = [p for p in path.split("/") if p]
        now = {"time": self.clock.time_field()}
        if not parts:
            raise QBOError("2000", "Invalid or unsupported object name", "No entity in the request path")
        head = parts[0]
        if head == "query":
            text = params.get("query", "") if method == "GET" else raw.decode("utf-8", "replace")
            if not text.strip():
                raise QBOError("4000", "Error parsing query", "QueryParserError: empty query")
            return 200, {"QueryResponse": self.run_query(text, ctx)} | now, 0
        if head == "batch" and method == "POST":
            items, n = batch.run_batch(ctx, loads(raw or b"{}"), self.run_query, request_id)
            return 200, {"BatchItemResponse": items} | now, n
        if head == "cdc" and method == "GET":
            result = batch.cdc(ctx, params.get("entities", ""), params.get("changedSince", ""))
            return 200, {"CDCResponse": result} | now, 0
        if head == "companyinfo" and method == "GET":
            return 200, {"CompanyInfo": copy.deepcopy(ctx.realm.company_info)} | now, 0
        if head == "preferences":
            if method == "POST":
                return 200, {"Preferences": self._update_preferences(ctx, loads(raw))} | now, 1
            return 200, {"Preferences": copy.deepcopy(ctx.realm.preferences)} | now, 0
        if head == "taxservice" and len(parts) == 2 and parts[1] == "taxcode" and method == "POST":
            return 200, self._tax_service(ctx, loads(raw)), 1
        spec = BY_PATH.get(head)
        if spec is None:
            raise QBOError("2000", "Invalid or unsupported object name", f"Unsupported entity path /{head}")
        if method == "GET" and len(parts) == 2:
            obj = ctx.get(spec.name, parts[1])
            if obj is None:
                raise writes.not_found(spec.name, parts[1])
            return 200, {spec.name: public(obj)} | now, 0
        if method != "POST" or len(parts) != 1:
            raise QBOError("500", "Unsupported Operation", f"{method} /{path} is not supported")
        body = loads(raw)
        operation = params.get("operation", "").lower()
        if operation == "delete":
            return 200, {spec.name: writes.delete(ctx, spec, body)} | now, 1
        if operation == "void" or (operation == "update" and "void" in ctx.include):
            return 200, {spec.name: writes.void(ctx, spec, body)} | now, 1
        if operation not in ("", "create", "update"):
            raise QBOError("500", "Unsupported Operation", f"Operation {operation} is not supported")
        return 200, {spec.name: writes.save(ctx, spec, body)} | now, 1

    def run_query(self, text: str, ctx: WriteContext) -> dict[str, Any]:
        """Execute a query against the realm (objects created earlier in the same batch are invisible)."""

        def rows_for(name: str) -> tuple[str, list[Obj]] | None:
            if name == "preferences":
                return "Preferences", [ctx.realm.preferences]
            if name == "companyinfo":
                return "CompanyInfo", [ctx.realm.company_info]
            spec = BY_LOWER.get(name)
            if spec is None:
                return None
            rows = [o for oid, o in ctx.realm.table(spec.name).items() if (spec.name, oid) not in ctx.hidden]
            return spec.name, rows

        def lookup(name: str, field: str, keys: list[Hashable]) -> tuple[str, list[Obj]] | None:
            spec = BY_LOWER.get(name)
            if spec is None:
                return None
            table = ctx.realm.table(spec.name)
            index = table.index(("query", field.lower(), fold), query.stored_keys(field, fold))
            oids = table.in_order(index.lookup(keys))
            return spec.name, [table[oid] for oid in oids if (spec.name, oid) not in ctx.hidden]

        fold = self.settings.query_case_insensitive
        return query.execute(text, rows_for, fold=fold, lookup=lookup)

    def _update_preferences(self, ctx: WriteContext, body: Any) -> Obj:
        prefs = ctx.realm.preferences
        if not isinstance(body, dict):
            raise QBOError(
                "2010", "Request has invalid or unsupported property", "Preferences must be an object"
            )
        if str(body.get("SyncToken")) != prefs["SyncToken"]:
            raise QBOError(
                "5010", "Stale Object Error", "Stale Object Error : Preferences SyncToken mismatch"
            )
        body = clean(body)
        for section, value in body.items():
            if section in ("Id", "SyncToken", "MetaData", "domain", "sparse"):
                continue
            if not isinstance(value, dict) or section not in prefs:
                raise unknown(section, "Preferences")
            _merge_prefs(prefs[section], value)
        prefs["SyncToken"] = str(int(prefs["SyncToken"]) + 1)
        prefs["MetaData"]["LastUpdatedTime"] = self.clock.stamp()
        ctx.events.append(("Preferences", prefs["Id"], "Update"))
        return copy.deepcopy(prefs)

    def _tax_service(self, ctx: WriteContext, body: Any) -> Obj:
        """``POST taxservice/taxcode``: a TaxCode plus new or existing TaxRates; unwrapped response."""
        if not isinstance(body, dict) or not body.get("TaxCode"):
            raise QBOError(
                "2020", "Required param missing", "Required parameter TaxCode is missing", "TaxCode"
            )
        name = str(body["TaxCode"])
        if any(
            str(c.get("Name", "")).casefold() == name.casefold() for c in ctx.realm.table("TaxCode").values()
        ):
            raise QBOError("6240", "Duplicate Name Exists Error", f"The tax code name {name} already exists.")
        details_out = []
        rate_details = []
        for det in body.get("TaxRateDetails") or []:
            if det.get("TaxRateId") not in (None, "", 0):
                rate = ctx.get("TaxRate", det["TaxRateId"])
                if rate is None:
                    raise QBOError("2500", "Invalid Reference Id", f"TaxRate {det['TaxRateId']} not found")
            else:
                for key in ("TaxRateName", "RateValue", "TaxAgencyId"):
                    if det.get(key) in (None, ""):
                        raise QBOError(
                            "2020", "Required param missing", f"Required parameter {key} is missing"
                        )
                check_length(str(det["TaxRateName"]), self.settings.tax_rate_name_max_len, "TaxRateName")
                if ctx.get("TaxAgency", det["TaxAgencyId"]) is None:
                    raise QBOError(
                        "2500", "Invalid Reference Id", f"TaxAgency {det['TaxAgencyId']} not found"
                    )
                rate = self._new(ctx, "TaxRate", {"Name": det["TaxRateName"], "Active": True}
                                 | {"RateValue": to_decimal(det["RateValue"], "RateValue")}
                                 | {"AgencyRef": {"value": str(det["TaxAgencyId"])}})  # fmt: skip
            applicable = det.get("TaxApplicableOn", "Sales")
            rate_details.append({"TaxRateRef": {"value": rate["Id"], "name": rate["Name"]}, "TaxOrder": 0})
            details_out.append(
                {"TaxRateName": rate["Name"], "TaxRateId": rate["Id"], "RateValue": rate["RateValue"]}
                | {"TaxAgencyId": rate["AgencyRef"]["value"], "TaxApplicableOn": applicable}
            )
        code = self._new(
            ctx,
            "TaxCode",
            {"Name": name, "Description": name, "Active": True, "Taxable": True, "TaxGroup": True}
            | {
                "SalesTaxRateList": {"TaxRateDetail": rate_details},
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            },
        )
        return {"TaxCode": name, "TaxCodeId": code["Id"], "TaxRateDetails": details_out}

    def _new(self, ctx: WriteContext, entity: str, fields: Obj) -> Obj:
        stamp = self.clock.stamp()
        oid = ctx.realm.next_id(entity)
        obj = {"Id": oid, "SyncToken": "0", "domain": "QBO", "sparse": False} | fields
        obj["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        ctx.realm.table(entity)[oid] = obj
        return obj


READ_ONLY_PREFS = frozenset(
    {
        "FirstMonthOfFiscalYear",
        "TaxYearMonth",
        "UseAccountNumbers",
        "HomeCurrency",
        "CalcAgingReportFromTxnDate",
    }
)


def _merge_prefs(current: Obj, update: Obj) -> None:
    """Sparse merge: nested objects merge, ``NameValue``/``CustomField`` lists merge by ``Name``.

    Read-only and unknown keys inside a known section are ignored (python-quickbooks posts its own defaults).
    """
    for key, value in update.items():
        if key in READ_ONLY_PREFS or key not in current:
            continue
        old = current[key]
        if isinstance(old, dict) and isinstance(value, dict):
            _merge_prefs(old, value)
        elif key in ("NameValue", "CustomField", "POCustomField") and isinstance(value, list):
            _merge_named(old, value)
        else:
            current[key] = value


def _merge_named(current: list[Obj], update: list[Any]) -> None:
    """Entries with a ``Name`` replace their namesake (groups of ``CustomField`` recurse)."""
    flat = {e.get("Name"): e for e in current if isinstance(e, dict) and "Name" in e}
    for entry in update:
        if not isinstance(entry, dict):
            continue
        if "CustomField" in entry and isinstance(entry["CustomField"], list):
            for group in current:
                if isinstance(group, dict) and "CustomField" in group:
                    names = {f.get("Name") for f in group["CustomField"]}
                    if names & {f.get("Name") for f in entry["CustomField"] if isinstance(f, dict)}:
                        _merge_named(group["CustomField"], entry["CustomField"])
            continue
        name = entry.get("Name")
        if name in flat:
            flat[name].update(entry)
        elif name:
            current.append(entry)


def entity_names() -> list[str]:
    """All entity names the sandbox knows."""
    return sorted(SPECS)
