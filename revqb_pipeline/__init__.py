"""revqb: keep Rev.io and QuickBooks Online in sync, exact to the cent and never duplicated.

Layers (each folder depends only on the ones before it):
``models`` / ``money`` -> ``clients`` (HTTP, no Dagster) -> ``mapping`` (pure) ->
``staging`` (SQLAlchemy ledger) -> ``sync`` (orchestrates one entity type) -> ``defs`` (thin Dagster).
"""

__version__ = "0.1.0"
