"""Pure helpers: query escaping/building, exact Decimal JSON, Rev.io params and error bodies."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import httpx
import pytest

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients.errors import RevioAuthError, RevioError, RevioNotFound, RevioThrottled
from revqb_pipeline.clients.qbo import BatchOp, build_query, in_clause, quote_value, rows_of
from revqb_pipeline.clients.revio import parse_revio_error, primary_key, search_params


def test_quote_value_escapes_backslash_then_quote() -> None:
    assert quote_value("O'Keefe") == r"'O\'Keefe'"
    assert quote_value("O'Brien \\ Sons") == r"'O\'Brien \\ Sons'"
    # a trailing backslash must not un-escape the closing quote
    assert quote_value("x\\") == r"'x\\'"
    assert quote_value("\\'") == r"'\\\''"
    assert quote_value(58) == "'58'"


def test_in_clause() -> None:
    assert in_clause(["1", "2"]) == "('1', '2')"
    assert in_clause(["a'b"]) == r"('a\'b')"
    with pytest.raises(ValueError):
        in_clause([])


def test_build_query() -> None:
    assert build_query("Customer") == "SELECT * FROM Customer"
    assert (
        build_query("Invoice", ["DocNumber = 'R1'", "", "TxnDate > '2024-01-01'"], "Id", 1, 50)
        == "SELECT * FROM Invoice WHERE DocNumber = 'R1' AND TxnDate > '2024-01-01' "
        "ORDERBY Id STARTPOSITION 1 MAXRESULTS 50"
    )
    assert build_query("Item", "Active IN (true, false)", start=0, max_results=5000) == (
        "SELECT * FROM Item WHERE Active IN (true, false) STARTPOSITION 1 MAXRESULTS 1000"
    )
    assert (
        build_query("Invoice", "Balance > '0'", count=True)
        == "SELECT COUNT(*) FROM Invoice WHERE Balance > '0'"
    )


def test_rows_of() -> None:
    assert rows_of({}) == []
    assert rows_of({"Customer": [{"Id": "1"}], "startPosition": 1, "maxResults": 1}) == [{"Id": "1"}]
    assert rows_of({"totalCount": 4}) == []


def test_decimal_json_is_exact_numbers() -> None:
    body = {
        "Amount": Decimal("150.00"),
        "UnitPrice": Decimal("0.33333"),
        "Big": Decimal("1E+2"),
        "Qty": 3,
        "F": 0.1,
        "Flag": True,
        "Name": 'Café "quoted"',
        "When": date(2024, 5, 1),
        "Lines": [{"Amount": Decimal("-0.01")}, None],
    }
    text = jsonutil.dumps(body)
    assert '"Amount":150.00' in text and '"UnitPrice":0.33333' in text and '"Big":100' in text
    assert '"When":"2024-05-01"' in text and '"Flag":true' in text
    back = jsonutil.loads(text)
    assert back["Amount"] == Decimal("150.00") and isinstance(back["Amount"], Decimal)
    assert back["Qty"] == 3 and isinstance(back["Qty"], int)
    assert back["Lines"][0]["Amount"] == Decimal("-0.01")
    assert json.loads(text)["Name"] == 'Café "quoted"'
    with pytest.raises(ValueError):
        jsonutil.dumps({"x": Decimal("NaN")})
    with pytest.raises(TypeError):
        jsonutil.dumps({"x": object()})


def test_batch_op_item() -> None:
    op = BatchOp(bid="b1", operation="update", entity="Payment", body={"Id": "9"}, options_data="void")
    assert op.to_item() == {"bId": "b1", "operation": "update", "Payment": {"Id": "9"}, "optionsData": "void"}
    with pytest.raises(ValueError):
        BatchOp(bid="b1", operation="merge", entity="Payment", body={})  # type: ignore[arg-type]


def test_revio_search_params_and_primary_keys() -> None:
    params = search_params(
        {
            "created_date_start": datetime(2024, 5, 1, 13, 4, 5, 999),
            "bill_id": 7,
            "x": None,
            "search.sort": "bill_id",
        }
    )
    assert params == {
        "search.created_date_start": "2024-05-01T13:04:05",
        "search.bill_id": "7",
        "search.sort": "bill_id",
    }
    assert search_params({"d": date(2024, 1, 2)}) == {"search.d": "2024-01-02T00:00:00"}
    assert primary_key("Credits") == "credit_memo_id"
    assert primary_key("ProductTypes") == "product_type_id"
    assert primary_key("Widgets") is None


def _resp(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers or {})


def test_revio_error_bodies_are_parsed_tolerantly() -> None:
    throttled = parse_revio_error(
        _resp(429, {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 26 seconds."})
    )
    assert isinstance(throttled, RevioThrottled) and throttled.retry_after == 26
    header = parse_revio_error(_resp(429, "", {"Retry-After": "3"}))
    assert isinstance(header, RevioThrottled) and header.retry_after == 3
    arr = parse_revio_error(_resp(400, [{"ok": False, "message": "customer_id is required"}]))
    assert type(arr) is RevioError and arr.message == "customer_id is required" and not arr.transient
    nested = parse_revio_error(_resp(400, {"ok": False, "errors": {"amount": ["must be > 0"]}}))
    assert "amount" in nested.message
    assert isinstance(
        parse_revio_error(_resp(401, {"statusCode": 401, "message": "Access denied"})), RevioAuthError
    )
    assert isinstance(parse_revio_error(_resp(404, "Not Found")), RevioNotFound)
    server = parse_revio_error(_resp(502, "<html>bad gateway</html>"))
    assert server.transient and server.raw == "<html>bad gateway</html>"
