"""In-memory Rev.io tenant and its billing engine (used by the generator and by the server).

Records are plain dicts shaped like Rev.io's REST records: money is ``Decimal`` (2 places),
date-times are naive ``YYYY-MM-DDTHH:MM:SS`` strings.

Sandbox representations (UNCONFIRMED in Rev.io's docs; chosen here, switchable by settings):

- Bill amounts: ``invoice_amount = Σ charge.amount``, ``credit_memo_amount = Σ credit.amount`` (positive
  magnitudes) of the records with that ``bill_id``; ``amount_due = invoice_amount - credit_memo_amount``.
  A credit later issued with an existing ``bill_id`` updates ``credit_memo_amount``/``amount_due``;
  payments never change a bill.
- Bills carry an extra ``fields`` array with one custom field ``{"field_id": 201, "label": "QBO Invoice Id"}``
  (Rev.io's Bill schema has no ``fields``); Customers carry ``QBO Customer Id`` (field_id 101, index 0)
  and ``Collection Step`` (field_id 102, index 1). Empty values are ``""``.
- Bounce (``bounce_mode``): ``flag_and_reversal`` (default) sets ``bounced=true`` on the original payment
  AND adds a payment row with ``amount = -original``, ``bounced=true``, ``refund_flag=false``,
  ``original_payment_id = <original>``, ``reference_number = "BOUNCE-<ref>"``, same ``bill_id``;
  ``flag_only`` only flips the flag; ``reversal_only`` only adds the row.
- Refund (``refund_mode``): a new payment row with ``refund_flag=true``, ``original_payment_id``, the same
  ``bill_id`` and ``amount = -refund`` (``negative_row``, default) or ``+refund`` (``positive_row``).
- Bill reversal (``bill_reversal_mode``): ``flag_and_zero`` (default) sets ``is_reversed=true`` and
  ``reversed_date``, zeroes ``invoice_amount``/``credit_memo_amount``/``amount_due``; ``delete`` removes the
  bill. Either way its charges, credits and payments become unposted again (``bill_id = null``) and go
  on the next bill.
- Prorated recurring charges: ``quantity = units * covered_days / period_days`` (4 places),
  ``rate`` = catalog rate, ``proration = null``, ``is_prorated = true``; so every non-tax-included charge
  satisfies ``product_amount == round(rate * quantity, 2)`` and every charge
  ``amount == product_amount + tax_amount``.
- Service periods follow the customer's cycle day (bill profile 1 = the 1st, 2 = the 15th): a cycle on
  date D bills recurring charges in advance for ``[D, D + 1 month - 1 day]`` (plus a prorated catch-up
  for services started before D), usage in arrears for ``[D - 1 month, D - 1 day]``.

The tenant is one class, :class:`RevioState`, assembled from one mixin per concern: ``_store`` (tables,
``customer_id`` index, dataset load/save), ``_balances`` (net paid, open amounts, customer finance),
``_charges`` (charges and credits with tax), ``_payments`` (payments, bounces, refunds), ``_billing``
(services, bills, billing cycles) and ``_customers`` (status changes, summary); ``_dates`` holds the
date helpers.
"""

from __future__ import annotations

from revqb_sandbox.revio.state._billing import Billing
from revqb_sandbox.revio.state._customers import Customers
from revqb_sandbox.revio.state._dates import add_months, fmt, period_fraction, to_date
from revqb_sandbox.revio.state._payments import Payments
from revqb_sandbox.revio.state._store import (
    FIRST_ID,
    OWNED,
    PK,
    QTY,
    ZERO,
    EventSink,
    RevioDataset,
    SandboxError,
)

__all__ = [
    "FIRST_ID",
    "OWNED",
    "PK",
    "QTY",
    "ZERO",
    "EventSink",
    "RevioDataset",
    "RevioState",
    "SandboxError",
    "add_months",
    "fmt",
    "period_fraction",
    "to_date",
]


class RevioState(Customers, Billing, Payments):
    """The mutable tenant. Not thread-safe by itself: the server serializes calls with a lock.

    Storage and the ``customer_id`` index are described on
    :class:`~revqb_sandbox.revio.state._store.TenantStore`.
    """
