"""What a SQLAlchemy engine runs while a test watches it: its SQL statements and committed transactions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class EngineWatch:
    """Listens on ``engine`` from construction: ``statements`` (SQL text, in order) and ``commits``."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []
        self.commits = 0
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)
        sa.event.listen(engine, "commit", self._on_commit)

    @property
    def selects(self) -> int:
        """The SELECT statements among ``statements``."""
        return sum(s.lstrip().upper().startswith("SELECT") for s in self.statements)

    def reset(self) -> None:
        """Forget what was seen so far (the next step counts from zero)."""
        self.statements.clear()
        self.commits = 0

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def _on_commit(self, _conn: Any) -> None:
        self.commits += 1
