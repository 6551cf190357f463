"""Telecom taxes: Rev.io federal/state/local tax lines -> QBO tax items and liability accounts, reconciled
per account and jurisdiction."""

from __future__ import annotations

from revqb_pipeline.entities.taxes.reconcile import reconcile_taxes
from revqb_pipeline.sync.spec import EntitySpec, Reconciler
from revqb_pipeline.sync.steps import Step

SPECS: tuple[EntitySpec, ...] = ()
STEPS: tuple[Step, ...] = ()  # scheduled/monthly, declared in defs/ (no daily QBO step)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = (("taxes", reconcile_taxes),)
