"""One Dagster code location per connection, generated from the connections file.

``workspace.yaml`` (see :func:`workspace_yaml`) names this module once per connection, with the
connection's name as the attribute::

    load_from:
      - python_module:
          {module_name: revqb_pipeline.connections.locations, attribute: acme, location_name: acme}

Dagster loads each location in its own process (the code server, and every run worker of its runs), and
reading the attribute ``acme`` selects connection ``acme`` before the definitions under ``defs/`` are
imported, so they are built for that company alone: its asset keys (prefixed ``acme/``), its pools
(``qbo/<realm>``, ``revio/<client code>``), its partitions (start date, timezone), its resources, sensors,
schedules, checks and alerts. A code server started with ``dagster api grpc -m revqb_pipeline.definitions``
and ``REVQB_CONNECTION=acme`` is the same location.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from revqb_pipeline import connections
from revqb_pipeline.connections.config import ConnectionsFile

MODULE = "revqb_pipeline.connections.locations"


def __getattr__(name: str) -> Any:
    """The definitions of connection ``name`` (Dagster reads the workspace's ``attribute`` this way)."""
    if name.startswith("__"):
        raise AttributeError(name)
    already = connections._selected
    if already is not None and already != name:
        raise RuntimeError(
            f"this process already loaded connection {already!r}; {name!r} needs its own location"
        )
    connections.select(name)
    file = connections.configured()
    if file is None:
        raise connections.ConnectionsError(f"code location {name!r}: REVQB_CONNECTIONS_FILE is unset")
    file.get(name)  # a name the file does not list: one clear error
    from revqb_pipeline.definitions import defs

    setattr(sys.modules[__name__], name, defs)
    return defs


def workspace_yaml(file: ConnectionsFile, working_directory: str | Path | None = None) -> str:
    """A ``workspace.yaml`` with one code location per connection of ``file``."""
    entries = []
    for conn in file.connections:
        entry: dict[str, Any] = {"module_name": MODULE, "attribute": conn.name, "location_name": conn.name}
        if working_directory is not None:
            entry["working_directory"] = str(working_directory)
        entries.append({"python_module": entry})
    return yaml.safe_dump({"load_from": entries}, sort_keys=False)


if (
    __name__ == "__main__"
):  # python -m revqb_pipeline.connections.locations [connections.yaml] > workspace.yaml
    from revqb_pipeline.connections.config import load_connections

    source = sys.argv[1] if len(sys.argv) > 1 else None
    loaded = load_connections(source) if source else connections.configured()
    if loaded is None:
        sys.exit("usage: python -m revqb_pipeline.connections.locations CONNECTIONS_FILE")
    sys.stdout.write(workspace_yaml(loaded))
