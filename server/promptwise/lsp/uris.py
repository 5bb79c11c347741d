"""URIs to paths and back, including unsaved (`untitled:`) documents.

The analysis works on paths. An unsaved document has no path (pygls's `to_fs_path` returns
None), so it gets a stable stand-in path under a folder that cannot exist on disk; its text
always comes from the editor (the overlay), and problems reported on the stand-in map back to its URI.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from pygls.uris import from_fs_path, to_fs_path

UNSAVED_ROOT = Path("/.promptwise-unsaved")  # never created: nothing is read from it

_unsaved: dict[Path, str] = {}


def normalize(path: str | os.PathLike) -> Path:
    """One spelling per file: absolute, `..` folded (no disk access, so it is cheap)."""
    return Path(os.path.normcase(os.path.abspath(path)))


def uri_to_path(uri: str) -> Path:
    fs_path = to_fs_path(uri)
    if fs_path is not None and urlparse(uri).scheme in ("file", ""):
        return normalize(fs_path)
    # untitled:Untitled-1, or a virtual file system: keep the name, which tells the kind
    name = unquote(urlparse(uri).path or uri).replace("\\", "/").strip("/") or "untitled"
    path = UNSAVED_ROOT / name.replace("/", "_")
    _unsaved[path] = uri
    return path


def path_to_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    if path in _unsaved:
        return _unsaved[path]
    return from_fs_path(str(normalize(path))) or path.as_uri()


def is_unsaved(path: Path) -> bool:
    return path in _unsaved
