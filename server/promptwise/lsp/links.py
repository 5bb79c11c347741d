"""Document links: a flow node's `source.path` (and `additional_includes` entries), a flex
flow's `entry` module and a prompty's `${file:...}`, each to the file it names when that file exists (a missing file
is a diagnostic, not a link)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from promptwise.lsp import uris
from promptwise.lsp.context import client_range, document_context
from promptwise.lsp.locate import source_file
from promptwise.lsp.server import PromptwiseServer


def _existing(path: Path | None) -> Path | None:
    try:
        return path if path is not None and path.is_file() else None
    except (OSError, ValueError):  # a NUL or an over-long name: not a link
        return None


def _flow_links(flow) -> list[tuple[object, Path, str]]:
    found = []
    for node in flow.all_nodes():
        target = _existing(source_file(flow, node))
        range_ = node.source.value_range("path") if node.source is not None else None
        if target is not None and range_ is not None:
            found.append((range_, target, f"open {node.source.path}"))
    folder = Path(flow.path).parent
    for written, range_ in getattr(flow, "additional_includes", ()):
        target = _existing(folder / written) if isinstance(written, str) else None
        if target is not None:
            found.append((range_, target, f"open {written}"))
    return found


def _flex_links(flow) -> list[tuple[object, Path, str]]:
    """The module of `entry: package.module:function`."""
    target = _existing(flow.module_file()) if flow.module else None
    if target is None or flow.module_range is None:
        return []
    return [(flow.module_range, target, f"open {target.name}")]


def _prompty_links(prompty) -> list[tuple[object, Path, str]]:
    folder = Path(prompty.path).parent
    found = []
    for substitution in getattr(prompty, "substitutions", ()):
        if substitution.kind != "file" or not substitution.name:
            continue
        target = _existing(folder / substitution.name)
        if target is not None:
            found.append((substitution.name_range, target, f"open {substitution.name}"))
    return found


async def document_links(ls: PromptwiseServer, params: types.DocumentLinkParams) -> list[types.DocumentLink] | None:
    context = await document_context(ls, params.text_document.uri)
    if context is None:
        return None
    if context.kind == "flow_dag":
        found = await ls.run_cpu(_flow_links, context.model)
    elif context.kind == "flex_flow":
        found = await ls.run_cpu(_flex_links, context.model)
    elif context.kind == "prompty":
        found = await ls.run_cpu(_prompty_links, context.model)
    else:
        return None
    return [
        types.DocumentLink(
            range=client_range(ls, context.path, range_, context.lines),
            target=uris.path_to_uri(target),
            tooltip=tip if _tooltips(ls) else None,
        )
        for range_, target, tip in found
    ] or None


def _tooltips(ls: PromptwiseServer) -> bool:
    text_document = ls.client_capabilities.text_document if ls.client_capabilities else None
    link = text_document.document_link if text_document else None
    return bool(link and link.tooltip_support)
