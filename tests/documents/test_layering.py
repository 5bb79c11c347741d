"""The arrows point down: common/ imports nothing else from promptwise, documents/ imports
only itself and common/ (not analysis/, not anything above). Read from the source (ast), so a
lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import promptwise

PACKAGE = Path(promptwise.__file__).resolve().parent
ALLOWED = {"common": ("promptwise.common",), "documents": ("promptwise.documents", "promptwise.common")}
# Known upward arrows, each to be mended by the module's owner; listed so a new one fails.
KNOWN = {
    "documents/content_hash.py: promptwise.config",  # serving's flow hash reads the settings
}


def _promptwise_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name == "promptwise" or name.startswith("promptwise."))
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_itself_and_below(layer):
    wrong = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted((PACKAGE / layer).glob("*.py"))
        for name in _promptwise_imports(path)
        if not name.startswith(ALLOWED[layer])
    }
    assert wrong - KNOWN == set()


def test_the_moved_types_are_the_same_objects_everywhere():
    from promptwise.analysis import problem
    from promptwise.common import problems, source
    from promptwise.documents import source as document_source

    assert problem.Problem is problems.Problem and problem.Severity is problems.Severity
    assert document_source.Range is source.Range and document_source.Position is source.Position
