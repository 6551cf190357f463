"""The IO manager of the Rev.io extract assets: Dagster's pickle-per-partition files, plus backfill ranges.

Dagster's filesystem IO manager refuses an output that covers several partitions. A daily asset run over
a range returns ``{day: value}`` instead; each day is stored in that day's own file, exactly where a
one-day run would have put it, so a later one-day run (or a range run) reads any day back the same way.
Reading a range gives ``{day: value}`` (Dagster's behaviour), one day gives the value.

Quiet about it: Dagster's own manager logs a DEBUG line per file written and two per input read, and every
line is an event-log write (three SQLite connections on a SQLite instance); a sync run has ~30 of them, a
31-day range run ~400. This one writes and reads the same files without those lines (the path is still
in the output's metadata); anything unusual (a missing file, a non-partitioned asset) goes through
Dagster's code and its messages.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager


class RangePickleIOManager(PickledObjectFilesystemIOManager):
    """Pickles each partition of a range output (a dict keyed by partition) to its own file."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions:
            super().handle_output(context, obj)
            return
        paths = self._get_paths_for_partitions(context)
        if len(paths) == 1:
            values = {key: obj for key in paths}
        elif isinstance(obj, dict) and set(obj) == set(paths):
            values = obj
        else:
            raise dg.DagsterInvariantViolationError(
                f"{context.asset_key.to_user_string()}: a run over {len(paths)} partitions must return "
                "{partition key: value} with every one of them"
            )
        for key, path in paths.items():
            self._handle_transition_to_partitioned_asset(context, path.parent)
            self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=values[key], path=path)
        first = next(iter(paths.values()))
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(first if len(paths) == 1 else first.parent))}
        )

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_key or not context.has_asset_partitions or not context.asset_partition_keys:
            return super().load_input(context)
        paths = self._get_paths_for_partitions(context)
        if not all(path.exists() for path in paths.values()):
            return super().load_input(context)  # Dagster's handling (and messages) of a missing partition
        values = {key: self.load_from_path(context=context, path=path) for key, path in paths.items()}
        return next(iter(values.values())) if len(values) == 1 else values


class RangeFilesystemIOManager(dg.ConfigurableIOManagerFactory):
    """:class:`RangePickleIOManager` under ``base_dir`` (default: the instance's storage directory, as
    Dagster's own filesystem IO manager)."""

    base_dir: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> RangePickleIOManager:
        assert context.instance is not None
        return RangePickleIOManager(base_dir=self.base_dir or context.instance.storage_directory())
