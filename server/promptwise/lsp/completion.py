"""Completion.

- inside `${`: node names and `inputs`; after `${inputs.` (or legacy `${flow.`): the flow's
  inputs; after `${node.`: `output`; after `${node.output.`: the keys the node's python tool
  returns, where they can be read from its code;
- a key under a node's `inputs:`: the parameters its tool function takes, or the variables
  its template uses (plus the LLM parameters for llm nodes), minus those already there;
- any other key: the keys the schema allows there (from `promptwise.analysis.schema`),
  minus those already there; after `type:`, `api:` and other fixed-choice keys: the choices;
- in a prompty's front matter the same from the prompty schema.
"""

from __future__ import annotations

import re

from lsprotocol import types

from promptwise.documents.source import Range
from promptwise.lsp.context import DocumentContext, client_range, document_context
from promptwise.lsp.hover import LLM_PARAMETERS
from promptwise.lsp.output_keys import returned_keys
from promptwise.lsp.server import PromptwiseServer
from promptwise.lsp.tools import TEMPLATE_NODE_TYPES, node_source
from promptwise.lsp.yaml_context import YamlPosition, yaml_position

TRIGGER_CHARACTERS = ["{", ".", ":", " "]

_REFERENCE_PREFIX = re.compile(r"\$\{(?P<inner>[\w.]*)$")

Item = types.CompletionItem
ItemKind = types.CompletionItemKind


async def completion(ls: PromptwiseServer, params: types.CompletionParams) -> types.CompletionList | None:
    context = await document_context(ls, params.text_document.uri, params.position)
    if context is None or context.kind not in ("flow_dag", "flex_flow", "prompty"):
        return None
    items = await _items(ls, context)
    if items is None:
        return None
    return types.CompletionList(is_incomplete=False, items=items)


async def _items(ls: PromptwiseServer, context: DocumentContext) -> list[types.CompletionItem] | None:
    position = context.position
    line_text = context.lines[position.line] if position.line < len(context.lines) else ""
    prefix = line_text[: position.character]
    if context.kind == "flow_dag":
        match = _REFERENCE_PREFIX.search(prefix)
        if match is not None:
            return await _reference_items(ls, context, match.group("inner"))
    first_line, rule = _schema_for(context)
    if rule is None:
        return None
    if context.kind == "prompty":
        front = getattr(context.model, "front_matter_range", None)
        if front is None or not (front.start.line <= position.line <= front.end.line):
            return None  # the body is a template, not YAML
    where = yaml_position(context.lines, position.line, position.character, first_line)
    if where is None:
        return None
    if context.kind == "flow_dag" and where.in_key and _is_node_inputs(where.path):
        return await _node_input_items(ls, context, where)
    if where.in_key:
        return _key_items(ls, context, rule, where)
    return _value_items(ls, context, rule, where)


# ---- `${...}` ----------------------------------------------------------------------------


def _replace(ls: PromptwiseServer, context: DocumentContext, start: int) -> types.Range:
    line = context.position.line
    return client_range(ls, context.path, Range.of(line, start, line, context.position.character), context.lines)


def _item(ls, context, label: str, kind, start: int, detail: str | None = None, doc: str | None = None, text: str | None = None, sort: str | None = None):
    return Item(
        label=label,
        kind=kind,
        detail=detail,
        documentation=ls.markup("completion", doc) if doc else None,
        text_edit=types.TextEdit(range=_replace(ls, context, start), new_text=text if text is not None else label),
        sort_text=sort,
    )


def _current_node(flow, line: int):
    for node in flow.nodes:
        if node.range.start.line <= line <= node.range.end.line:
            return node
    return None


async def _reference_items(ls: PromptwiseServer, context: DocumentContext, inner: str) -> list[types.CompletionItem]:
    flow = context.model
    start = context.position.character - len(inner.rsplit(".", 1)[-1])
    parts = inner.split(".")
    if len(parts) == 1:
        current = _current_node(flow, context.position.line)
        items = [_item(ls, context, "inputs", ItemKind.Module, start, "flow inputs", sort="0")]
        for node in flow.nodes:
            if node.name and node is not current:
                items.append(_item(ls, context, node.name, ItemKind.Function, start, f"{node.type or ''} node".strip(), sort=f"1{node.index:05d}"))
        return items
    head = parts[0]
    if head in ("inputs", "flow") and len(parts) == 2:
        return [
            _item(
                ls,
                context,
                flow_input.name,
                ItemKind.Variable,
                start,
                flow_input.type,
                flow_input.description,
                sort=f"{index:05d}",
            )
            for index, flow_input in enumerate(flow.inputs.values())
        ]
    node = flow.node(head)
    if node is None:
        return []
    if len(parts) == 2:
        return [_item(ls, context, "output", ItemKind.Property, start, f"the output of {node.name}")]
    if len(parts) == 3 and parts[1] == "output":
        source = await node_source(ls, flow, node)
        function = source.function if source is not None else None
        if function is None:
            return []
        keys = await ls.run_cpu(returned_keys, source.model.text, function.name, function.class_name)
        return [
            _item(ls, context, key, ItemKind.Field, start, f"key of {node.name}'s output", sort=f"{index:05d}")
            for index, key in enumerate(keys)
        ]
    return []


# ---- keys and values -------------------------------------------------------------------


