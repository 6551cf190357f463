"""The Rev.io models' validator fast paths (plain ints, text, JSON Decimals) answer as the general path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from revqb_pipeline.models import revio


def _outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        out = fn(value)
    except ValueError as exc:
        return "error", str(exc)
    return type(out).__name__, out


inputs = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 2**63 - 1, 2**63, -1, 10**12, 10**12 - 1]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=2, min_value=-(10**13), max_value=10**13),
    st.sampled_from(
        [Decimal("1E-10"), Decimal("1E-11"), Decimal("1.00000000000"), Decimal("-0"), Decimal("1E+12")]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "12.50", "7", "a\x00b", "1_000"]),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=600, deadline=None)
@given(inputs)
def test_fast_paths_answer_as_the_general_path(value: Any) -> None:
    assert _outcome(revio._money, value) == _outcome(revio._money_general, value)
    assert _outcome(revio.parse_revio_id, value) == _outcome(revio._id_general, value)
    assert _outcome(revio._text, value) == _outcome(revio._text_general, value)


def test_a_json_decimal_is_returned_as_is() -> None:
    amount = Decimal("12.50")
    assert revio._money(amount) is amount
    assert revio.parse_revio_id(7) == 7 and revio._text("Zürich") == "Zürich"
