"""Rev.io sandbox listing order (issue 10: pages no longer re-sort records already in key order)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from revqb_sandbox.revio.query import _sort_key, search

PK_VALUES = st.one_of(st.integers(1, 40), st.sampled_from(["", "x7", True, None]))


@settings(max_examples=200, deadline=None)
@given(
    pks=st.lists(PK_VALUES, max_size=25), page_size=st.integers(1, 30), sort=st.sampled_from(["", "-v", "v"])
)
def test_listing_order_is_primary_key_then_sort(pks: list[Any], page_size: int, sort: str) -> None:
    records = [{"bill_id": pk, "v": i % 3, "n": i} for i, pk in enumerate(pks)]
    params = [("search.page_size", str(page_size))] + ([("search.sort", sort)] if sort else [])
    got = search(records, params, "bill_id")["records"]
    want = sorted(records, key=lambda r: _sort_key(r["bill_id"]))  # stable: ties keep the given order
    if sort:
        want.sort(key=lambda r: r["v"], reverse=sort.startswith("-"))
        if sort.startswith("-"):  # equal values: primary key ascending
            want = sorted(want, key=lambda r: (-r["v"], _sort_key(r["bill_id"])))
    assert [r["n"] for r in got] == [r["n"] for r in want[:page_size]]


def test_records_in_key_order_are_listed_as_given() -> None:
    records = [{"bill_id": i, "total": i * 2} for i in range(1, 8)]
    page = search(records, [("search.page_size", "3"), ("search.page", "2")], "bill_id")
    assert [r["bill_id"] for r in page["records"]] == [4, 5, 6] and page["has_more"] is True
