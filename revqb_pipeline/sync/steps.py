"""The daily QBO steps an entity declares (payload building, loading) and what a step reports.

A step is plain Python over a :class:`~revqb_pipeline.sync.runtime.Runtime` and a partition key; the
Dagster factory in ``defs/quickbooks`` turns each into an asset (its checks into asset checks, markdown
into markdown metadata), so entity code never imports Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from revqb_pipeline.money import cents_to_dollars as cents_to_dollars
from revqb_pipeline.money import dollars as dollars
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import WriteReport


class Markdown(str):
    """Metadata text to show as markdown (a table)."""


@dataclass(frozen=True)
class CheckSpec:
    """An asset check a payload step reports on; ``blocking`` stops the load in the same run."""

    name: str
    description: str
    blocking: bool = False


@dataclass
class CheckOutcome:
    """One check's result; ``warn`` reports a failure as a warning (severity WARN)."""

    name: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    warn: bool = False


@dataclass
class StepResult:
    """What a step did: asset metadata and the outcomes of its checks."""

    metadata: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)


StepFn = Callable[[Runtime, str], StepResult]


@dataclass(frozen=True)
class Step:
    """``quickbooks/<name>``: a payload step (``load=False``, group ``quickbooks_mapping``) or a load
    step (``load=True``: group ``quickbooks``, QBO pool and retries); ``deps`` are asset keys such as
    ``staging/bills``.

    ``run`` is wrapped so that on a dry-run :class:`Runtime` (``rt.dry_run``) its metadata is labelled
    DRY RUN and a load step's counts and documents read as what *would* be posted (:func:`dry_run_metadata`).
    """

    name: str
    description: str
    deps: tuple[str, ...]
    run: StepFn
    load: bool = False
    checks: tuple[CheckSpec, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.run, _DryRunLabelled):
            object.__setattr__(self, "run", _DryRunLabelled(self.run, self.load))


class _DryRunLabelled:
    """A step function whose result is relabelled on a dry run (see :func:`dry_run_metadata`)."""

    def __init__(self, fn: StepFn, load: bool) -> None:
        self.fn, self.load = fn, load
        functools.update_wrapper(self, fn)  # name, docstring and module of the step function

    def __call__(self, rt: Runtime, partition_key: str) -> StepResult:
        result = self.fn(rt, partition_key)
        if rt.dry_run:
            result.metadata = dry_run_metadata(result.metadata, load=self.load)
        return result


# ----- report helpers (pure) -------------------------------------------------------------------------------

ACTIONS = ("created", "updated", "linked", "unchanged", "voided", "quarantined", "failed", "waiting")


