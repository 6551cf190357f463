"""Canonical JSON and hashes for raw records and QBO payloads."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _number(d: Decimal) -> str:
    if not d.is_finite():
        raise ValueError(f"not a finite number: {d!r}")
    text = format(d, "f")
    return "0" if text in ("-0", "0") else text


def _encode(obj: Any, decimal_as_string: bool) -> str:
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, Decimal):
        text = _number(obj)
        return json.dumps(text) if decimal_as_string else text
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"not a finite number: {obj!r}")
        return _encode(Decimal(repr(obj)), decimal_as_string)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, datetime | date):
        return json.dumps(obj.isoformat())
    if isinstance(obj, Mapping):
        items = sorted((str(k), v) for k, v in obj.items())
        return (
            "{"
            + ",".join(
                f"{json.dumps(k, ensure_ascii=False)}:{_encode(v, decimal_as_string)}" for k, v in items
            )
            + "}"
        )
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_encode(v, decimal_as_string) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def canonical_json(obj: Any, *, decimal_as_string: bool = False) -> str:
    """Compact JSON with sorted keys; Decimals (and floats) written exactly, as numbers or strings."""
    return _encode(obj, decimal_as_string)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(raw: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a raw Rev.io record (numbers kept as numbers)."""
    return sha256_text(canonical_json(raw))


def payload_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a QBO payload, keys sorted, Decimals as strings."""
    return sha256_text(canonical_json(payload, decimal_as_string=True))
