"""Dunning: Rev.io dunning / suspension / collections status -> a note on the QBO customer + an alert."""

from __future__ import annotations

from revqb_pipeline.sync.spec import EntitySpec, Reconciler

SPECS: tuple[EntitySpec, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = ()
