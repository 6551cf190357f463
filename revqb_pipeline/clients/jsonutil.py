"""Exact JSON for money: parse numbers with a fraction as Decimal, write Decimal as a JSON number."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _encode_str  # type: ignore[attr-defined]
from typing import Any

from revqb_pipeline._jsonmarks import NotPlain, mark, unmark


def loads(data: bytes | str) -> Any:
    """``json.loads`` with ``parse_float=Decimal`` (integers stay ``int``)."""
    return json.loads(data, parse_float=Decimal)


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot send {value} as a JSON number")
    return format(value, "f")  # plain notation: Decimal("1E+2") -> "100", keeps "150.00" as is


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot send {value} as a JSON number")
    return repr(value)


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_str(obj))
    elif isinstance(obj, Decimal):
        out.append(_decimal(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, Mapping):
        out.append("{")
        for i, (key, value) in enumerate(obj.items()):
            if i:
                out.append(",")
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            out.append(_encode_str(key))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out)
        out.append("]")
    elif isinstance(obj, datetime | date):
        out.append(_encode_str(obj.isoformat()))
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def plain_dumps(obj: Any) -> str | None:
    """``dumps`` through the C ``json`` encoder, or None when it cannot be sure of the same text (a
    non-finite number, a value of another type, an escaped NUL that is not a marker's).

    A Decimal passes through ``default`` as the text NUL "D" digits NUL, unquoted afterwards; dates as ISO
    text. Keys are JSON's own: a non-``str`` key the reference refuses (int, float, bool, None) is written
    as json writes it (callers' bodies have no other keys)."""
    marks = 0

    def default(value: Any) -> str:
        nonlocal marks
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise NotPlain
            marks += 1
            return mark(format(value, "f"))
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise NotPlain

    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=default)
    except (NotPlain, ValueError, TypeError, RecursionError):
        return None
    return unmark(text, marks)


def dumps(obj: Any) -> str:
    """Compact JSON where ``Decimal`` becomes a number with its exact digits (never a string or float)."""
    text = plain_dumps(obj)
    if text is not None:
        return text
    out: list[str] = []
    _encode(obj, out)
    return "".join(out)


def dumps_bytes(obj: Any) -> bytes:
    return dumps(obj).encode("ascii")
