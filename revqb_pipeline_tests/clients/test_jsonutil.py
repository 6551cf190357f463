"""jsonutil.dumps' C-encoder fast path writes exactly the request body of the reference encoder."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients.jsonutil import _encode, plain_dumps
from revqb_pipeline_tests._json_values import json_values


def _reference(obj: Any) -> str | type[Exception]:
    out: list[str] = []
    try:
        _encode(obj, out)
    except (ValueError, TypeError) as exc:
        return type(exc)
    return "".join(out)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_fast_path_is_the_reference_text_or_none(obj: Any) -> None:
    expected = _reference(obj)
    fast = plain_dumps(obj)
    if fast is not None:
        assert fast == expected
    if isinstance(expected, str):
        assert jsonutil.dumps(obj) == expected
        assert jsonutil.dumps_bytes(obj) == expected.encode("ascii")
    else:
        with pytest.raises(expected):
            jsonutil.dumps(obj)


def test_a_qbo_body_takes_the_fast_path() -> None:
    body = {
        "DocNumber": "50001",
        "TxnDate": date(2026, 1, 1),
        "Line": [
            {"Amount": Decimal("150.00"), "Qty": Decimal("3"), "UnitPrice": Decimal("50.000")},
            {"Amount": Decimal("-0.01"), "Zero": Decimal("-0"), "Big": Decimal("1E+2")},
        ],
        "CustomerMemo": {"value": 'Café "quoted" \u2028'},
        "At": datetime(2026, 1, 1, 5),
        "Sparse": True,
        "Rate": 0.1,
    }
    text = plain_dumps(body)
    assert text is not None and text == _reference(body)
    assert '"Amount":150.00' in text and '"Zero":-0' in text and '"Big":100' in text
    assert '"TxnDate":"2026-01-01"' in text and '"At":"2026-01-01T05:00:00"' in text
    assert text.isascii()
    # values the C encoder cannot write as the reference does step aside (and raise as before)
    assert plain_dumps({"x": Decimal("NaN")}) is None
    assert plain_dumps({"x": {1, 2}}) is None
    assert plain_dumps({"x": "\x00D1\x00", "y": Decimal("1")}) is None
