"""The IO manager of the Rev.io extract assets: Dagster's pickle-per-partition files, plus backfill ranges.

Dagster's filesystem IO manager refuses an output that covers several partitions. A daily asset run over
a range returns ``{day: value}`` instead; each day is stored in that day's own file, exactly where a
one-day run would have put it, so a later one-day run (or a range run) reads any day back the same way.
Reading a range gives ``{day: value}`` (Dagster's behaviour), one day gives the value.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager


class RangePickleIOManager(PickledObjectFilesystemIOManager):
    """Pickles each partition of a range output (a dict keyed by partition) to its own file."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions or len(context.asset_partition_keys) <= 1:
            super().handle_output(context, obj)
            return
        paths = self._get_paths_for_partitions(context)
        if not isinstance(obj, dict) or set(obj) != set(paths):
            raise dg.DagsterInvariantViolationError(
                f"{context.asset_key.to_user_string()}: a run over {len(paths)} partitions must return "
                "{partition key: value} with every one of them"
            )
        for key, path in paths.items():
            self._handle_transition_to_partitioned_asset(context, path.parent)
            self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=obj[key], path=path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(next(iter(paths.values())).parent))})


class RangeFilesystemIOManager(dg.ConfigurableIOManagerFactory):
    """:class:`RangePickleIOManager` under ``base_dir`` (default: the instance's storage directory, as
    Dagster's own filesystem IO manager)."""

    base_dir: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> RangePickleIOManager:
        assert context.instance is not None
        return RangePickleIOManager(base_dir=self.base_dir or context.instance.storage_directory())
