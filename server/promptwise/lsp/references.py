"""Find references.

In a flow: a node (its name, a `${node...}` or its `node_variants` key) -> every place that
names it; a flow input -> its key and every `${inputs.x}` / `${flow.x}`.
In a template or prompty: a variable -> its uses in the template, its declaration under a
prompty's `inputs:`, and the node input keys that feed it in the flows using the template.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from promptwise.documents.source import Range
from promptwise.lsp import uris
from promptwise.lsp.context import DocumentContext, document_context, location, model_kind
from promptwise.lsp.diagnostics import find_dependents
from promptwise.lsp.locate import input_occurrences, iter_nodes_using, node_occurrences, target_at
from promptwise.lsp.server import PromptwiseServer


async def references(ls: PromptwiseServer, params: types.ReferenceParams) -> list[types.Location] | None:
    context = await document_context(ls, params.text_document.uri, params.position)
    if context is None:
        return None
    include_declaration = params.context.include_declaration if params.context else True
    if context.kind == "flow_dag":
        found = _flow_references(context, include_declaration)
    elif context.kind in ("jinja", "prompty"):
        found = await _template_references(ls, context, include_declaration)
    else:
        found = []
    if not found:
        return None
    return [location(ls, path, range_, context.lines if path == context.path else None) for path, range_ in found]


def _flow_references(context: DocumentContext, include_declaration: bool) -> list[tuple[Path, Range]]:
    flow = context.model
    target = target_at(flow, context.position)
    if target is None:
        return []
    if target.kind in ("node", "section", "path", "variants"):
        ranges = node_occurrences(flow, target.name, include_declaration)
    elif target.kind == "input":
        ranges = input_occurrences(flow, target.name, include_declaration)
    else:
        return []
    return [(context.path, range_) for range_ in ranges]


def variable_at(template, position) -> object | None:
    """The template variable whose use covers `position`."""
    if template is None:
        return None
    for variable in template.variables:
        for use in variable.uses or (variable.range,):
            if use.start <= position <= use.end:
                return variable
    return None


async def _template_references(
    ls: PromptwiseServer, context: DocumentContext, include_declaration: bool
) -> list[tuple[Path, Range]]:
    model = context.model
    template = model if context.kind == "jinja" else getattr(model, "template", None)
    variable = variable_at(template, context.position)
    if variable is None and context.kind == "prompty":
        declared = next(
            (i for i in model.inputs.values() if i.name_range.start <= context.position <= i.name_range.end),
            None,
        )
        if declared is not None and template is not None:
            variable = template.variable(declared.name)
            if variable is None:
                return [(context.path, declared.name_range)] if include_declaration else []
    if variable is None:
        return []
    found = [(context.path, use) for use in (variable.uses or (variable.range,))]
    if context.kind == "prompty":
        declared = model.inputs.get(variable.name)
        if declared is not None and include_declaration:
            found.insert(0, (context.path, declared.name_range))
    found.extend(await feeding_inputs(ls, context.path, variable.name))
    return found


async def feeding_inputs(ls: PromptwiseServer, path: Path, name: str) -> list[tuple[Path, Range]]:
    """The node input keys named `name` in flows whose nodes use the file `path`."""
    found: list[tuple[Path, Range]] = []
    for flow_path in await ls.run_cpu(find_dependents, path, ls.overlay()):
        flow = await ls.document_model(uris.path_to_uri(flow_path))
        if model_kind(flow) != "flow_dag":
            continue
        for node in iter_nodes_using(flow, path):
            node_input = node.inputs.get(name)
            if node_input is not None:
                found.append((flow_path, node_input.key_range))
    return found
