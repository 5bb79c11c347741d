"""Go to definition.

In a flow: `${node...}` goes to the node, `${inputs.x}` to the flow input, `source.path` to
the file (a python node's to its tool function), a python node's name to its function, a
node input's key to the parameter (python) or the template's first use of the variable.
In a prompty: a template variable goes to its declaration under `inputs:`.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from promptwise.documents.source import Range
from promptwise.lsp.context import DocumentContext, document_context, location, model_of_path
from promptwise.lsp.locate import target_at
from promptwise.lsp.server import PromptwiseServer
from promptwise.lsp.tools import node_source

FILE_START = Range.empty(0, 0)


async def definition(ls: PromptwiseServer, params: types.DefinitionParams) -> list[types.Location] | None:
    context = await document_context(ls, params.text_document.uri, params.position)
    if context is None:
        return None
    if context.kind == "flow_dag":
        found = await _flow_definition(ls, context)
    elif context.kind == "prompty":
        found = _prompty_definition(context)
    elif context.kind == "flex_flow":
        found = await _flex_definition(ls, context)
    else:
        found = []
    if not found:
        return None
    return [location(ls, path, range_, context.lines if path == context.path else None) for path, range_ in found]


async def _flow_definition(ls: PromptwiseServer, context: DocumentContext) -> list[tuple[Path, Range]]:
    flow = context.model
    target = target_at(flow, context.position)
    if target is None:
        return []
    if target.kind in ("node", "section", "path", "variants"):
        node = flow.node(target.name)
        if node is None:
            return []
        if target.kind == "node" and target.reference is None:
            # On the node's own name: its definition is the code or template behind it.
            return await _source_target(ls, flow, node)
        return [(context.path, node.name_range)]
    if target.kind == "input":
        flow_input = flow.inputs.get(target.name)
        return [(context.path, flow_input.key_range)] if flow_input is not None else []
    if target.kind == "source":
        return await _source_target(ls, flow, target.node)
    if target.kind == "node_input":
        source = await node_source(ls, flow, target.node)
        if source is None:
            return []
        parameter = next((p for p in source.parameters if p.name == target.name), None)
        if parameter is not None:
            return [(source.path, parameter.range)]
        template = source.template
        variable = template.variable(target.name) if template is not None else None
        if variable is not None:
            return [(source.path, variable.range)]
    return []


async def _source_target(ls: PromptwiseServer, flow, node) -> list[tuple[Path, Range]]:
    source = await node_source(ls, flow, node)
    if source is None:
        return []
    function = source.function
    if function is not None:
        return [(source.path, function.name_range)]
    return [(source.path, FILE_START)]


async def entry_target(ls: PromptwiseServer, flex) -> tuple[Path, object | None] | None:
    """A flex flow's entry module file and its function or class (None when not found)."""
    module_file = await ls.run_cpu(flex.module_file)
    if module_file is None:
        return None
    module = await model_of_path(ls, module_file)
    found = None
    if module is not None and flex.attribute and hasattr(module, "function"):
        found = module.function(flex.attribute) or module.class_(flex.attribute)
    return module_file, found


async def _flex_definition(ls: PromptwiseServer, context: DocumentContext) -> list[tuple[Path, Range]]:
    """`entry: module:function` goes to the function (or class) in the module's file."""
    flex = context.model
    entry = flex.entry_range
    if entry is None or not (entry.start <= context.position <= entry.end):
        return []
    target = await entry_target(ls, flex)
    if target is None:
        return []
    module_file, found = target
    return [(module_file, found.name_range if found is not None else FILE_START)]


def _prompty_definition(context: DocumentContext) -> list[tuple[Path, Range]]:
    """A variable in the prompty's body goes to its declaration under `inputs:`."""
    prompty = context.model
    template = getattr(prompty, "template", None)
    if template is None:
        return []
    for variable in template.variables:
        for use in variable.uses:
            if use.start <= context.position <= use.end:
                declared = prompty.inputs.get(variable.name)
                return [(context.path, declared.name_range)] if declared is not None else []
    return []
