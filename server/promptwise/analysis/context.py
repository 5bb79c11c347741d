"""What a checker may consult besides its document: other files (through the editor's
unsaved copies first), and a record of which files it consulted (for cross-file
re-checks: a change to a template re-checks the flows that read it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from promptwise.documents.files import is_regular_file
from promptwise.documents.load import Document, load_document


def normalize(path: Path | str) -> Path:
    """Absolute, `..`-free path without touching the disk (cheap, symlinks kept)."""
    text = os.fspath(path)
    # relative paths depend on the current folder, so it is part of the cache key
    return _normalize(text, "" if os.path.isabs(text) else os.getcwd())


@lru_cache(maxsize=8192)
def _normalize(text: str, cwd: str) -> Path:
    return Path(os.path.normpath(os.path.join(cwd, text) if cwd else text))


@dataclass
class AnalysisContext:
    path: Path  # the document being analyzed
    overlay: dict[Path, str] = field(default_factory=dict)  # normalized path -> unsaved text
    dependencies: set[Path] = field(default_factory=set)  # normalized paths consulted
    _exists: dict[Path, bool] = field(default_factory=dict, repr=False)  # per analysis

    @classmethod
    def create(cls, path: Path | str, overlay: dict | None = None) -> "AnalysisContext":
        normalized = {normalize(p): text for p, text in (overlay or {}).items()}
        return cls(Path(path), normalized)

    def text(self, path: Path | str) -> str | None:
        """The editor's unsaved text of `path`, if it has one."""
        return self.overlay.get(normalize(path))

    def exists(self, path: Path | str) -> bool:
        key = normalize(path)
        known = self._exists.get(key)
        if known is None:
            self.dependencies.add(key)
            known = self._exists[key] = key in self.overlay or is_regular_file(key)
        return known

    def load(self, path: Path | str) -> Document | None:
        """Parse another file (cached), preferring the editor's unsaved copy."""
        key = normalize(path)
        self.dependencies.add(key)
        return load_document(key, self.overlay.get(key))
