"""Symbolic references used in built payloads, swapped for QBO ids just before the write.

Payload builders stay pure by naming what they point at (``revio-customer:1042``, ``item:Hosted PBX``);
``sync/resolver.py`` resolves them from the ledger and the reference data.
"""

CUSTOMER_PREFIX = "revio-customer:"
BILL_PREFIX = "revio-bill:"
CREDIT_PREFIX = "revio-credit:"
ITEM_PREFIX = "item:"
PAYMENT_METHOD_PREFIX = "payment-method:"
ACCOUNT_PREFIX = "account:"
