"""canonical_json's C-encoder fast path writes exactly the text of the reference encoder, or steps aside."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.mapping.hashing import _encode, canonical_json, plain_canonical_json
from revqb_pipeline_tests._json_values import json_values


def _reference(obj: Any, as_string: bool) -> str | type[Exception]:
    try:
        return _encode(obj, as_string)
    except (ValueError, TypeError) as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(json_values, st.booleans())
def test_fast_path_is_the_reference_text_or_none(obj: Any, as_string: bool) -> None:
    expected = _reference(obj, as_string)
    fast = plain_canonical_json(obj, decimal_as_string=as_string)
    if fast is not None:
        assert fast == expected
    if isinstance(expected, str):
        assert canonical_json(obj, decimal_as_string=as_string) == expected
    else:
        with pytest.raises(expected):
            canonical_json(obj, decimal_as_string=as_string)


def test_a_raw_record_takes_the_fast_path() -> None:
    raw = jsonutil.loads(
        json.dumps({"bill_id": 7, "total": 12.5, "zero": -0.0, "name": "Zürich", "f": [{"v": None}]})
    )
    assert raw["total"] == Decimal("12.5")
    text = plain_canonical_json(raw)
    assert text == '{"bill_id":7,"f":[{"v":null}],"name":"Zürich","total":12.5,"zero":-0.0}'
    assert text == _encode(raw, False)
    assert plain_canonical_json({"d": date(2026, 1, 1), "t": datetime(2026, 1, 1, 5)}) == (
        '{"d":"2026-01-01","t":"2026-01-01T05:00:00"}'
    )
    assert plain_canonical_json({"x": Decimal("1E+50")}) is None  # beyond 40 digits: the reference path
    assert plain_canonical_json({"x": {1, 2}}) is None
