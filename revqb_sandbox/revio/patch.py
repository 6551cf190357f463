"""RFC 6902 JSON Patch (add / replace / remove / test) applied atomically to a record dict."""

from __future__ import annotations

import copy
from typing import Any

from revqb_sandbox.revio.state import SandboxError


def _pointer(path: str) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise SandboxError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise SandboxError(f"path {path!r} does not exist")
    return cur


def apply_patch(record: dict[str, Any], ops: Any, protected: set[str]) -> dict[str, Any]:
    """Return a patched copy of ``record``; ``protected`` top-level names cannot change."""
    if not isinstance(ops, list) or not ops:
        raise SandboxError("PATCH body must be a non-empty JSON Patch array")
    doc = copy.deepcopy(record)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise SandboxError("each patch operation needs 'op' and 'path'")
        kind, path = str(op["op"]).lower(), op["path"]
        parts = _pointer(path)
        if parts[0] in protected or parts == [""]:
            raise SandboxError(f"{path!r} is read-only")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise SandboxError(f"{kind} at {path!r} needs a 'value'")
        parent = _parent(doc, parts, path)
        key = parts[-1]
        value = op.get("value")
        if len(parts) >= 2 and parts[-3:-1][0:1] == ["fields"] and key == "value" and value is not None:
            value = str(value)  # custom field values are strings
        if isinstance(parent, dict):
            exists = key in parent
            if kind == "add":
                parent[key] = value
            elif kind == "replace":
                if not exists:
                    raise SandboxError(f"path {path!r} does not exist")
                parent[key] = value
            elif kind == "remove":
                if not exists:
                    raise SandboxError(f"path {path!r} does not exist")
                del parent[key]
            elif kind == "test":
                if not exists or parent[key] != value:
                    raise SandboxError(f"test failed at {path!r}")
            else:
                raise SandboxError(f"unsupported patch op {kind!r}")
        elif isinstance(parent, list):
            if key == "-" and kind == "add":
                parent.append(value)
                continue
            if not key.isdigit():
                raise SandboxError(f"invalid array index in {path!r}")
            idx = int(key)
            if kind == "add" and idx <= len(parent):
                parent.insert(idx, value)
            elif idx >= len(parent):
                raise SandboxError(f"path {path!r} does not exist")
            elif kind == "replace":
                parent[idx] = value
            elif kind == "remove":
                parent.pop(idx)
            elif kind == "test":
                if parent[idx] != value:
                    raise SandboxError(f"test failed at {path!r}")
            else:
                raise SandboxError(f"unsupported patch op {kind!r}")
        else:
            raise SandboxError(f"path {path!r} does not exist")
    return doc
