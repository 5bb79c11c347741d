"""Rename a node or a flow input (and a prompty input), updating every reference.

prepareRename answers with the exact name token under the cursor, or nothing when there is
nothing renamable there; rename checks the new name (an identifier, not already taken) and
returns one edit per occurrence.
"""

from __future__ import annotations

import re

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from promptwise.documents.source import Range
from promptwise.lsp import uris
from promptwise.lsp.context import DocumentContext, client_range, document_context
from promptwise.lsp.locate import input_occurrences, node_occurrences, target_at
from promptwise.lsp.references import variable_at
from promptwise.lsp.rename_feeds import feed_edits
from promptwise.lsp.server import PromptwiseServer

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _renamable(context: DocumentContext) -> tuple[str, str, Range] | None:
    """(kind, current name, token range) of what the cursor is on: kind 'node' or 'input'."""
    if context.kind == "flow_dag":
        target = target_at(context.model, context.position)
        if target is None:
            return None
        if target.kind in ("node", "variants") and context.model.node(target.name) is not None:
            return "node", target.name, target.range
        if target.kind == "input" and target.name in context.model.inputs:
            return "input", target.name, target.range
        return None
    if context.kind == "prompty":
        prompty = context.model
        for declared in prompty.inputs.values():
            if declared.name_range.start <= context.position <= declared.name_range.end:
                return "prompty_input", declared.name, declared.name_range
        variable = variable_at(getattr(prompty, "template", None), context.position)
        if variable is not None:
            use = next(u for u in (variable.uses or (variable.range,)) if u.start <= context.position <= u.end)
            return "prompty_input", variable.name, use
    return None


async def _renamable_at(
    ls: PromptwiseServer, uri: str, position: types.Position
) -> tuple[DocumentContext, tuple[str, str, Range]] | None:
    """The document's context and what is renamable at the position, or None."""
    context = await document_context(ls, uri, position)
    if context is None:
        return None
    found = _renamable(context)
    return (context, found) if found is not None else None


async def prepare_rename(ls: PromptwiseServer, params: types.PrepareRenameParams) -> types.PrepareRenameResult | None:
    at = await _renamable_at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    context, (_, name, range_) = at
    return types.PrepareRenamePlaceholder(range=client_range(ls, context.path, range_, context.lines), placeholder=name)


async def rename(ls: PromptwiseServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    at = await _renamable_at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    context, (kind, name, _) = at
    new_name = params.new_name.strip()
    if not IDENTIFIER.match(new_name):
        raise JsonRpcInvalidParams(
            f"'{params.new_name}' is not a valid name: use letters, digits and underscores, not starting with a digit"
        )
    if new_name == name:
        return types.WorkspaceEdit(changes={})
    if kind == "node":
        if context.model.node(new_name) is not None:
            raise JsonRpcInvalidParams(f"a node named '{new_name}' already exists; choose another name")
        ranges = node_occurrences(context.model, name)
    elif kind == "input":
        if new_name in context.model.inputs:
            raise JsonRpcInvalidParams(f"a flow input named '{new_name}' already exists; choose another name")
        ranges = input_occurrences(context.model, name)
    else:
        prompty = context.model
        if new_name in prompty.inputs:
            raise JsonRpcInvalidParams(f"an input named '{new_name}' already exists; choose another name")
        ranges = []
        declared = prompty.inputs.get(name)
        if declared is not None:
            ranges.append(declared.name_range)
        sample = prompty.root.get("sample") if prompty.root is not None else None
        sample_entry = sample.entry(name) if hasattr(sample, "entry") else None
        if sample_entry is not None:  # `sample:` values are keyed by input name
            ranges.append(sample_entry.key.range)
        template = getattr(prompty, "template", None)
        variable = template.variable(name) if template is not None else None
        if variable is not None:
            ranges.extend(variable.uses or (variable.range,))
    edits = [
        types.TextEdit(range=client_range(ls, context.path, range_, context.lines), new_text=new_name)
        for range_ in ranges
    ]
    changes = {context.uri: edits}
    if kind in ("input", "prompty_input") and not uris.is_unsaved(context.path):
        changes.update(await _feed_changes(ls, context.path, name, new_name))
    return types.WorkspaceEdit(changes=changes)


async def _feed_changes(ls: PromptwiseServer, flow_path, old: str, new: str) -> dict[str, list[types.TextEdit]]:
    """Edits to the datasets and eval.yaml that feed the renamed input; what cannot be
    rewritten is said in a warning (`rename_feeds`)."""
    found = await ls.run_cpu(feed_edits, flow_path, old, new, ls.text_of)
    for warning in found.warnings:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"Rename of `{old}`: {warning}"))
    changes: dict[str, list[types.TextEdit]] = {}
    for path, edits in found.edits.items():
        lines = ls.lines_of(path)
        changes[uris.path_to_uri(path)] = [
            types.TextEdit(range=client_range(ls, path, range_, lines), new_text=text) for range_, text in edits
        ]
    return changes
