"""parse_qbo_fault over the three body shapes QBO sends, and the error classification."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from revqb_pipeline.clients.errors import (
    ClientConfigError,
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
    RevioAuthError,
    RevioError,
    RevioTransportError,
    fault_error,
    parse_qbo_fault,
)
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.models.tokens import MemoryTokenStore, OAuthTokens

FAR = datetime(2099, 1, 1, tzinfo=UTC)


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


# --------------------------------------------------------------------------- permanent vs transient


def test_permanent_causes_name_the_setting_to_fix() -> None:
    def cause(exc: Exception) -> str:
        return getattr(exc, "permanent_cause", None) or ""

    assert cause(OAuthError("invalid_client", "Client authentication failed", 401)).startswith(
        "QBO_CLIENT_ID / QBO_CLIENT_SECRET:"
    )
    assert cause(OAuthError("invalid_grant", "Token has been expired or revoked", 400)).startswith(
        "QBO_REFRESH_TOKEN:"
    )
    assert cause(OAuthError("no_tokens", "no refresh token stored")).startswith("QBO_REFRESH_TOKEN:")
    assert cause(OAuthError("http_404", "Not Found", 404)).startswith("QBO_TOKEN_URL:")
    realm = parse_qbo_fault(
        401, b'{"fault":{"error":[{"message":"x","detail":"Token is not valid for realm 1"}]}}'
    )
    assert isinstance(realm, QBOAuthError) and cause(realm).startswith("QBO_REALM_ID:")
    assert cause(parse_qbo_fault(403, _fault("", "Forbidden"))).startswith("QBO_REALM_ID / QBO_CLIENT_ID:")
    assert cause(parse_qbo_fault(401, _fault("120", "AuthorizationFailure"))).startswith("QBO_REFRESH_TOKEN:")
    assert cause(RevioAuthError(401, "Access denied due to missing subscription key.")).startswith(
        "REVIO_SUBSCRIPTION_KEY:"
    )
    assert "REVIO_PASSWORD" in cause(RevioAuthError(401, "Authorization has been denied for this request."))
    # transient and record-level errors have no run-level cause
    for exc in (
        OAuthError("http_503", status=503),
        OAuthError("transport_error", "ConnectError"),
        QBOServerError(status=500),
        parse_qbo_fault(429, _fault("3001")),
        parse_qbo_fault(400, _fault("6240", "Duplicate Name Exists Error")),
        RevioError(503, "unavailable"),
        RevioError(0, "no response"),
    ):
        assert cause(exc) == "", exc


def test_unusable_urls_fail_at_once_without_retries() -> None:
    sleeps: list[float] = []
    store = MemoryTokenStore({"r": OAuthTokens(access_token="a", refresh_token="r", access_expires_at=FAR)})
    oauth = OAuthClient("", "id", "secret", store, "r", sleep=sleeps.append)
    qbo = QBOClient("", "r", oauth, sleep=sleeps.append)
    with pytest.raises(ClientConfigError, match=r"^QBO_BASE_URL: "):
        qbo.company_info()
    with pytest.raises(ClientConfigError, match=r"^QBO_TOKEN_URL: "):
        oauth.refresh()
    revio = RevioClient("http://no-such-host.invalid", "c", "u", "p", "k", sleep=sleeps.append)
    with pytest.raises(
        ClientConfigError, match=r"^REVIO_BASE_URL: host 'no-such-host\.invalid' does not resolve"
    ):
        revio.get_json("/Customers")
    assert sleeps == []
    assert ClientConfigError("X", "y").permanent_cause == "X: y" and not ClientConfigError("X", "y").transient


def test_connection_refused_is_transient_and_retried_with_a_short_connect_timeout() -> None:
    sleeps: list[float] = []
    revio = RevioClient("http://127.0.0.1:1", "c", "u", "p", "k", max_retries=2, sleep=sleeps.append)
    assert revio._http.timeout.connect == 5.0
    with pytest.raises(RevioTransportError) as info:
        revio.get_json("/Customers")
    assert info.value.transient and info.value.permanent_cause is None
    assert len(sleeps) == 2
