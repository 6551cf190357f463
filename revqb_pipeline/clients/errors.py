"""Typed errors for the QuickBooks Online and Rev.io clients, and the QBO fault parser.

Every error answers two questions for the layers above:

- ``transient``: the same call may succeed later (429, 5xx, timeouts, resets, 6000 "try again"); the
  clients retry these with backoff and Dagster's RetryPolicy may retry the step.
- ``permanent_cause``: retrying cannot help *the whole run* (credentials, permissions, unknown realm,
  configuration): one line naming the setting to fix, or None. Record-level errors (a QBO validation
  error on one payload) are neither: the record is quarantined and the run goes on.

Connection refused / connect timeouts on a configured host count as transient here (a restarting service
or a network blip mid-run): preflight proves reachability once when a run starts, so an unreachable host
fails there, at once, with the variable to fix. A URL that cannot work at all (missing scheme, a host
name that does not resolve) is a :class:`ClientConfigError`: permanent, never retried.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar


class ApiError(Exception):
    """Base class of every error raised by the revqb HTTP clients."""

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (the clients retry these)."""
        return False

    @property
    def permanent_cause(self) -> str | None:
        """One line naming what to fix when no retry can help the run (auth, realm, config); else None."""
        return None


class ClientConfigError(ApiError):
    """A client cannot work as configured (no URL scheme, unknown host...): fix ``setting``; never retried."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        self.message = message
        super().__init__(f"{setting}: {message}")

    @property
    def permanent_cause(self) -> str | None:
        return str(self)


#: Resolver messages meaning "this host name does not exist" (not "DNS is down for a moment").
_UNKNOWN_HOST = (
    "name or service not known",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo failed",
)


def config_error_from_transport(exc: Exception, setting: str, url: str) -> ClientConfigError | None:
    """A :class:`ClientConfigError` when an httpx transport error means the URL itself is wrong."""
    import httpx  # local: errors.py stays importable without the HTTP stack in pure helpers

    where = url or "(empty)"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL) or (
        not url and isinstance(exc, httpx.HTTPError)
    ):
        return ClientConfigError(setting, f"{where} is not a usable http(s) URL ({exc})")
    if isinstance(exc, httpx.ConnectError) and any(t in str(exc).lower() for t in _UNKNOWN_HOST):
        host = httpx.URL(url).host if url else ""
        return ClientConfigError(setting, f"host {host or where!r} does not resolve ({exc})")
    return None


# --------------------------------------------------------------------------- QuickBooks Online


class QBOError(ApiError):
    """An error answer (or no answer) from QuickBooks Online.

    ``code`` is QBO's error code as a string (``"6240"``); ``errors`` holds every ``Error`` entry of the
    fault; ``raw`` is the response body as text (for the ledger's ``last_error``).
    """

    default_kind: ClassVar[str] = "error"

    def __init__(
        self,
        status: int,
        code: str = "",
        message: str = "",
        detail: str = "",
        element: str = "",
        intuit_tid: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        raw: str = "",
        fault_type: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.intuit_tid = intuit_tid
        self.errors = list(errors or [])
        self.raw = raw
        self.fault_type = fault_type
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [f"QBO {self.status or 'no response'}"]
        if self.code:
            parts.append(f"code {self.code}")
        text = self.message
        if self.detail and self.detail != self.message:
            text = f"{text}: {self.detail}" if text else self.detail
        if text:
            parts.append(text)
        if self.element:
            parts.append(f"(element {self.element})")
        if self.intuit_tid:
            parts.append(f"[intuit_tid {self.intuit_tid}]")
        return " ".join(parts)

    @property
    def kind(self) -> str:
        """A short classification: auth, throttled, server, validation, stale, duplicate_name, ..."""
        return self.default_kind

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (429, 5xx, network, 6000 "try again", 10000)."""
        if self.status == 429 or self.status >= 500:
            return True
        if self.code in {"3001", "10000"}:
            return True
        if self.code == "6000":
            text = f"{self.message} {self.detail}".lower()
            return "try again" in text or "unexpected error" in text
        return False


class QBOAuthError(QBOError):
    """401 / 403 / 3200 / 120 / 100: the access token is invalid, or the app lost access to the company.

    The client refreshes the token once on a 401; an auth error that reaches the caller is permanent.
    """

    default_kind = "auth"

    @property
    def permanent_cause(self) -> str | None:
        text = " ".join(t for t in (self.message, self.detail) if t).strip()[:200]
        said = f"HTTP {self.status}" + (f" code {self.code}" if self.code else "") + f": {text}"
        if "realm" in text.lower():
            return f"QBO_REALM_ID: QBO refused this company for the app's token ({said})"
        if self.code == "120":
            return (
                f"QBO_REFRESH_TOKEN: the user who connected the app lost access ({said}); reconnect the app"
            )
        if self.status == 403:
            return f"QBO_REALM_ID / QBO_CLIENT_ID: the app is not authorized for this company ({said})"
        return f"QBO_REFRESH_TOKEN: QBO rejected a freshly refreshed access token ({said}); reconnect the app"


class QBOThrottled(QBOError):
    """429 / 3001: the realm's request limit was reached; ``retry_after`` seconds if the server said."""

    default_kind = "throttled"

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class QBOServerError(QBOError):
    """5xx: QBO failed; retry with backoff."""

    default_kind = "server"


class QBOValidationError(QBOError):
    """400 with a 2xxx / 4xxx / 6xxx code: the payload or query is wrong; do not retry as-is."""

    default_kind = "validation"


class QBOStaleObject(QBOValidationError):
    """5010: the SyncToken is stale; re-read and re-apply."""

    default_kind = "stale"


class QBODuplicateName(QBOValidationError):
    """6240: the name is taken (Customer/Vendor/Employee, Item, Account...); ``existing_id`` if QBO said."""

    default_kind = "duplicate_name"

    @property
    def existing_id(self) -> str | None:
        for text in (self.detail, self.message, *(str(e.get("Detail", "")) for e in self.errors)):
            match = _EXISTING_ID.search(text or "")
            if match:
                return match.group(1)
        return None


class QBODuplicateDocNumber(QBOValidationError):
    """6140: the DocNumber is already used by a transaction of that type."""

    default_kind = "duplicate_doc_number"


class QBODuplicateRequestId(QBOValidationError):
    """600: the requestid was already used (with a different body)."""

    default_kind = "duplicate_request_id"


class QBONotFound(QBOError):
    """610 (object not found / inactive reference) or HTTP 404."""

    default_kind = "not_found"


class QBOTransportError(QBOError):
    """No usable response (connection reset, timeout, cut body): the write may or may not have happened."""

    default_kind = "transport"

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(status=0, message=message)
        self.cause = cause

    @property
    def transient(self) -> bool:
        return True


class OAuthError(ApiError):
    """The token endpoint refused to refresh.

    ``needs_reauth`` (invalid_grant / invalid_client / no stored tokens): a person must reconnect the app;
    never retry. Otherwise (``transient``) the endpoint was unreachable or failed.
    """

    REAUTH_ERRORS: ClassVar[frozenset[str]] = frozenset(
        {"invalid_grant", "invalid_client", "unauthorized_client", "no_tokens"}
    )

    def __init__(self, error: str, description: str = "", status: int = 0, intuit_tid: str | None = None):
        self.error = error
        self.description = description
        self.status = status
        self.intuit_tid = intuit_tid
        text = f"OAuth {error}" + (f": {description}" if description else "")
        if status:
            text += f" (HTTP {status})"
        super().__init__(text)

    @property
    def needs_reauth(self) -> bool:
        return self.error in self.REAUTH_ERRORS

    @property
    def transient(self) -> bool:
        return not self.needs_reauth and (self.status == 0 or self.status == 429 or self.status >= 500)

    @property
    def permanent_cause(self) -> str | None:
        if self.transient:
            return None
        said = f"OAuth {self.error}" + (f": {self.description}" if self.description else "")
        if self.error in {"invalid_client", "unauthorized_client"}:
            return (
                f"QBO_CLIENT_ID / QBO_CLIENT_SECRET: the token endpoint rejected the app credentials ({said})"
            )
        if self.error == "invalid_grant":
            return (
                f"QBO_REFRESH_TOKEN: the refresh token was rejected ({said}); reconnect the app "
                "and set the new QBO_REFRESH_TOKEN (it replaces the stored one)"
            )
        if self.error == "no_tokens":
            return f"QBO_REFRESH_TOKEN: not set, and no token is stored for this realm ({said})"
        return f"QBO_TOKEN_URL: the token endpoint answered {said}"


# --------------------------------------------------------------------------- Rev.io


class RevioError(ApiError):
    """An error answer (or no answer, ``status`` 0) from the Rev.io REST API."""

    def __init__(self, status: int, message: str, raw: str = "") -> None:
        self.status = status
        self.message = message
        self.raw = raw
        super().__init__(f"Rev.io {status or 'no response'}: {message}")

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500


class RevioThrottled(RevioError):
    """429 from the APIM gateway; ``retry_after`` seconds when known."""

    def __init__(self, status: int, message: str, raw: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(status, message, raw)


class RevioAuthError(RevioError):
    """401 / 403: bad credentials, a missing subscription key, no permission, or the daily quota is spent."""

    @property
    def permanent_cause(self) -> str | None:
        text = self.message[:200]
        low = text.lower()
        if "subscription key" in low:
            return (
                f"REVIO_SUBSCRIPTION_KEY: Rev.io's gateway refused the APIM key (HTTP {self.status}: {text})"
            )
        if "quota" in low:
            return f"Rev.io: the daily API quota is used up (HTTP {self.status}: {text})"
        if self.status == 403:
            return f"REVIO_USERNAME: the Rev.io user lacks permission (HTTP 403: {text})"
        return (
            f"REVIO_USERNAME / REVIO_PASSWORD / REVIO_CLIENT_CODE: Rev.io rejected the credentials "
            f"(HTTP {self.status}: {text})"
        )


class RevioNotFound(RevioError):
    """404: the resource or record does not exist."""


class RevioTransportError(RevioError):
    """No usable response after the retries (for a create: it may or may not have happened, unless
    ``landed`` is False: the connection never opened)."""

    def __init__(self, message: str, *, cause: BaseException | None = None, landed: bool = True) -> None:
        super().__init__(0, message)
        self.cause = cause
        self.landed = landed


class RevioFieldMissing(RevioError, KeyError):
    """The record has no custom field with the requested label."""

    def __str__(self) -> str:
        return Exception.__str__(self)


# --------------------------------------------------------------------------- fault parsing

_EXISTING_ID = re.compile(r"\bId\s*[=:]\s*\"?(\d+)", re.IGNORECASE)
_AUTH_CODES = frozenset({"100", "110", "120", "3200", "3201"})


def _norm_code(value: Any) -> str:
    """QBO codes are strings; the 401 envelope pads them ("003200") inside messages, never in ``code``."""
    if value is None:
        return ""
    text = str(value).strip()
    return text.lstrip("0") or text if text.isdigit() else text


def _entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One Error entry with canonical keys (Message, Detail, code, element) whatever the casing."""
    low = {str(k).lower(): v for k, v in raw.items()}
    return {
        "Message": str(low.get("message") or ""),
        "Detail": str(low.get("detail") or ""),
        "code": _norm_code(low.get("code")),
        "element": str(low.get("element") or ""),
    }


def _from_json(data: Any) -> tuple[list[dict[str, Any]], str]:
    if not isinstance(data, Mapping):
        return [], ""
    fault = data.get("Fault")
    if fault is None:
        fault = data.get("fault")
    if isinstance(fault, Mapping):
        errors = fault.get("Error")
        if errors is None:
            errors = fault.get("error")
        if isinstance(errors, Mapping):
            errors = [errors]
        entries = [_entry(e) for e in errors or [] if isinstance(e, Mapping)]
        return entries, str(fault.get("type") or "")
    # OAuth-style or gateway bodies: {"error": "...", "error_description": "..."} / {"message": "..."}
    message = data.get("message") or data.get("Message") or data.get("error")
    if message:
        detail = data.get("error_description") or data.get("detail") or ""
        return [{"Message": str(message), "Detail": str(detail), "code": "", "element": ""}], ""
    return [], ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_xml(text: str) -> tuple[list[dict[str, Any]], str]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return [], ""
    fault = (
        root
        if _local(root.tag) == "Fault"
        else next((el for el in root.iter() if _local(el.tag) == "Fault"), None)
    )
    if fault is None:
        return [], ""
    entries: list[dict[str, Any]] = []
    for err in (el for el in fault.iter() if _local(el.tag) == "Error"):
        children = {_local(child.tag).lower(): (child.text or "").strip() for child in err}
        entries.append(
            _entry(
                {
                    "message": children.get("message", ""),
                    "detail": children.get("detail", ""),
                    "code": err.get("code", ""),
                    "element": err.get("element", ""),
                }
            )
        )
    return entries, fault.get("type", "")


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lname = name.lower()
    for key, val in headers.items():
        if key.lower() == lname:
            return val
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only; HTTP dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def _error_class(status: int, code: str) -> type[QBOError]:
    if status == 429 or code == "3001":
        return QBOThrottled
    if status in (401, 403) or code in _AUTH_CODES:
        return QBOAuthError
    if status >= 500:
        return QBOServerError
    by_code: dict[str, type[QBOError]] = {
        "5010": QBOStaleObject,
        "6240": QBODuplicateName,
        "6140": QBODuplicateDocNumber,
        "600": QBODuplicateRequestId,
        "610": QBONotFound,
    }
    if code in by_code:
        return by_code[code]
    if status == 404:
        return QBONotFound
    if status == 400 or (code.isdigit() and int(code) >= 2000):
        return QBOValidationError
    return QBOError


def fault_error(
    fault_body: Any,
    status: int = 400,
    *,
    intuit_tid: str | None = None,
    raw: str = "",
    retry_after: float | None = None,
) -> QBOError:
    """A typed error from an already-decoded body holding ``Fault`` / ``fault`` (also batch items)."""
    entries, fault_type = _from_json(fault_body)
    return _build(status, entries, fault_type, intuit_tid, raw, retry_after)


def _build(
    status: int,
    entries: list[dict[str, Any]],
    fault_type: str,
    intuit_tid: str | None,
    raw: str,
    retry_after: float | None,
) -> QBOError:
    first = entries[0] if entries else {"Message": "", "Detail": "", "code": "", "element": ""}
    code = first["code"]
    if not code and first["Message"]:
        # "message=ThrottleExceeded; errorCode=003001; statusCode=429"
        match = re.search(r"errorCode=(\d+)", first["Message"])
        if match:
            code = _norm_code(match.group(1))
    message = first["Message"] or (raw[:200].strip() if raw and not entries else "")
    cls = _error_class(status, code)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message,
        "detail": first["Detail"],
        "element": first["element"],
        "intuit_tid": intuit_tid,
        "errors": entries,
        "raw": raw,
        "fault_type": fault_type,
    }
    if cls is QBOThrottled:
        return QBOThrottled(retry_after=retry_after, **kwargs)
    return cls(**kwargs)


def parse_qbo_fault(status: int, body: bytes | str, headers: Mapping[str, str] | None = None) -> QBOError:
    """A typed QBOError from an HTTP answer: JSON ``Fault``, the 401 lower-case ``fault`` envelope, or XML."""
    raw = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    tid = _header(headers, "intuit_tid")
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    text = raw.strip()
    entries: list[dict[str, Any]] = []
    fault_type = ""
    if text.startswith("<"):
        entries, fault_type = _from_xml(text)
    elif text:
        try:
            entries, fault_type = _from_json(json.loads(text))
        except ValueError:
            entries = []
    return _build(status, entries, fault_type, tid, raw, retry_after)
