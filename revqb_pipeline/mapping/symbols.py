"""Symbolic references used in built payloads, swapped for QBO ids just before the write.

Payload builders stay pure by naming what they point at (``revio-customer:1042``, ``item:Hosted PBX``);
``sync/resolver.py`` resolves them: a symbol backed by a ledger source type from that type's synced rows
(missing -> the record *waits*), a reference-data symbol from the ids the mapping's reference data got in
QBO (missing -> the record is *quarantined* with the name).
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER_PREFIX = "revio-customer:"
BILL_PREFIX = "revio-bill:"
CREDIT_PREFIX = "revio-credit:"
ITEM_PREFIX = "item:"
PAYMENT_METHOD_PREFIX = "payment-method:"
ACCOUNT_PREFIX = "account:"


@dataclass(frozen=True)
class Symbol:
    """One kind of symbolic reference: ``prefix<key>``, resolved from the ledger rows of ``source_type``
    or, when that is None, from the reference data's ``reference`` table (``items``, ``accounts`` ...)."""

    prefix: str
    kind: str
    what: str
    source_type: str | None = None
    reference: str | None = None

    @property
    def waits(self) -> bool:
        """A missing ledger-backed target makes the record wait (it may reach QBO later)."""
        return self.source_type is not None


SYMBOLS: tuple[Symbol, ...] = (
    Symbol(CUSTOMER_PREFIX, "customer", "Rev.io customer", source_type="customer"),
    Symbol(BILL_PREFIX, "invoice", "the invoice of Rev.io bill", source_type="bill"),
    Symbol(CREDIT_PREFIX, "credit memo", "credit memo", source_type="credit"),
    Symbol(ITEM_PREFIX, "item", "item", reference="items"),
    Symbol(PAYMENT_METHOD_PREFIX, "payment method", "payment method", reference="payment_methods"),
    Symbol(ACCOUNT_PREFIX, "account", "account", reference="accounts"),
)
BY_KIND: dict[str, Symbol] = {s.kind: s for s in SYMBOLS}
