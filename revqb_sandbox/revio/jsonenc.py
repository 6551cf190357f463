"""JSON for the Rev.io sandbox: ``Decimal`` written as an exact JSON number (money already has 2 places)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def dumps(obj: Any) -> str:
    """Serialize ``obj``; ``Decimal`` -> number text as-is (e.g. ``12.30``), never a float."""
    parts: list[str] = []
    _write(obj, parts)
    return "".join(parts)


def _write(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_str(obj))
    elif isinstance(obj, Decimal):
        out.append(format(obj, "f"))
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, float):
        out.append(json.dumps(obj))
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                out.append(", ")
            first = False
            out.append(_str(str(key)))
            out.append(": ")
            _write(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(", ")
            _write(value, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(obj).__name__}")


def loads(text: str | bytes) -> Any:
    """Parse JSON with exact decimals."""
    return json.loads(text, parse_float=Decimal)
