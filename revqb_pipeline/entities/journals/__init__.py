"""Revenue journals: recurring, deferred and usage revenue per month -> one balanced QBO JournalEntry."""

from __future__ import annotations

from revqb_pipeline.entities.journals.mapping import SOURCE_TYPE
from revqb_pipeline.entities.journals.sync import reconcile_journals
from revqb_pipeline.sync.spec import EntitySpec, Reconciler
from revqb_pipeline.sync.steps import Step

SPECS: tuple[EntitySpec, ...] = ()
STEPS: tuple[Step, ...] = ()  # scheduled/monthly, declared in defs/ (no daily QBO step)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = (SOURCE_TYPE,)
RECONCILERS: tuple[Reconciler, ...] = (("journals", reconcile_journals),)
