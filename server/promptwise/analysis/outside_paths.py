"""PW110: a file a flow or prompt names lies outside its project.

A cloned repository may name `../../../../etc/passwd`, `/home/me/.ssh/id_rsa` or a symlink to
them as a node's source, an additional include or a `${file:...}`. Promptwise still reads only
regular files of bounded size (documents/files.py) and never quotes their contents, but the
user should know that opening the project reads files beyond it: a warning at the path.

The project is the nearest folder above the document holding `.git`, `promptwise.yaml` or
`pyproject.toml`; without one, the document's own folder. Prompt flow's shared-code pattern
(`additional_includes: [../shared]` inside one repository) stays inside the project.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from promptwise.analysis.context import AnalysisContext, normalize
from promptwise.analysis.problem import Problem, Severity
from promptwise.documents.files import check_path
from promptwise.documents.flex_flow import FlexFlow
from promptwise.documents.flow_dag import FlowDag
from promptwise.documents.prompty import Prompty
from promptwise.documents.source import Range

CODE = "PW110"
_PROJECT_MARKERS = (".git", "promptwise.yaml", "pyproject.toml")


@lru_cache(maxsize=256)
def project_root(folder: Path) -> Path:
    for candidate in (folder, *folder.parents):
        if any(os.path.lexists(candidate / marker) for marker in _PROJECT_MARKERS):
            return candidate
    return folder


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def why_outside(target: str, folder: Path) -> str | None:
    """Why `target` (as written, relative to `folder`) is outside the project, or None."""
    try:
        check_path(target)
    except OSError:
        return None  # a NUL or an overlong path: reported where the file is read
    root = project_root(normalize(folder))
    path = normalize(Path(folder) / target)
    if not _inside(path, root):
        return f"is outside the project ({root})"
    try:
        real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    except (OSError, ValueError):
        return None
    if not _inside(real, real_root):
        return f"is a link to a file outside the project ({root})"
    return None


def _problem(document_path: Path, written: str, range_: Range, what: str, reason: str) -> Problem:
    return Problem(
        document_path,
        range_,
        Severity.WARNING,
        CODE,
        f"{what} '{written}' {reason}; opening or running this file reads it. Keep the files "
        "a flow uses inside its project (copy it in, or use a path inside the project)",
    )


def _named_paths(document) -> list[tuple[str, Range, str]]:
    """(path as written, its range, what names it) of every file the document names."""
    found: list[tuple[str, Range, str]] = []
    if isinstance(document, FlowDag) and document.root is not None:
        for node in document.all_nodes():
            source = node.source
            if source is not None and source.mapping is not None and isinstance(source.path, str) and source.path:
                label = f"node '{node.name}': source file" if node.name else "a node's source file"
                found.append((source.path, source.value_range("path") or node.name_range, label))
    for include, range_ in getattr(document, "additional_includes", ()) or ():
        found.append((include, range_, "additional include"))
    for substitution in getattr(document, "substitutions", ()) or ():
        if substitution.kind == "file" and substitution.name:
            found.append((substitution.name, substitution.name_range, "the file"))
    return found


def check_paths_leaving_project(document: FlowDag | FlexFlow | Prompty, context: AnalysisContext) -> list[Problem]:
    problems: list[Problem] = []
    folder = document.folder
    reasons: dict[str, str | None] = {}  # most nodes of a flow share a few files: one realpath each
    for written, range_, what in _named_paths(document):
        if written not in reasons:
            reasons[written] = why_outside(written, folder)
        reason = reasons[written]
        if reason is not None:
            problems.append(_problem(document.path, written, range_, what, reason))
    return problems
