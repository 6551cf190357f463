"""parse_qbo_fault over the three body shapes QBO sends, and the error classification."""

from __future__ import annotations

import json

import pytest

from revqb_pipeline.clients.errors import (
    OAuthError,
    QBOAuthError,
    QBODuplicateDocNumber,
    QBODuplicateName,
    QBODuplicateRequestId,
    QBOError,
    QBONotFound,
    QBOServerError,
    QBOStaleObject,
    QBOThrottled,
    QBOTransportError,
    QBOValidationError,
    fault_error,
    parse_qbo_fault,
)


def _fault(code: str, message: str = "m", detail: str = "d", element: str = "") -> bytes:
    body = {
        "Fault": {
            "Error": [{"Message": message, "Detail": detail, "code": code, "element": element}],
            "type": "ValidationFault",
        },
        "time": "2024-05-01T09:17:31.892-07:00",
    }
    return json.dumps(body).encode()


def test_json_validation_fault_keeps_everything() -> None:
    body = _fault("2020", "Required param missing", "Required parameter Line is missing", "Line")
    err = parse_qbo_fault(400, body, {"intuit_tid": "tid-1"})
    assert type(err) is QBOValidationError
    assert (err.status, err.code, err.element, err.intuit_tid) == (400, "2020", "Line", "tid-1")
    assert err.message == "Required param missing"
    assert err.detail == "Required parameter Line is missing"
    assert err.raw == body.decode()
    assert err.errors[0]["code"] == "2020"
    assert err.kind == "validation" and not err.transient
    assert "2020" in str(err) and "tid-1" in str(err)


def test_multiple_errors_are_kept() -> None:
    body = {
        "Fault": {
            "Error": [
                {"Message": "a", "Detail": "x", "code": "2050", "element": "DisplayName"},
                {"Message": "b", "Detail": "y", "code": "2010", "element": "Foo"},
            ],
            "type": "ValidationFault",
        }
    }
    err = parse_qbo_fault(400, json.dumps(body).encode(), {})
    assert err.code == "2050"
    assert [e["code"] for e in err.errors] == ["2050", "2010"]


@pytest.mark.parametrize(
    ("code", "cls", "kind"),
    [
        ("5010", QBOStaleObject, "stale"),
        ("6240", QBODuplicateName, "duplicate_name"),
        ("6140", QBODuplicateDocNumber, "duplicate_doc_number"),
        ("600", QBODuplicateRequestId, "duplicate_request_id"),
        ("610", QBONotFound, "not_found"),
        ("6000", QBOValidationError, "validation"),
        ("4000", QBOValidationError, "validation"),
    ],
)
def test_codes_map_to_types(code: str, cls: type[QBOError], kind: str) -> None:
    err = parse_qbo_fault(400, _fault(code), None)
    assert type(err) is cls
    assert err.kind == kind
    assert not err.transient


def test_duplicate_name_existing_id() -> None:
    err = parse_qbo_fault(
        400, _fault("6240", "Duplicate Name Exists Error", "The name supplied already exists. : Id=58")
    )
    assert isinstance(err, QBODuplicateName)
    assert err.existing_id == "58"
    plain = parse_qbo_fault(400, _fault("6240", detail="Another customer is already using this name."))
    assert isinstance(plain, QBODuplicateName) and plain.existing_id is None


def test_6000_try_again_and_10000_are_transient() -> None:
    assert parse_qbo_fault(
        400, _fault("6000", "An application error has occurred", "unexpected error, please try again")
    ).transient
    assert not parse_qbo_fault(
        400, _fault("6000", "Business Validation Error", "You must set a transaction amount")
    ).transient
    assert parse_qbo_fault(400, _fault("10000")).transient


def test_lower_case_401_envelope() -> None:
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired: 0123",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "batchItemResponse": [],
        "time": 1533811101733,
    }
    err = parse_qbo_fault(401, json.dumps(body).encode(), {"intuit_tid": "t401"})
    assert type(err) is QBOAuthError
    assert (err.code, err.detail, err.element, err.fault_type) == (
        "3200",
        "Token expired: 0123",
        "",
        "AUTHENTICATION",
    )
    assert err.kind == "auth" and not err.transient


def test_xml_throttle_body() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2017-07-30T22:45:22.933-07:00">
  <Fault type="SERVICE"><Error code="3001">
    <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>
    <Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"""
    err = parse_qbo_fault(429, body, {"Retry-After": "7", "intuit_tid": "x"})
    assert isinstance(err, QBOThrottled)
    assert (err.code, err.fault_type, err.retry_after) == ("3001", "SERVICE", 7.0)
    assert err.detail.startswith("The request limit was reached")
    assert err.transient and err.kind == "throttled"


def test_xml_auth_fault_from_403_throttle_and_old_401() -> None:
    xml401 = (
        b'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="AuthenticationFault">'
        b'<Error code="100"><Message>General Authentication Error</Message><Detail>x</Detail></Error>'
        b"</Fault></IntuitResponse>"
    )
    assert type(parse_qbo_fault(401, xml401, {})) is QBOAuthError
    xml403 = xml401.replace(b'code="100"', b'code="3001"')
    assert isinstance(parse_qbo_fault(403, xml403, {}), QBOThrottled)


def test_status_comes_first() -> None:
    assert type(parse_qbo_fault(503, b"<html>Service Unavailable</html>", {})) is QBOServerError
    err = parse_qbo_fault(500, _fault("2010"), {})
    assert type(err) is QBOServerError and err.transient
    assert type(parse_qbo_fault(429, b"", {})) is QBOThrottled
    assert type(parse_qbo_fault(401, b"not json", {})) is QBOAuthError
    assert type(parse_qbo_fault(404, b"", {})) is QBONotFound
    junk = parse_qbo_fault(400, b"garbage", {})
    assert type(junk) is QBOValidationError and junk.raw == "garbage" and junk.message == "garbage"


def test_batch_item_fault() -> None:
    item = {
        "bId": "b1",
        "Fault": {"type": "ValidationFault", "Error": [{"Message": "Stale", "code": "5010"}]},
    }
    err = fault_error(item, 200)
    assert isinstance(err, QBOStaleObject) and err.status == 200


def test_transport_and_oauth_errors() -> None:
    t = QBOTransportError("reset", cause=ConnectionResetError())
    assert t.transient and t.kind == "transport" and t.status == 0 and isinstance(t, QBOError)
    assert OAuthError("invalid_grant", "Incorrect or invalid refresh token", 400).needs_reauth
    assert not OAuthError("invalid_grant").transient
    assert OAuthError("http_503", status=503).transient
