"""Revenue journals: recurring, deferred and usage revenue per month -> one balanced QBO JournalEntry."""

from __future__ import annotations

from revqb_pipeline.entities.journals.sync import reconcile_journals
from revqb_pipeline.sync.spec import EntitySpec, Reconciler

SPECS: tuple[EntitySpec, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = (("journals", reconcile_journals),)
