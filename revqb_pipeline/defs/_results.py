"""Turning the engine's plain step results into Dagster metadata and check results."""

from typing import Any

import dagster as dg

from revqb_pipeline.sync.steps import CheckOutcome, Markdown


def dagster_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Step metadata with :class:`Markdown` values as markdown."""
    return {k: dg.MetadataValue.md(str(v)) if isinstance(v, Markdown) else v for k, v in metadata.items()}


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """The Dagster result of one check outcome (``warn`` -> severity WARN)."""
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN if outcome.warn else dg.AssetCheckSeverity.ERROR,
        metadata=dagster_metadata(outcome.metadata),
    )
