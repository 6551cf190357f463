"""Batch endpoint and Change Data Capture."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from revqb_sandbox.qbo import writes
from revqb_sandbox.qbo.common import STRUCTURE_ERRORS, QBOError, structure_error
from revqb_sandbox.qbo.entities import BY_LOWER, SPECS
from revqb_sandbox.qbo.store import Obj, public
from revqb_sandbox.qbo.validation import WriteContext

CDC_MAX = 1000
CDC_DAYS = 30


def run_batch(
    ctx: WriteContext,
    body: Any,
    run_query: Callable[[str, WriteContext], dict[str, Any]],
    request_id: str | None,
) -> tuple[list[Obj], int]:
    """Run every item independently. Returns (BatchItemResponse list, number of committed writes)."""
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise QBOError("2020", "Required param missing", "Required parameter BatchItemRequest is missing")
    if len(items) > ctx.settings.batch_max_items:
        raise QBOError(
            "1040",
            "Batch size exceeds allowed limit",
            f"Number of items in the batch request ({len(items)}) exceeds the limit of "
            f"{ctx.settings.batch_max_items}",
        )
    out: list[Obj] = []
    writes_done = 0
    for item in items:
        bid = str(item.get("bId", "")) if isinstance(item, dict) else ""
        try:
            result = _item(ctx, item, run_query, request_id)
        except (QBOError, *STRUCTURE_ERRORS) as exc:
            err = exc if isinstance(exc, QBOError) else structure_error(exc)
            out.append({"bId": bid, "Fault": err.fault()})
            continue
        if "QueryResponse" not in result:
            writes_done += 1
        out.append({"bId": bid} | result)
    return out, writes_done


def _item(
    ctx: WriteContext,
    item: Any,
    run_query: Callable[[str, WriteContext], dict[str, Any]],
    request_id: str | None,
) -> Obj:
    if not isinstance(item, dict):
        raise QBOError(
            "2010", "Request has invalid or unsupported property", "BatchItemRequest must be objects"
        )
    bid = str(item.get("bId", ""))
    if not bid:
        raise QBOError("2020", "Required param missing", "Required parameter bId is missing")
    if request_id and len(request_id) + len(bid) > 50:
        raise QBOError(
            "6000",
            "A business validation error has occurred while processing your request",
            "Business Validation Error: You cannot enter more than 50 characters in the request_id field.",
        )
    if "Query" in item:
        return {"QueryResponse": run_query(str(item["Query"]), ctx)}
    names = [k for k in item if k in SPECS]
    if len(names) != 1:
        unknown = [k for k in item if k not in ("bId", "operation", "optionsData")]
        raise QBOError(
            "2010",
            "Request has invalid or unsupported property",
            f"Unsupported batch item content: {unknown}",
        )
    spec = SPECS[names[0]]
    operation = str(item.get("operation", "create")).lower()
    options = {o.strip().lower() for o in str(item.get("optionsData", "")).split(",") if o.strip()}
    sub = WriteContext(ctx.realm, ctx.settings, ctx.clock, ctx.include | options, ctx.hidden, ctx.events)
    payload = item[spec.name]
    if operation == "delete":
        obj = writes.delete(sub, spec, payload)
    elif operation == "void" or (operation == "update" and "void" in options):
        obj = writes.void(sub, spec, payload)
    elif operation in ("create", "update"):
        if (
            operation == "create"
            and isinstance(payload, dict)
            and payload.get("Id") not in (None, "", 0, "0")
        ):
            raise QBOError(
                "2010", "Request has invalid or unsupported property", "Id is not allowed on create"
            )
        if operation == "update" and isinstance(payload, dict) and payload.get("Id") in (None, ""):
            raise QBOError("2020", "Required param missing", "Required parameter Id is missing", "Id")
        obj = writes.save(sub, spec, payload)
        if operation == "create":
            ctx.hidden.add((spec.name, obj["Id"]))
    else:
        raise QBOError(
            "2010", "Request has invalid or unsupported property", f"Unsupported operation {operation}"
        )
    return {spec.name: obj}


def _parse_since(value: str, ctx: WriteContext) -> datetime:
    try:
        since = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise QBOError("2060", "Invalid Date Format", f"changedSince {value!r} is not a date/time") from exc
    if since.tzinfo is None:
        since = since.replace(tzinfo=ctx.clock.tz)
    return since


def cdc(ctx: WriteContext, entities: str, changed_since: str) -> list[Obj]:
    """``CDCResponse`` content: changed objects (and Deleted stubs) since ``changed_since``."""
    if not entities:
        raise QBOError("2020", "Required param missing", "Required parameter entities is missing")
    if not changed_since:
        raise QBOError("2020", "Required param missing", "Required parameter changedSince is missing")
    since = _parse_since(changed_since, ctx)
    if ctx.clock.now() - since > timedelta(days=CDC_DAYS):
        raise QBOError(
            "2070", "Invalid Date", f"changedSince cannot be more than {CDC_DAYS} days in the past"
        )
    groups: list[Obj] = []
    budget = CDC_MAX
    for raw_name in entities.split(","):
        spec = BY_LOWER.get(raw_name.strip().lower())
        if spec is None or not spec.cdc:
            raise QBOError("4001", "Invalid query", f"CDC is not supported for entity {raw_name.strip()!r}")
        rows = [public(o) for o in ctx.realm.table(spec.name).values()]
        rows += list(ctx.realm.deleted.get(spec.name, {}).values())
        changed = [r for r in rows if datetime.fromisoformat(r["MetaData"]["LastUpdatedTime"]) >= since]
        changed.sort(key=lambda r: (r["MetaData"]["LastUpdatedTime"], int(r["Id"])))
        changed = changed[:budget]
        budget -= len(changed)
        if changed:
            groups.append(
                {
                    spec.name: changed,
                    "startPosition": 1,
                    "maxResults": len(changed),
                    "totalCount": len(changed),
                }
            )
        else:
            groups.append({})
    return [{"QueryResponse": groups}]
