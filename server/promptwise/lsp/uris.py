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
_suffixes: dict[str, str] = {}  # unsaved URI -> the file suffix its language implies

# An unsaved document's name (`untitled:Untitled-1`) says nothing of its kind; the language
# the editor opened it in does. YAML is left out: it does not tell a flow from other YAML.
LANGUAGE_SUFFIXES = {"prompty": ".prompty", "jinja": ".jinja2", "jinja2": ".jinja2", "python": ".py"}


def remember_language(uri: str, language_id: str | None) -> None:
    """Called when a document opens: an unsaved one gets the suffix of its language."""
    suffix = LANGUAGE_SUFFIXES.get((language_id or "").lower())
    if suffix and urlparse(uri).scheme not in ("file", ""):
        _suffixes[uri] = suffix


def normalize(path: str | os.PathLike) -> Path:
    """One spelling per file: absolute, `..` folded (no disk access, so it is cheap)."""
    return Path(os.path.normcase(os.path.abspath(path)))


def uri_to_path(uri: str) -> Path:
    fs_path = to_fs_path(uri)
    if fs_path is not None and urlparse(uri).scheme in ("file", ""):
        return normalize(fs_path)
    # untitled:Untitled-1, or a virtual file system: keep the name, which tells the kind
    name = unquote(urlparse(uri).path or uri).replace("\\", "/").strip("/") or "untitled"
    name = name.replace("/", "_")
    suffix = _suffixes.get(uri)
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    path = UNSAVED_ROOT / name
    _unsaved[path] = uri
    return path


def path_to_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    if path in _unsaved:
        return _unsaved[path]
    return from_fs_path(str(normalize(path))) or path.as_uri()


def is_unsaved(path: Path) -> bool:
    return path in _unsaved