def _schema_for(context: DocumentContext):
    """(first line of the YAML, schema) for the document."""
    from promptwise.analysis import schema

    if context.kind == "flow_dag":
        return 0, schema.FLOW_DAG
    if context.kind == "flex_flow":
        return 0, schema.FLEX_FLOW
    if context.kind == "prompty":
        front = getattr(context.model, "front_matter_range", None)
        first = front.start.line if front is not None else 0
        shape = getattr(context.model, "shape", "")
        rule = schema.PROMPTY_SPEC if "spec" in str(shape).lower() else schema.PROMPTY_PROMPTFLOW
        return first, rule
    return 0, None


def _siblings(context: DocumentContext, where: YamlPosition) -> set[str]:
    """Keys already written in the mapping the cursor is in (from the text, by indentation)."""
    lines = context.lines
    line = context.position.line
    column = where.word_start
    found: set[str] = set()
    key_pattern = re.compile(r"^(?P<lead> *(?:- +)?)(?P<key>[\w$.-]+)\s*:")

    def scan(numbers, upward: bool) -> None:
        for number in numbers:
            text = lines[number]
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            indent = len(text) - len(text.lstrip(" "))
            match = key_pattern.match(text)
            if text[indent] == "-" and indent < column:
                # a list item's first line: its first key belongs to our mapping only when
                # it sits at our column (and only above us: below, it starts a new item)
                if upward and match and len(match.group("lead")) == column:
                    found.add(match.group("key"))
                return
            if indent < column:
                return  # left our mapping
            if match and indent == column:
                found.add(match.group("key"))

    if not lines[line][:column].strip().startswith("-"):
        scan(range(line - 1, -1, -1), upward=True)
    scan(range(line + 1, len(lines)), upward=False)
    return found


def _key_items(ls, context, rule, where: YamlPosition) -> list[types.CompletionItem]:
    from promptwise.analysis.schema import spec_at

    spec = spec_at(rule, where.path)
    if spec is None or not spec.keys:
        return []
    present = _siblings(context, where)
    items = []
    for key, child in spec.keys.items():
        if key in present:
            continue
        items.append(
            _item(
                ls,
                context,
                key,
                ItemKind.Property,
                where.word_start,
                ("required · " if child.required else "") + "/".join(child.kinds),
                text=f"{key}: ",
                sort=("0" if child.required else "1") + key,
            )
        )
    return items


def _value_items(ls, context, rule, where: YamlPosition) -> list[types.CompletionItem]:
    from promptwise.analysis.schema import spec_at

    spec = spec_at(rule, where.path + [where.key or ""])
    if spec is None or not spec.one_of:
        return []
    return [
        _item(ls, context, value, ItemKind.EnumMember, where.word_start, sort=f"{index:03d}")
        for index, value in enumerate(spec.one_of)
    ]


# ---- a node's inputs -------------------------------------------------------------------


def _is_node_inputs(path: list[str]) -> bool:
    return (len(path) == 3 and path[0] == "nodes" and path[2] == "inputs") or (
        len(path) == 6 and path[0] == "node_variants" and path[2] == "variants" and path[4] == "node" and path[5] == "inputs"
    )


def _node_at_item(flow, where: YamlPosition, line: int):
    """The node the cursor's `inputs:` belongs to: by its list item's line, else by range."""
    if where.path and where.path[0] == "node_variants":
        for node in flow.all_nodes():
            if node.variant_of is not None and node.range.start.line <= line <= node.range.end.line:
                return node
        return None
    if where.item_lines:
        item_line = where.item_lines[0]
        for node in flow.nodes:
            if node.range.start.line == item_line:
                return node
    return _current_node(flow, line)


async def _node_input_items(ls: PromptwiseServer, context: DocumentContext, where: YamlPosition) -> list[types.CompletionItem]:
    flow = context.model
    node = _node_at_item(flow, where, context.position.line)
    if node is None:
        return []
    present = _siblings(context, where) | set(node.inputs)
    present.discard(where.word)  # the word being typed is not yet a key
    source = await node_source(ls, flow, node)
    items: list[types.CompletionItem] = []
    if source is not None and source.function is not None:
        for index, parameter in enumerate(source.parameters):
            if parameter.name in present or not parameter.accepts_by_name:
                continue
            items.append(
                _item(
                    ls,
                    context,
                    parameter.name,
                    ItemKind.Variable,
                    where.word_start,
                    parameter.describe(),
                    f"{'required' if parameter.required else 'optional'} parameter of `{source.function.name}`",
                    text=f"{parameter.name}: ",
                    sort=("0" if parameter.required else "1") + f"{index:03d}",
                )
            )
    elif source is not None:
        for index, name in enumerate(source.variable_names):
            if name not in present:
                items.append(
                    _item(
                        ls,
                        context,
                        name,
                        ItemKind.Variable,
                        where.word_start,
                        f"variable of {source.path.name}",
                        text=f"{name}: ",
                        sort=f"0{index:03d}",
                    )
                )
    if node.type in TEMPLATE_NODE_TYPES and node.type != "prompt":
        for name, description in LLM_PARAMETERS.items():
            if name not in present:
                items.append(
                    _item(ls, context, name, ItemKind.Property, where.word_start, description, text=f"{name}: ", sort=f"1{name}")
                )
    return items
