"""PW7xx cost problems for the analysis (`promptwise check` and the editor's diagnostics).

`check(document, context)` has the signature of the analysis' checkers, so it can be listed
with the analysis' companion modules or registered with `register()` (which calls
`promptwise.analysis.register_checker` once). It reuses `estimate_document`, so the problems
and the lenses come from the same cached estimate; the checker asks for it without exact
counts, which are made only when a prompt's UTF-8 byte bound comes close to its model's
context window (the lenses make them later, in the editor's executor).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from promptwise.analysis.problem import Problem, Severity
from promptwise.config import SETTINGS_FILE, ConfigError, load_workspace
from promptwise.costing.catalog import catalog_for
from promptwise.costing.estimate import estimate_document
from promptwise.costing.flow_calls import is_llm_node
from promptwise.costing.retirement import retirement_problems, window_days
from promptwise.documents.source import Range

log = logging.getLogger(__name__)

_registered = False


def check(document, context=None) -> list[Problem]:
    """Cost problems of a flow.dag.yaml or .prompty (PW701-PW707); [] for other documents."""
    kind = getattr(document, "kind", None)
    if kind not in ("flow_dag", "prompty"):
        return []
    path = Path(document.path)
    try:
        workspace = load_workspace(path)
        catalog = catalog_for(workspace)
    except ConfigError as error:
        return [Problem(path, Range.empty(0, 0), Severity.WARNING, "PW705",
                        f"cost not checked: {error}")]
    overlay = dict(getattr(context, "overlay", None) or {})
    if context is not None:
        # Re-check this document when its templates or the workspace settings change.
        dependencies = getattr(context, "dependencies", None)
        if isinstance(dependencies, set):
            if kind == "flow_dag":
                for node in document.all_nodes():
                    template = node.source_file(document.folder) if is_llm_node(node) else None
                    if template is not None:
                        dependencies.add(_normalized(template))
            dependencies.add(_normalized(workspace.source or workspace.root / SETTINGS_FILE))
    # exact=False: decide the context window from the byte bound where it settles it, so most
    # checks never load a tokenizer (see counting.chat_token_bound).
    estimate = estimate_document(document, workspace, catalog=catalog, overlay=overlay, exact=False)
    return list(estimate.problems) + _retirement_problems(document, workspace, catalog, estimate, path)


def _retirement_problems(document, workspace, catalog, estimate, path: Path) -> list[Problem]:
    """PW707: models retired or retiring within the window (see costing/retirement.py)."""
    try:
        window = window_days(workspace)
    except ConfigError as error:
        return [Problem(path, Range.empty(0, 0), Severity.WARNING, "PW705", f"retirement not checked: {error}")]
    return retirement_problems(estimate, getattr(document, "text", None), today=date.today(), window=window,
                               deployments=catalog.deployments)


def _normalized(path: Path) -> Path:
    try:
        from promptwise.analysis.context import normalize
    except ImportError:  # the analysis keeps its own notion of paths; fall back to absolute
        return path.absolute()
    return normalize(path)


def register() -> None:
    """Add `check` to the analysis once (idempotent)."""
    global _registered
    if _registered:
        return
    from promptwise.analysis import register_checker

    register_checker(check)
    _registered = True
