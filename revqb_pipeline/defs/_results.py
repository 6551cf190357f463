"""Turning the engine's plain step results into Dagster metadata and check results."""

from typing import Any

import dagster as dg

from revqb_pipeline.sync.steps import CheckOutcome, Documents, Markdown, cents_to_dollars, merge_documents


def dagster_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Step metadata for Dagster: :class:`Markdown` values as markdown, and integer ``<name>_cents`` as
    ``<name>`` in dollars (``billed_cents: 1568401`` -> ``billed: $15,684.01``; cents stay internal)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
            out[key.removesuffix("_cents")] = cents_to_dollars(value)
        elif isinstance(value, Markdown):
            out[key] = dg.MetadataValue.md(str(value))
        else:
            out[key] = value
    return out


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """The Dagster result of one check outcome (``warn`` -> severity WARN)."""
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn else dg.AssetCheckSeverity.ERROR,
        metadata=dagster_metadata(outcome.metadata),
    )


def day_check_evaluation(
    key: dg.AssetKey, outcome: CheckOutcome, day: str, blocking: bool
) -> dg.AssetCheckEvaluation:
    """One day's check outcome of a range run, as the evaluation of that day's partition (logged in the run
    beside its merged result, so each day's check history shows its own outcome)."""
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn else dg.AssetCheckSeverity.ERROR,
        metadata={**dagster_metadata(outcome.metadata), "range_run": True},
        blocking=blocking,
        partition=day,
    )


def merge_days(per_day: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One run's metadata from each day's (a backfill range): numbers summed, the documents tables merged
    (first 50 over all days, totals summed), other tables and text kept per day under a ``**<day>**``
    heading, plus ``days``. A single day's metadata is returned unchanged."""
    if len(per_day) == 1:
        return dict(per_day[0][1])
    totals: dict[str, Any] = {}
    texts: dict[str, list[str]] = {}
    documents: dict[str, list[Documents]] = {}
    for day, metadata in per_day:
        for key, value in metadata.items():
            if isinstance(value, Documents):
                documents.setdefault(key, []).append(value)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                texts.setdefault(key, []).append(
                    f"**{day}**\n\n{value}" if isinstance(value, Markdown) else f"{day}: {value}"
                )
            else:
                totals[key] = totals.get(key, 0) + value
    merged: dict[str, Any] = dict(totals)
    for key, parts in texts.items():
        merged[key] = Markdown("\n\n".join(parts))
    for key, tables in documents.items():  # one table of the first 50 over all days, totals summed
        merged[key] = merge_documents(tables)
    merged["days"] = len(per_day)
    return merged


def merge_checks(per_day: list[tuple[str, list[CheckOutcome]]]) -> list[CheckOutcome]:
    """One outcome per check for a run of several days: passed only if it passed on every day; a failure
    names the failing days and keeps each one's metadata; ERROR unless every failing day only warned."""
    if len(per_day) == 1:
        return list(per_day[0][1])
    by_name: dict[str, list[tuple[str, CheckOutcome]]] = {}
    for day, outcomes in per_day:
        for outcome in outcomes:
            by_name.setdefault(outcome.name, []).append((day, outcome))
    merged: list[CheckOutcome] = []
    for name, days in by_name.items():
        failing = [(d, o) for d, o in days if not o.passed]
        shown = failing or days
        metadata = (
            merge_days([(d, o.metadata) for d, o in shown]) if len(shown) > 1 else dict(shown[0][1].metadata)
        )
        metadata["days_checked"] = len(days)
        if failing:
            metadata["failed_days"] = ", ".join(d for d, _ in failing)
        merged.append(
            CheckOutcome(
                name,
                passed=not failing,
                metadata=metadata,
                warn=bool(failing) and all(o.warn for _, o in failing),
            )
        )
    return merged
