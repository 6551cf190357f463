"""The failure queue of every sync: failed / quarantined ledger rows, their alerts, and ``revqb retry``.

- ``failed``: a transient error (429, 5xx, network); the client already retried with backoff, and the next
  run retries the record again. No alert, unless it keeps failing for ``stuck_after`` attempts.
- ``quarantined``: bad input or a permanent QBO validation error (code + detail in the ledger). Alerted once
  per record and error (key ``quarantine:<type>:<id>:<hash of code and error>``), then left alone until a
  person fixes the cause and runs ``revqb retry``, which resets the rows to ``pending`` and re-runs the
  sync for their partitions through Dagster.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from revqb_pipeline.notify import Alert, Notifier, NotifyResult
from revqb_pipeline.staging.ledger import Ledger, LedgerRow, LedgerStatus

log = logging.getLogger("revqb.sync.failures")

QUEUE_STATUSES: tuple[str, ...] = (LedgerStatus.FAILED, LedgerStatus.QUARANTINED)
ALERT_SUBJECT = "revqb: records need attention"
STUCK_AFTER_ATTEMPTS = 5
DUNNING_SOURCE_TYPE = "customer_status"  # entities/dunning: re-driven by the status sync, not a partition


@dataclass(frozen=True)
class FailureItem:
    """One record in the failure queue."""

    source_type: str
    source_id: str
    status: str
    code: str | None
    error: str
    attempts: int
    partition_key: str | None
    qbo_entity: str | None
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: LedgerRow) -> FailureItem:
        return cls(
            source_type=row.source_type,
            source_id=row.source_id,
            status=str(row.status),
            code=row.last_error_code,
            error=row.last_error or "",
            attempts=row.attempts,
            partition_key=row.partition_key,
            qbo_entity=row.qbo_entity,
            updated_at=row.updated_at,
        )

    @property
    def alert_key(self) -> str:
        digest = hashlib.sha256(f"{self.code or ''}|{self.error}".encode()).hexdigest()[:12]
        if self.status == LedgerStatus.QUARANTINED:
            return f"quarantine:{self.source_type}:{self.source_id}:{digest}"
        return f"stuck:{self.source_type}:{self.source_id}:{digest}"

    def line(self) -> str:
        code = f" [QBO {self.code}]" if self.code else ""
        where = f" (partition {self.partition_key})" if self.partition_key else ""
        error = " ".join(self.error.split())[:300]
        return f"{self.source_type} {self.source_id}: {self.status}{code} {error}{where}"


def failure_queue(
    ledger: Ledger,
    source_type: str | None = None,
    source_id: str | None = None,
    statuses: Iterable[str] = QUEUE_STATUSES,
) -> list[FailureItem]:
    """Failed and quarantined records (optionally of one type / one id), oldest type/id order."""
    rows = ledger.rows(source_type=source_type, statuses=list(statuses))
    return [FailureItem.from_row(r) for r in rows if source_id is None or r.source_id == str(source_id)]


def failure_alerts(items: Iterable[FailureItem], stuck_after: int = STUCK_AFTER_ATTEMPTS) -> list[Alert]:
    """Alerts for quarantined records, and for failed ones retried ``stuck_after`` times or more."""
    out: list[Alert] = []
    for item in items:
        if item.status == LedgerStatus.QUARANTINED:
            out.append(Alert(item.alert_key, "quarantine", item.line()))
        elif item.status == LedgerStatus.FAILED and stuck_after and item.attempts >= stuck_after:
            out.append(
                Alert(item.alert_key, "stuck", f"{item.line()} - still failing after {item.attempts} tries")
            )
    return out


def alert_new_failures(
    ledger: Ledger, notifier: Notifier, stuck_after: int = STUCK_AFTER_ATTEMPTS
) -> NotifyResult:
    """Send one message listing the records quarantined (or stuck) since the last alert; never twice."""
    return notifier.send(ALERT_SUBJECT, failure_alerts(failure_queue(ledger), stuck_after))


def format_queue(items: list[FailureItem], limit: int = 50) -> str:
    """A plain-text table of the queue for the CLI."""
    if not items:
        return "failure queue is empty"
    lines = [f"{'type':<18}{'id':<14}{'status':<13}{'code':<7}{'tries':>5}  {'partition':<11}error"]
    for it in items[:limit]:
        error = " ".join(it.error.split())[:100]
        lines.append(
            f"{it.source_type:<18}{it.source_id:<14}{it.status:<13}{it.code or '':<7}{it.attempts:>5}  "
            f"{it.partition_key or '-':<11}{error}"
        )
    if len(items) > limit:
        lines.append(f"... {len(items) - limit} more")
    return "\n".join(lines)


@dataclass
class RetryPlan:
    """What ``revqb retry`` reset and must re-run."""

    items: list[FailureItem] = field(default_factory=list)
    reset: int = 0
    partitions: list[str] = field(default_factory=list)
    status_sync: bool = False  # customer_status rows: re-run the account status sync
    unscheduled: list[FailureItem] = field(default_factory=list)  # no partition to re-run


def plan_retry(ledger: Ledger, source_type: str | None = None, source_id: str | None = None) -> RetryPlan:
    """The failed/quarantined records to re-drive and the partitions their syncs belong to (no change)."""
    items = failure_queue(ledger, source_type, source_id)
    plan = RetryPlan(items=items)
    plan.partitions = sorted({i.partition_key for i in items if i.partition_key})
    plan.status_sync = any(i.source_type == DUNNING_SOURCE_TYPE for i in items)
    plan.unscheduled = [i for i in items if not i.partition_key and i.source_type != DUNNING_SOURCE_TYPE]
    return plan


def reset_for_retry(
    ledger: Ledger, source_type: str | None = None, source_id: str | None = None
) -> RetryPlan:
    """Plan, then move the records back to ``pending`` so the next sync writes them again."""
    plan = plan_retry(ledger, source_type, source_id)
    if plan.items:
        plan.reset = ledger.reset_for_retry(source_type, source_id)
    return plan
