"""The daily QBO steps an entity declares (payload building, loading) and what a step reports.

A step is plain Python over a :class:`~revqb_pipeline.sync.runtime.Runtime` and a partition key; the
Dagster factory in ``defs/quickbooks`` turns each into an asset (its checks into asset checks, markdown
into markdown metadata), so entity code never imports Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
    ``staging/bills``."""

    name: str
    description: str
    deps: tuple[str, ...]
    run: StepFn
    load: bool = False
    checks: tuple[CheckSpec, ...] = ()


# ----- report helpers (pure) -------------------------------------------------------------------------------

ACTIONS = ("created", "updated", "linked", "unchanged", "voided", "quarantined", "failed", "waiting")


def md_cell(text: object) -> str:
    """``text`` safe in a markdown table cell (a reason may quote a value holding ``|`` or newlines)."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(problems: Mapping[str, str], heading: str = "record") -> Markdown:
    """A two-column markdown table (``heading`` | reason), sorted by key."""
    rows = "\n".join(f"| {md_cell(k)} | {md_cell(v)} |" for k, v in sorted(problems.items()))
    return Markdown(f"| {heading} | reason |\n|---|---|\n{rows}")


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """Counts created / updated / linked / unchanged / voided / quarantined / failed / waiting, plus the
    problems (quarantined, failed, waiting) as a table."""
    metadata: dict[str, Any] = {a: report.counts.get(a, 0) for a in ACTIONS}
    problems = {
        k: f"{a}: {d}" for k, (a, d) in report.outcomes.items() if a in ("quarantined", "failed", "waiting")
    }
    if problems:
        metadata["problems"] = md_table(problems)
    return metadata


def written(report: WriteReport) -> int:
    """How many records ``report`` created, linked or updated."""
    return sum(report.counts.get(a, 0) for a in ("created", "linked", "updated"))
