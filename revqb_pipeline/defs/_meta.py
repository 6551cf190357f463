"""Owners, column schemas and Dagster's beta / preview warnings, in one place for every definition.

Owners: the data engineers own reading and staging Rev.io (and the run plumbing); finance ops own what is
posted to QuickBooks (payloads, their checks, loads, collection status, alerts on quarantined records).
Dagster 1.13 takes ``owners=`` on assets, schedules and sensors (beta on the latter two: built under
:func:`dagster_beta`). A job's ``owners=`` warns each time the job is resolved and a run-status sensor has
none, so those carry their owners in the ``owners`` metadata entry; a check is owned by its asset's owners
(the UI shows checks on the asset's page).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import dagster as dg

DATA_ENG = "team:data-eng"
FINANCE_OPS = "team:finance-ops"
#: Metadata key holding the owners of a definition whose Dagster class takes no ``owners=`` argument.
OWNERS_METADATA = "owners"

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def dagster_beta() -> Iterator[None]:
    """Build definitions that use a beta or preview argument of Dagster 1.13 (``owners=`` on jobs,
    schedules and sensors, ``partitions_def=`` on a check spec, dagster-pandera) without its warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        yield


def beta_quiet(factory: Callable[P, R]) -> Callable[P, R]:
    """A definition factory run under :func:`dagster_beta` (``backfill_policy`` on an asset is beta in
    1.13: ``load_from_defs_folder`` hides its warning, a direct import or call by a test does not)."""

    @functools.wraps(factory)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with dagster_beta():
            return factory(*args, **kwargs)

    return wrapper


def staging_column_schema(*tables: str) -> dg.TableSchema:
    """The column schema of staging tables (their SQL columns, with the pandera checks of
    ``mapping/schemas.STAGING_MODELS``), through dagster-pandera; several tables: columns prefixed
    ``<table>.``."""
    from dagster_pandera import pandera_schema_to_dagster_type

    from revqb_pipeline.mapping.schemas import staging_schema
    from revqb_pipeline.staging.columns import table_columns

    columns: list[dg.TableColumn] = []
    constraints: list[str] = []
    for table in tables:
        with dagster_beta():
            dagster_type = pandera_schema_to_dagster_type(staging_schema(table, table_columns(table)))
        schema: dg.TableSchema = dagster_type.metadata["schema"].schema
        prefix = f"{table}." if len(tables) > 1 else ""
        columns += [
            dg.TableColumn(prefix + c.name, c.type, c.description, c.constraints, c.tags)
            for c in schema.columns
        ]
        constraints += [prefix + text for text in schema.constraints.other]
    return dg.TableSchema(columns=columns, constraints=dg.TableConstraints(other=constraints))
