"""Tokens and cost in the editor (issue 3), from `promptwise.costing.estimate`:

- code lenses: one over every llm node and every .prompty (`≈ 1,240 tokens in · ≤ 500 out ·
  $0.0023 per call · $2.30 per 1k calls`), one over the flow with the sum;
- hover: the breakdown (system, user, history, tools, per template section) on an llm node's
  name or a prompty's model;
- `promptwise/documentTotals` {uri}: the active document's totals for the status bar;
- PW7xx problems come through the analysis (costing.checker is one of its companion checkers).

The estimate is computed in the server's executor and cached by the costing module per
document text, template texts, settings and catalog, so lenses follow each edit without
counting again when nothing they depend on changed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from promptwise.lsp import uris
from promptwise.lsp.context import DocumentContext, model_kind
from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.costs")

COST_KINDS = ("flow_dag", "prompty")


def workspace_catalog(path: Path, catalog_file: str | None):
    """(workspace settings or None, the catalog with its overrides) for a document (executor)."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.costing.catalog import catalog_for

    try:
        workspace = load_workspace(Path(path))
    except ConfigError:
        workspace = None  # the settings file's own problem is reported by the analysis
    try:
        catalog = catalog_for(workspace, path=Path(catalog_file) if catalog_file else None)
    except Exception:  # an unreadable catalog file: fall back to the shipped one
        logger.exception("cannot read the catalog file %s; using the shipped catalog", catalog_file)
        catalog = catalog_for(workspace)
    return workspace, catalog


def _estimate(model: Any, overlay: dict[Path, str], default_model: str | None, catalog_file: str | None):
    """Runs in the executor."""
    from promptwise.costing.estimate import estimate_document

    workspace, catalog = workspace_catalog(Path(model.path), catalog_file)
    return estimate_document(model, workspace, catalog=catalog, overlay=overlay, default_model=default_model)


async def document_estimate(ls: PromptwiseServer, uri: str, model: Any = None):
    """The cost estimate of a flow or prompty, or None for other documents."""
    if model is None:
        model = await ls.document_model(uri)
    if model_kind(model) not in COST_KINDS:
        return None
    settings = ls.settings
    return await ls.run_cpu(_estimate, model, ls.overlay(), settings.default_model, settings.catalog_file)


async def lenses(ls: PromptwiseServer, uri: str, lines: list[str]) -> list[types.CodeLens]:
    from promptwise.lsp.context import client_range

    estimate = await document_estimate(ls, uri)
    if estimate is None or not estimate.items:
        return []
    path = uris.uri_to_path(uri)
    found: list[types.CodeLens] = []
    if len(estimate.items) > 1 or estimate.items[0].node is not None:
        found.append(_lens(client_range(ls, path, estimate.range, lines), estimate.lens_text, uri))
    for item in estimate.items:
        found.append(_lens(client_range(ls, path, item.range, lines), item.lens_text, uri))
    return found


def _lens(range_: types.Range, title: str, uri: str) -> types.CodeLens:
    # Clicking the figures estimates the whole document (`promptwise.estimateCost`, a server
    # command): a panel in VS Code, a message in any other editor. An empty command id was
    # a label in VS Code but an error in editors that run every lens (Neovim).
    from promptwise.lsp.commands import ESTIMATE_COST

    return types.CodeLens(range=range_, command=types.Command(title=title, command=ESTIMATE_COST, arguments=[{"uri": uri}]))


async def cost_hover(ls: PromptwiseServer, context: DocumentContext) -> str | None:
    """The cost breakdown, when hovering an llm node's name or a prompty's model settings."""
    if context.kind not in COST_KINDS:
        return None
    estimate = await document_estimate(ls, context.uri, context.model)
    if estimate is None:
        return None
    position = context.position
    for item in estimate.items:
        if item.node is not None:
            anchors = [item.range]
        else:
            anchors = [item.model_range or item.range, *_prompty_model_anchors(context.model)]
        if any(anchor.start <= position <= anchor.end for anchor in anchors):
            return item.hover_text
    return None


def _prompty_model_anchors(prompty: Any) -> list:
    """A prompty's `model:` key and its whole settings block: where one looks for the cost."""
    root = getattr(prompty, "root", None)
    entry = root.entry("model") if root is not None and hasattr(root, "entry") else None
    if entry is None:
        return []
    return [entry.key.range, entry.value.range] if entry.value is not None else [entry.key.range]


async def document_totals(ls: PromptwiseServer, params: Any) -> dict | None:
    """`promptwise/documentTotals` {uri}: totals for the status bar, or None."""
    uri = _uri_of(params)
    if not uri:
        return None
    estimate = await document_estimate(ls, uri)
    return estimate.totals() if estimate is not None else None


def _uri_of(params: Any) -> str | None:
    """Custom requests arrive as plain objects (attribute access) or dicts."""
    if params is None:
        return None
    if isinstance(params, dict):
        value = params.get("uri") or (params.get("textDocument") or {}).get("uri")
    else:
        value = getattr(params, "uri", None)
        if value is None and getattr(params, "textDocument", None) is not None:
            value = getattr(params.textDocument, "uri", None)
    return value if isinstance(value, str) else None
