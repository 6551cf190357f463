"""Reconciliation: counts and totals per entity type in Rev.io and in QBO, and every difference found.

Rev.io is read through its API (not the staging copy), QBO through queries, so this also catches
anything the ledger believes that QBO does not show.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from revqb_pipeline.money import cents_to_dollars, from_cents, to_cents

if TYPE_CHECKING:  # pure at run time: the report's renderers import this module
    from revqb_pipeline.sync.runtime import Runtime

#: Kinds of :class:`Difference`.
MISSING_IN_QBO = "missing_in_qbo"
MISSING_IN_REVIO = "missing_in_revio"
AMOUNT = "amount"
CUSTOMER = "customer"
DUPLICATE = "duplicate"
OTHER = "other"


@dataclass(frozen=True)
class Difference:
    """One difference by document: what differs (``kind``), the Rev.io record or month (``document``), the
    QBO document, both amounts in cents (``None``: no amount on that side) and the customer concerned."""

    entity: str
    kind: str
    document: str
    message: str
    revio_cents: int | None = None
    qbo_cents: int | None = None
    qbo_document: str = ""
    customer: str = ""


@dataclass
class EntityReconciliation:
    """One entity type on both sides."""

    entity: str
    revio_count: int = 0
    qbo_count: int = 0
    revio_total_cents: int = 0
    qbo_total_cents: int = 0
    differences: list[str] = field(default_factory=list)
    #: False for an entity without amounts (customers): its totals print as "-", not "$0.00".
    has_total: bool = True
    #: The differences by document (the report's rows); each also has its line in ``differences``.
    details: list[Difference] = field(default_factory=list)

    def differ(
        self,
        kind: str,
        document: str,
        message: str,
        *,
        revio_cents: int | None = None,
        qbo_cents: int | None = None,
        qbo_document: str = "",
        customer: str = "",
    ) -> None:
        """Record one difference: its line in ``differences`` and its row in ``details``."""
        self.differences.append(message)
        self.details.append(
            Difference(self.entity, kind, document, message, revio_cents, qbo_cents, qbo_document, customer)
        )

    def difference_rows(self) -> list[Difference]:
        """Every difference as a row: ``details``, plus an ``other`` row for each line added to
        ``differences`` directly (its document: the text before the first ``": "``)."""
        described = Counter(d.message for d in self.details)
        rows = list(self.details)
        for line in self.differences:
            if described[line] > 0:
                described[line] -= 1
            else:  # "bill 12: ..." / "2025-03: ...": what precedes the first ": " names the document
                head, sep, _ = line.partition(": ")
                rows.append(Difference(self.entity, OTHER, head if sep and len(head) <= 40 else "", line))
        return rows

    @property
    def agrees(self) -> bool:
        return (
            not self.differences
            and self.revio_count == self.qbo_count
            and self.revio_total_cents == self.qbo_total_cents
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["has_total"]  # the JSON keeps its shape
        del out["details"]
        out["revio_total"] = str(from_cents(self.revio_total_cents))
        out["qbo_total"] = str(from_cents(self.qbo_total_cents))
        out["agrees"] = self.agrees
        return out


Reconciler = Callable[["Runtime"], EntityReconciliation]


def cents_of(value: Any) -> int:
    """Integer cents of an API amount (missing or empty -> 0)."""
    return to_cents(value) if value not in (None, "") else 0


def problem_reason(rt: Runtime, source_type: str, source_id: str) -> str:
    """Why a record is not where reconciliation expects it: never synced, or its ledger status and error."""
    row = rt.ledger.get(source_type, source_id)
    if row is None:
        return "never synced"
    return f"{row.status}: {row.last_error}" if row.last_error else str(row.status)


def reconcile_with(
    rt: Runtime, reconcilers: Mapping[str, Reconciler], entities: list[str] | None = None
) -> list[EntityReconciliation]:
    """Run ``reconcilers`` (all, or the named ones); the registry's list is ``entities.reconcile``."""
    names = entities or list(reconcilers)
    return [reconcilers[n](rt) for n in names]


def format_table(results: list[EntityReconciliation]) -> str:
    """A plain-text table for the terminal (totals in dollars with thousands separators; "-" for an entity
    without amounts), differences listed under it."""
    head = f"{'entity':<14}{'Rev.io #':>10}{'QBO #':>10}{'Rev.io total':>18}{'QBO total':>18}  status"
    lines = [head, "-" * len(head)]
    for r in results:
        revio = cents_to_dollars(r.revio_total_cents) if r.has_total else "-"
        qbo = cents_to_dollars(r.qbo_total_cents) if r.has_total else "-"
        lines.append(
            f"{r.entity:<14}{r.revio_count:>10,}{r.qbo_count:>10,}{revio:>18}{qbo:>18}"
            f"  {'OK' if r.agrees else 'DIFFERENT'}"
        )
    for r in results:
        for d in r.differences[:50]:
            lines.append(f"  - {r.entity}: {d}")
        if len(r.differences) > 50:
            lines.append(f"  - {r.entity}: ... {len(r.differences) - 50} more")
    return "\n".join(lines)
