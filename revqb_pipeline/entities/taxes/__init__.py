"""Telecom taxes: Rev.io federal/state/local tax lines -> QBO tax items and liability accounts, reconciled
per account and jurisdiction."""

from __future__ import annotations

from revqb_pipeline.entities.taxes.reconcile import reconcile_taxes
from revqb_pipeline.sync.spec import EntitySpec, Reconciler

SPECS: tuple[EntitySpec, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = (("taxes", reconcile_taxes),)
