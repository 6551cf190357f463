"""A hypothesis strategy of nested JSON-like values for the C-encoder fast paths' tests (request bodies in
``clients/test_jsonutil.py``, canonical JSON in ``mapping/test_hashing.py``): floats with NaN, Decimals,
dates, NULs and look-alikes of the Decimal markers."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=2, min_value=-(10**9), max_value=10**9),
    st.sampled_from([Decimal("-0"), Decimal("1E+2"), Decimal("-0.00"), Decimal("1E-7")]),
    st.text(),
    st.sampled_from(["\x00D1\x00", "\x00D", "\x00", "\\u0000D", "1e+5", '"', "Zürich", "\u2028"]),
    st.dates(),
    st.datetimes(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=20,
)
