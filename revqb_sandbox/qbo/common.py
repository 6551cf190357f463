"""Shared helpers: API errors, Decimal-exact JSON, simulated clock."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
JSON_CT = "application/json;charset=UTF-8"


class QBOError(Exception):
    """An API error rendered as ``{"Fault": {"Error": [...], "type": ...}}``."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        """The ``Fault`` object."""
        err = {"Message": self.message, "Detail": self.detail or self.message, "code": self.code}
        err["element"] = self.element
        return {"Error": [err], "type": self.fault_type}


SYSTEM_MESSAGE = "An application error has occurred while processing your request"
SYSTEM_DETAIL = (
    "System Failure Error: An unexpected error occurred while accessing or saving your data. "
    "Please wait a few minutes and try again. If the problem persists, contact customer support."
)


def system_error(status: int = 500, note: str = "") -> QBOError:
    """10000 / SystemFault worded as Intuit words it (``note`` is appended for the sandbox's own log)."""
    detail = f"{SYSTEM_DETAIL} ({note})" if note else SYSTEM_DETAIL
    return QBOError("10000", SYSTEM_MESSAGE, detail, status=status, fault_type="SystemFault")


STRUCTURE_ERRORS = (TypeError, AttributeError, KeyError, ValueError, IndexError, ArithmeticError)


def structure_error(exc: Exception) -> QBOError:
    """A malformed request shape (wrong JSON types) as 400 Fault 2010 instead of a 500."""
    return QBOError(
        "2010",
        "Request has invalid or unsupported property",
        f"Request body has an invalid structure or value type ({type(exc).__name__})",
    )


class Clock:
    """Wall-clock timestamps in the company zone, plus a simulated monotonic clock (``time_scale``)."""

    def __init__(self, time_scale: float = 1.0, tz_offset_hours: int = -7) -> None:
        self.time_scale = time_scale
        self.tz = timezone(timedelta(hours=tz_offset_hours))
        self._t0 = time.monotonic()

    def sim(self) -> float:
        """Simulated seconds since start (runs 1/time_scale times faster than real time)."""
        return (time.monotonic() - self._t0) / self.time_scale

    def now(self) -> datetime:
        """Current wall time in the company zone."""
        return datetime.now(UTC).astimezone(self.tz)

    def stamp(self) -> str:
        """ISO-8601 second precision with offset (MetaData style)."""
        return self.now().isoformat(timespec="seconds")

    def time_field(self) -> str:
        """ISO-8601 millisecond precision with offset (response ``time``)."""
        return self.now().isoformat(timespec="milliseconds")

    def today(self) -> str:
        """Company-local date."""
        return self.now().date().isoformat()


_MARK = "\x00DEC:"
_MARK_RE = re.compile(r'"\\u0000DEC:(-?[0-9.E+-]+)"')


def _mark(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _MARK + format(obj, "f")
    if isinstance(obj, dict):
        return {k: _mark(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_mark(v) for v in obj]
    return obj


def dumps(obj: Any) -> bytes:
    """JSON with Decimals written as exact JSON numbers."""
    text = json.dumps(_mark(obj), separators=(",", ":"))
    return _MARK_RE.sub(lambda m: m.group(1), text).encode()


def loads(raw: bytes | str) -> Any:
    """Parse JSON with ``parse_float=Decimal``; raises QBOError 2010 on malformed input."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QBOError(
            "2010", "Request has invalid or unsupported property", f"Unable to parse request body: {exc}"
        ) from exc


def to_decimal(value: Any, element: str) -> Decimal:
    """Coerce an int/Decimal/numeric string to Decimal or raise 2090 Invalid Decimal."""
    if isinstance(value, bool):
        raise QBOError("2090", "Invalid Decimal", f"{element} is not a decimal: {value!r}", element)
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            pass
        else:
            if d.is_finite():
                return d
    raise QBOError("2090", "Invalid Decimal", f"{element} is not a decimal: {value!r}", element)


def money(value: Decimal) -> Decimal:
    """Round half-up to cents."""
    return value.quantize(CENT, rounding="ROUND_HALF_UP")


def new_tid() -> str:
    """An ``intuit_tid`` value."""
    return f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"


def fault_envelope(err: QBOError, clock: Clock) -> dict[str, Any]:
    """``{"Fault": ..., "time": ...}``."""
    return {"Fault": err.fault(), "time": clock.time_field()}


def auth_fault(detail: str) -> dict[str, Any]:
    """The lower-case 401 envelope (code 3200)."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def throttle_body(clock: Clock, xml: bool) -> tuple[bytes, str]:
    """429 body (JSON Fault 3001 or the legacy XML) and its content type."""
    message = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
    detail = "The request limit was reached.  Try again later"
    if xml:
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{clock.time_field()}">'
            f'<Fault type="SERVICE"><Error code="3001"><Message>{message}</Message>'
            f"<Detail>{detail}</Detail></Error></Fault></IntuitResponse>"
        )
        return body.encode(), "application/xml"
    err = QBOError("3001", message, detail, status=429, fault_type="SERVICE")
    return dumps(fault_envelope(err, clock)), JSON_CT
