"""Exact Decimals through the C ``json`` encoder: each Decimal is written as a marked string (NUL "D"
digits NUL) and unquoted afterwards. Shared by ``clients.jsonutil`` (request bodies) and
``mapping.hashing`` (canonical JSON); both fall back to their reference encoder on ``None``/``NotPlain``."""

from __future__ import annotations

NUL = "\\u0000"  # how json writes a NUL character (with or without ensure_ascii)


class NotPlain(Exception):
    """The fast path cannot encode this value exactly as the reference encoder does."""


def mark(digits: str) -> str:
    """The marked string standing for a Decimal's ``digits`` until :func:`unmark`."""
    return "\x00D" + digits + "\x00"


def unmark(text: str, marks: int) -> str | None:
    """``text`` with its ``marks`` marked Decimals unquoted, or None when an escaped NUL in it is not one of
    the markers' two (stripping the markers' ends is then exact)."""
    if not marks and NUL not in text:
        return text
    if text.count(NUL) != 2 * marks or text.count('"' + NUL + "D") != marks:
        return None
    return text.replace('"' + NUL + "D", "").replace(NUL + '"', "")
