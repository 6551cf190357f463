"""What ``revqb sync`` (and ``demo``, ``retry``) show while Dagster runs execute.

On a terminal: a rich progress bar over the steps of all runs (partitions or partition ranges) with the
current run and step, elapsed time and ETA; lines printed above it. Elsewhere (a pipe, a file, CI, tests):
plain lines, flushed, no control codes. Quiet by default: one line when a run starts (plain output only)
and one when it ends; ``verbose`` adds a line per asset as its materialization arrives. The events come
from a Dagster logger attached to the run (:func:`progress_logger`), so they stream while the run executes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from revqb_pipeline.cli._common import err, say

#: Step events that finish a step (the bar advances by one).
STEP_DONE = ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")
#: Metadata never shown in the per-asset lines: hashes and timestamps.
NOISE_KEYS = ("digest", "as_of")
_HEX = re.compile(r"^[0-9a-f]{12,}$")
#: A row of a load asset's ``totals`` markdown table: ``| created | 5 | $1,234.56 |``.
_TOTALS_ROW = re.compile(r"^\|\s*(\w+)\s*\|\s*([\d,]+)\s*\|\s*(-?)\$([\d,]+(?:\.\d+)?)\s*\|$")


def shown_metadata(metadata: Mapping[str, Any]) -> str:
    """``created=5, updated=1``: the scalar metadata worth a line (no zeros, empties, digests or tables)."""
    parts = []
    for key, value in metadata.items():
        if key in NOISE_KEYS or not isinstance(value, int | float | str) or isinstance(value, bool):
            continue
        text = str(value)
        if value in (0, "") or len(text) >= 40 or "\n" in text or _HEX.match(text):
            continue
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def totals_in_dollars(markdown: str) -> dict[str, Decimal]:
    """The dollars per action of a load asset's ``totals`` table (``sync/steps.py: Documents``)."""
    amounts: dict[str, Decimal] = {}
    for line in markdown.splitlines():
        match = _TOTALS_ROW.match(line.strip())
        if match:
            action, _count, sign, number = match.groups()
            amounts[action] = Decimal(sign + number.replace(",", ""))
    return amounts


def event_metadata(event: Any) -> tuple[str, dict[str, Any]]:
    """The asset (``quickbooks/invoices``) and plain metadata values of a materialization event."""
    mat = event.step_materialization_data.materialization
    values = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return mat.asset_key.to_user_string(), values


class RunProgress:
    """The display of a series of runs: :meth:`run_started`, :meth:`on_event` (from the run's logger, in
    the run's thread), :meth:`line`, :meth:`run_finished`. A context manager (starts / stops the bar)."""

    def __init__(self, runs: int, steps_per_run: int, verbose: bool = False, stderr: bool = False) -> None:
        from rich.console import Console

        self.runs, self.steps_per_run, self.verbose = runs, max(steps_per_run, 1), verbose
        self.console = Console(highlight=False, stderr=stderr)  # stderr: stdout is for JSON
        self._say = err if stderr else say
        self.live = self.console.is_terminal and not self.console.is_dumb_terminal
        self._progress: Any = None
        self._task: Any = None
        self._label = ""
        self._n = 0
        self._seen: set[str] = set()

    def __enter__(self) -> RunProgress:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=self.runs * self.steps_per_run)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def line(self, text: str) -> None:
        """One line of output: above the bar on a terminal, else plain and flushed."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            self._say(text)

    def run_started(self, n: int, label: str, start_line: str) -> None:
        """Run ``n`` of ``label`` starts; plain output prints ``start_line`` (``[n/N] job partition D``)."""
        self._n, self._label, self._seen = n, label, set()
        if self._progress is not None:
            self._describe("")
        else:
            self._say(start_line)

    def run_finished(self, n: int, text: str) -> None:
        """Run ``n`` ended: its summary line, and the bar at the end of its steps."""
        self.completed(n * self.steps_per_run)
        self.line(text)

    def completed(self, steps: int) -> None:
        """The bar at ``steps`` done (no-op in plain output)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=steps)

    def show_step(self, step: str) -> None:
        """The step in progress, in the bar's description (no-op in plain output)."""
        if self._progress is not None:
            self._describe(step)

    def on_event(self, event: Any) -> None:
        """A Dagster event of the running run: the bar follows its steps; ``verbose`` prints assets."""
        kind = event.event_type_value
        if kind == "STEP_START":
            self.show_step(event.step_key or "")
        elif self._progress is not None and kind in STEP_DONE:
            done = self._progress.tasks[0].completed
            if done < self._n * self.steps_per_run:
                self._progress.advance(self._task)
        elif kind == "ASSET_MATERIALIZATION" and self.verbose:
            asset, metadata = event_metadata(event)
            if asset not in self._seen:  # a range run records one per day, with the run's metadata
                self._seen.add(asset)
                shown = shown_metadata(metadata)
                if shown:
                    self.line(f"    {asset:<32} {shown}")

    def _describe(self, step: str) -> None:
        text = f"[{self._n}/{self.runs}] {self._label}"
        step = step.replace("__", "/")  # the step key of asset quickbooks/invoices: quickbooks__invoices
        self._progress.update(self._task, description=f"{text} {step}".rstrip())


class DayProgress:
    """``progress(day, step)`` callback of a plain-Python run over days (the dry run) on a
    :class:`RunProgress` of one step per day: a line (or the bar) per day, the step in the bar."""

    def __init__(self, progress: RunProgress, days: list[str], what: str) -> None:
        self.progress, self.days, self.what, self.day = progress, days, what, ""

    def __call__(self, day: str, step: str) -> None:
        if day != self.day:
            n = self.days.index(day) + 1 if day in self.days else 0
            self.progress.completed(n - 1)
            self.day = day
            self.progress.run_started(n, day, f"[{n}/{len(self.days)}] {self.what} {day}")
        self.progress.show_step(step)


def progress_logger(sink: Callable[[Any], None]) -> Any:
    """A Dagster logger handing every Dagster event of the run to ``sink`` (never failing the run)."""
    import dagster as dg

    class _Events(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            event = getattr(record, "dagster_event", None)
            if event is not None:
                try:
                    sink(event)
                except Exception:  # the display must never break a run
                    pass

    @dg.logger(description="revqb CLI progress: step and materialization events of the run")
    def revqb_progress(_init_context: Any) -> logging.Logger:
        log = logging.Logger("revqb_progress", logging.DEBUG)
        log.addHandler(_Events())
        return log

    return revqb_progress
