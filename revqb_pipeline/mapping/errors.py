"""Errors raised by the pure mapping layer.

``RecordError`` means "this one record cannot be mapped": the caller quarantines the record with
``reason`` (written for a finance person) and carries on with the others.
"""

from __future__ import annotations


class RecordError(ValueError):
    """A malformed or unmappable Rev.io record; ``reason`` says what is wrong in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappingMissing(RecordError):
    """The mapping file (or QBO) has no entry for something a record needs.

    ``kind`` is what is missing (``product``, ``tax``, ``payment_method``, ``credit_kind``, ``qbo_item`` ...),
    ``key`` the value that was looked up; ``message`` names both for a finance person.
    """

    def __init__(self, kind: str, key: object, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key
        self.message = message
