"""The staging database (SQLAlchemy): tables, ledger, store, tokens, alert and dunning state.

Only modules in this package build or run SQL; others call their functions and pass an :data:`Engine`.
"""

from sqlalchemy.engine import Engine

__all__ = ["Engine"]
