"""Dunning: Rev.io dunning / suspension / collections status -> a note on the QBO customer + an alert."""

from __future__ import annotations

from revqb_pipeline.entities.dunning.sync import SOURCE_TYPE
from revqb_pipeline.sync.spec import EntitySpec, Reconciler
from revqb_pipeline.sync.steps import Step

SPECS: tuple[EntitySpec, ...] = ()
STEPS: tuple[Step, ...] = ()  # scheduled/monthly, declared in defs/ (no daily QBO step)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = (SOURCE_TYPE,)
RECONCILERS: tuple[Reconciler, ...] = ()
