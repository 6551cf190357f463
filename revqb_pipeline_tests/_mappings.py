"""The packaged default mapping as text, and variants of it written to temporary files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_YAML = resources.files("revqb_pipeline.mapping").joinpath("default.yaml").read_text(encoding="utf-8")


def deferred_mapping(tmp_path: Path) -> str:
    """A mapping with recurring revenue deferred over its service period (the packaged default does)."""
    new = 'recurring: {account: "Telecom Services Revenue", deferred: true'
    text = DEFAULT_YAML.replace('recurring: {account: "Telecom Services Revenue", deferred: false', new)
    assert new in text
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    return str(path)