def md_cell(text: object) -> str:
    """``text`` safe in a markdown table cell (a reason may quote a value holding ``|`` or newlines)."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(problems: Mapping[str, str], heading: str = "record") -> Markdown:
    """A two-column markdown table (``heading`` | reason), sorted by key."""
    rows = "\n".join(f"| {md_cell(k)} | {md_cell(v)} |" for k, v in sorted(problems.items()))
    return Markdown(f"| {heading} | reason |\n|---|---|\n{rows}")


#: Actions listed in the "documents" table (what this run changed in QBO, or could not).
DOCUMENT_ACTIONS = ("created", "updated", "linked", "voided", "quarantined", "failed")
#: A dry run's names for what it did not do (``created`` -> ``would create``).
WOULD = {
    "created": "would create",
    "updated": "would update",
    "linked": "would link",
    "voided": "would void",
    "quarantined": "would quarantine",
    "failed": "would fail",
}
#: QBO ids a dry run makes up for documents it did not create (no link, shown as "new").
DRY_RUN_ID_PREFIX = "dry-"
DRY_RUN_LABEL = "DRY RUN: nothing was written to QuickBooks, Rev.io or the ledger"
DOCUMENTS_SHOWN = 50
QBO_APP_URL = "https://app.qbo.intuit.com/app"
#: QBO UI page of each entity: (page, id parameter).
_QBO_PAGES = {
    "Invoice": ("invoice", "txnId"),
    "Payment": ("recvpayment", "txnId"),
    "CreditMemo": ("creditmemo", "txnId"),
    "JournalEntry": ("journal", "txnId"),
    "SalesReceipt": ("salesreceipt", "txnId"),
    "RefundReceipt": ("refundreceipt", "txnId"),
    "Deposit": ("deposit", "txnId"),
    "Customer": ("customerdetail", "nameId"),
    "Item": ("items", "itemId"),
    "Account": ("register", "accountId"),
}


def qbo_link(entity: str, qbo_id: str) -> str:
    """The QBO web page of a document (``https://app.qbo.intuit.com/app/invoice?txnId=42``); "" when the
    entity has no known page or there is no id. The same form whatever API base URL is configured."""
    page = _QBO_PAGES.get(entity)
    if page is None or not qbo_id or qbo_id.startswith(DRY_RUN_ID_PREFIX):
        return ""
    return f"{QBO_APP_URL}/{page[0]}?{page[1]}={qbo_id}"


class Documents(Markdown):
    """The ``documents`` table or its ``totals`` (``part``), keeping the rows and totals it was rendered
    from so the days of a range run merge into one table (:func:`merge_documents`)."""

    part: str
    rows: tuple[str, ...]
    totals: dict[str, tuple[int, Decimal]]
    limit: int
    dry_run: bool

    @classmethod
    def render(
        cls,
        part: str,
        rows: Sequence[str],
        totals: Mapping[str, tuple[int, Decimal]],
        limit: int,
        *,
        dry_run: bool = False,
    ) -> Documents:
        """The markdown of ``part`` ("documents": the first ``limit`` rows; "totals": per action); a dry
        run's actions read "would create", "would update", ..."""
        label = WOULD.get if dry_run else (lambda a, _d=None: a)
        if part == "documents":
            count = sum(c for c, _ in totals.values())
            more = f"\n\nfirst {limit} of {count:,}" if count > limit else ""
            head = "| record | action | QBO document | amount | link |\n|---|---|---|---:|---|\n"
            shown = [_relabel_row(r) for r in rows[:limit]] if dry_run else list(rows[:limit])
            text = head + "\n".join(shown) + more
        else:
            lines = (
                f"| {label(a, a)} | {totals[a][0]:,} | {dollars(totals[a][1])} |"
                for a in DOCUMENT_ACTIONS
                if a in totals
            )
            text = "| action | documents | amount |\n|---|---:|---:|\n" + "\n".join(lines)
        out = cls(text)
        out.part, out.rows, out.totals, out.limit = part, tuple(rows[:limit]), dict(totals), limit
        out.dry_run = dry_run
        return out


def _relabel_row(row: str) -> str:
    """A documents row as a dry run shows it: ``would create`` for ``created``; a made-up id as ``new``."""
    cells = row.split(" | ")
    if len(cells) >= 3:
        cells[1] = WOULD.get(cells[1], cells[1])
        entity, _, qbo_id = cells[2].partition(" ")
        if qbo_id.startswith(DRY_RUN_ID_PREFIX):
            cells[2] = f"{entity} (new)"
    return " | ".join(cells)


def merge_documents(parts: Sequence[Documents]) -> Documents:
    """One table (or totals) from several days': the first rows in order (as many as one day shows),
    totals summed."""
    limit = parts[0].limit
    totals: dict[str, tuple[int, Decimal]] = {}
    for part in parts:
        for action, (count, amount) in part.totals.items():
            c, a = totals.get(action, (0, Decimal(0)))
            totals[action] = (c + count, a + amount)
    rows = [row for part in parts for row in part.rows][:limit]
    return Documents.render(parts[0].part, rows, totals, limit, dry_run=parts[0].dry_run)


def documents_table(report: WriteReport, limit: int = DOCUMENTS_SHOWN) -> tuple[Documents, Documents] | None:
    """The first ``limit`` records this run created, updated, linked, voided, quarantined or failed (record,
    action, QBO entity and id, amount, link), and their totals (count and dollars per action); None when
    there is none."""
    rows: list[str] = []
    totals: dict[str, tuple[int, Decimal]] = {}
    for sid, (action, _detail) in report.outcomes.items():
        if action not in DOCUMENT_ACTIONS:
            continue
        entity, amount = report.documents.get(sid, ("", None))
        count, total = totals.get(action, (0, Decimal(0)))
        totals[action] = (count + 1, total + (amount or 0))
        if len(rows) < limit:
            qbo_id = report.qbo_ids.get(sid, "")
            link = qbo_link(entity, qbo_id)
            cells = [
                md_cell(sid),
                action,
                md_cell(f"{entity} {qbo_id}".strip()),
                "" if amount is None else dollars(amount),
                f"[open in QBO]({link})" if link else "",
            ]
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return None
    return Documents.render("documents", rows, totals, limit), Documents.render("totals", rows, totals, limit)


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """Counts created / updated / linked / unchanged / voided / quarantined / failed / waiting, the
    problems (quarantined, failed, waiting) as a table, and the ``documents`` written (first 50, amounts
    in dollars, links to QBO) with their ``totals``."""
    metadata: dict[str, Any] = {a: report.counts.get(a, 0) for a in ACTIONS}
    problems = {
        k: f"{a}: {d}" for k, (a, d) in report.outcomes.items() if a in ("quarantined", "failed", "waiting")
    }
    if problems:
        metadata["problems"] = md_table(problems)
    documents = documents_table(report)
    if documents is not None:
        metadata["documents"], metadata["totals"] = documents
    return metadata


def dry_run_metadata(metadata: Mapping[str, Any], *, load: bool) -> dict[str, Any]:
    """A step's metadata on a dry run: labelled ``dry_run``; a load step's counts of created / updated /
    linked / voided as ``would_create`` ... and its ``documents`` / ``totals`` as ``would_post`` /
    ``would_post_totals`` (the same table, actions read "would create", made-up ids "new", no links)."""
    out: dict[str, Any] = {"dry_run": DRY_RUN_LABEL}
    for key, value in metadata.items():
        prefix, _, action = key.rpartition("_") if key not in WOULD else ("", "", key)
        if load and action in WOULD and isinstance(value, int) and not isinstance(value, bool):
            out[f"{prefix}_{WOULD[action]}".lstrip("_").replace(" ", "_")] = value
        elif load and isinstance(value, Documents):
            name = key.replace("documents", "would_post").replace("totals", "would_post_totals")
            out[name] = Documents.render(value.part, value.rows, value.totals, value.limit, dry_run=True)
        else:
            out[key] = value
    return out


def written(report: WriteReport) -> int:
    """How many records ``report`` created, linked or updated."""
    return sum(report.counts.get(a, 0) for a in ("created", "linked", "updated"))
