"""Generic request validation: cleaning, unknown properties (2010), required (2020), lengths (2050), refs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from revqb_sandbox.qbo.common import Clock, QBOError
from revqb_sandbox.qbo.entities import ADDRESS, DETAIL_TYPES, LINE_DETAILS, LINE_FIELDS, REF, EntitySpec
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.qbo.store import Obj, Realm

SCHEMA = "com.intuit.schema.finance.v3"


@dataclass
class WriteContext:
    """Everything one write needs: the realm, options and what it changed."""

    realm: Realm
    settings: QBOSandboxSettings
    clock: Clock
    include: set[str] = field(default_factory=set)
    hidden: set[tuple[str, str]] = field(default_factory=set)
    events: list[tuple[str, str, str]] = field(default_factory=list)

    def get(self, entity: str, obj_id: Any) -> Obj | None:
        """A live object, unless created earlier in the same batch (invisible to later items)."""
        oid = str(obj_id)
        if (entity, oid) in self.hidden:
            return None
        return self.realm.table(entity).get(oid)


def clean(value: Any) -> Any:
    """Drop empty strings and nulls (python-quickbooks sends ``""`` for unset fields)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            cv = clean(v)
            if cv is None or cv == "":
                continue
            out[k] = cv
        return out
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


def unknown(prop: str, cls: str) -> QBOError:
    """A Jackson-style 2010 error."""
    return QBOError(
        "2010",
        "Request has invalid or unsupported property",
        f'Property Name:Unrecognized field "{prop}" (class {SCHEMA}.{cls}), not marked as ignorable',
        prop,
    )


def check_properties(spec: EntitySpec, body: Obj) -> None:
    """Reject unknown top-level, address, reference and line properties (2010)."""
    for key, value in body.items():
        if key not in spec.fields:
            raise unknown(key, spec.name)
        if key.endswith("Ref") and isinstance(value, dict):
            for sub in value:
                if sub not in REF:
                    raise unknown(sub, "ReferenceType")
        if key.endswith("Addr") and key not in {"PrimaryEmailAddr", "WebAddr"} and isinstance(value, dict):
            for sub in value:
                if sub not in ADDRESS:
                    raise unknown(sub, "PhysicalAddress")
    lines = body.get("Line")
    if lines is None:
        return
    if not isinstance(lines, list):
        raise QBOError("2010", "Request has invalid or unsupported property", "Line must be an array", "Line")
    for line in lines:
        if not isinstance(line, dict):
            raise QBOError(
                "2010", "Request has invalid or unsupported property", "Line item must be an object"
            )
        if spec.name == "Payment":
            for key in line:
                if key not in {"Id", "LineNum", "Amount", "LinkedTxn", "LineEx", "Description"}:
                    raise unknown(key, "Line")
            continue
        dt = line.get("DetailType")
        if dt is None:
            raise required("Line.DetailType")
        if dt not in DETAIL_TYPES:
            raise QBOError(
                "2010",
                "Request has invalid or unsupported property",
                f"Property Name:Can not deserialize value of type {SCHEMA}.LineDetailTypeEnum from String "
                f'"{dt}": value not one of declared Enum instance names',
                "Line.DetailType",
            )
        detail_key = DETAIL_TYPES[dt]
        for key, value in line.items():
            if key in LINE_FIELDS or key == detail_key:
                continue
            if key in DETAIL_TYPES.values() and not value:
                continue  # an empty detail of another type (python-quickbooks artefact)
            raise unknown(key, "Line")
        for key in line.get(detail_key) or {}:
            if key not in LINE_DETAILS[detail_key]:
                raise unknown(key, detail_key)


def required(element: str) -> QBOError:
    """2020 Required param missing."""
    return QBOError(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def dig(obj: Obj, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"`` (None if absent)."""
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def check_lengths(spec: EntitySpec, body: Obj) -> None:
    """2050 for strings longer than the reference allows."""
    for dotted, limit in spec.lengths.items():
        check_length(dig(body, dotted), limit, dotted)


def check_length(value: Any, limit: int, element: str) -> None:
    """2050 (Intuit's wording) when the string ``value`` is longer than ``limit``."""
    if isinstance(value, str) and len(value) > limit:
        raise QBOError(
            "2050",
            "String length is either shorter or longer than supported by specification",
            f"String length specified does not match the supported length. Min:0 Max:{limit} supported. "
            f"Supplied length:{len(value)}",
            element,
        )


def check_date(body: Obj, key: str) -> None:
    """2060 when a date is not ``YYYY-MM-DD``."""
    value = body.get(key)
    if value is None:
        return
    try:
        date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise QBOError(
            "2060", "Invalid Date Format", f"{key} {value!r} is not a YYYY-MM-DD date", key
        ) from exc


def resolve_ref(
    ctx: WriteContext, entity: str, ref: Any, element: str, *, allow_inactive: bool = False
) -> Obj:
    """The referenced object, filling ``name``; 2500 if missing, 610 if inactive."""
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        raise required(f"{element}.value")
    value = str(ref["value"])
    target = ctx.get(entity, value)
    if target is None:
        raise QBOError(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : {entity} assigned is not found: {value}",
            element,
        )
    if target.get("Active") is False and not allow_inactive:
        raise QBOError(
            "610",
            "Object Not Found",
            "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
            f"accounts, customers, items, vendors or employees. ({entity} {value})",
            element,
        )
    ref.pop("type", None)
    ref["value"] = value
    name = target.get("FullyQualifiedName") or target.get("DisplayName") or target.get("Name")
    if name:
        ref["name"] = name
    return target


def check_refs(ctx: WriteContext, spec: EntitySpec, body: Obj) -> None:
    """Resolve every top-level reference the spec knows."""
    for key, entity in spec.refs.items():
        ref = body.get(key)
        if ref is None:
            continue
        if isinstance(ref, dict) and ref.get("value") in (None, ""):
            body.pop(key)
            continue
        resolve_ref(ctx, entity, ref, key)
