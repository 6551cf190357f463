"""Canonical JSON and hashes for raw records and QBO payloads."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from revqb_pipeline._jsonmarks import NotPlain, mark, unmark


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


# A float: as numbers, one in exponent form (``repr`` writes ``1e-05``, the reference ``0.00001``; text that
# merely looks so only costs the slow path); as strings, any bare fractional number after ":", "," or "["
# (the reference writes floats as strings there; Decimals are already quoted).
_FLOAT_EXPONENT = re.compile(r"[0-9]e[-+]")
_BARE_FLOAT = re.compile(r"[:,\[]-?[0-9]+[.e]")


def plain_canonical_json(obj: Any, *, decimal_as_string: bool = False) -> str | None:
    """``canonical_json`` through the C ``json`` encoder, or None when it cannot be sure of the same text:
    a value of another type, a Decimal that is not finite or beyond 40 digits of exponent, a non-finite
    float, or a float (or text) written with an exponent. Keys must be ``str`` (JSON's own; the callers'
    raw records and payloads have no other).

    Decimals pass through ``default``: as strings (``decimal_as_string``) directly; as numbers, marked as
    the text NUL "D" digits NUL and unquoted afterwards (any other NUL in the text falls back).
    """
    marks = 0

    def default(value: Any) -> Any:
        nonlocal marks
        if isinstance(value, Decimal):
            if not value.is_finite() or abs(value.adjusted()) > 40:
                raise NotPlain
            if decimal_as_string:
                return _number(value)
            marks += 1
            return mark(_number(value))
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise NotPlain

    try:
        text = json.dumps(
            obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
        )
    except (NotPlain, ValueError, TypeError):
        return None
    if decimal_as_string:
        if isinstance(obj, float) or _BARE_FLOAT.search(text):
            return None
    elif ("e+" in text or "e-" in text) and _FLOAT_EXPONENT.search(text):
        return None
    return unmark(text, marks)


def canonical_json(obj: Any, *, decimal_as_string: bool = False) -> str:
    """Compact JSON with sorted keys; Decimals (and floats) written exactly, as numbers or strings."""
    text = plain_canonical_json(obj, decimal_as_string=decimal_as_string)
    return text if text is not None else _encode(obj, decimal_as_string)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(raw: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a raw Rev.io record (numbers kept as numbers)."""
    return sha256_text(canonical_json(raw))


def payload_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a QBO payload, keys sorted, Decimals as strings."""
    return sha256_text(canonical_json(payload, decimal_as_string=True))
