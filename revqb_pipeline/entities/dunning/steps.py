"""The account-status step: Rev.io collection state -> the status line on each QBO customer, one alert per
transition. Plain Python; ``defs/dunning`` declares the asset, its job and its hourly schedule."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.entities.dunning.sync import sync_collection_status
from revqb_pipeline.notify import Notifier
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import Markdown, StepResult


def update_status_notes(rt: Runtime, notifier: Notifier) -> tuple[StepResult, str]:
    """Sync every account's collection state; the result and a one-line summary for the run log."""
    report = sync_collection_status(rt.qbo, rt.ledger, rt.mapping, rt.revio.customers(), notifier)
    metadata: dict[str, Any] = report.metadata()
    if report.transitions:
        rows = "\n".join(f"| {t.customer_id} | {t.kind} | {t.describe()} |" for t in report.transitions[:200])
        metadata["transition_list"] = Markdown(f"| customer | kind | change |\n|---|---|---|\n{rows}")
    problems = {**report.failed, **report.quarantined}
    if problems:
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(problems.items()))
        metadata["note_problems"] = Markdown(f"| customer | error |\n|---|---|\n{rows}")
    summary = f"{len(report.transitions)} transition(s), {report.notes_updated} note(s) updated"
    return StepResult(metadata), summary
