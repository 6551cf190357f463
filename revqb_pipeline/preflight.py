"""Preflight: are the settings present, do both APIs answer and accept the credentials, is the DB reachable?

Used by ``revqb check``, at the start of ``sync`` / ``demo`` and by the Dagster resources before a run
touches anything. Each problem is one line naming what to fix; nothing here raises a traceback.
(Interface fixed; the checks are being filled in.)
"""

from __future__ import annotations

from dataclasses import dataclass

from revqb_pipeline.settings import RevqbSettings


@dataclass(frozen=True)
class Problem:
    """One thing to fix: ``setting`` names it (an env var, or ``file:line`` of the mapping)."""

    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class PreflightFailed(Exception):
    """Raised by :func:`ensure_ready`; ``str()`` is one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def preflight(
    settings: RevqbSettings,
    *,
    need_revio: bool = True,
    need_qbo: bool = True,
    need_db: bool = True,
    timeout_s: float = 10.0,
) -> list[Problem]:
    """Every problem found (empty when ready)."""
    problems: list[Problem] = []
    return problems


def ensure_ready(settings: RevqbSettings, **kwargs: object) -> None:
    """Raise :class:`PreflightFailed` when :func:`preflight` finds anything."""
    problems = preflight(settings, **kwargs)  # type: ignore[arg-type]
    if problems:
        raise PreflightFailed(problems)
