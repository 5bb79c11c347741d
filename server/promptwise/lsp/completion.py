"""Completion.

- inside `${`: node names and `inputs`; after `${inputs.` (or legacy `${flow.`): the flow's
  inputs; after `${node.`: `output`; after `${node.output.`: the keys the node's python tool
  returns, where they can be read from its code;
- a key under a node's `inputs:`: the parameters its tool function takes, or the variables
  its template uses (plus the LLM parameters for llm nodes), minus those already there;
- any other key: the keys the schema allows there (from `promptwise.analysis.schema`),
  minus those already there; after `type:`, `api:` and other fixed-choice keys: the choices;
- in a prompty's front matter the same from the prompty schema;
- model names from the catalog (and the workspace's deployments) after a prompty's
  `model.configuration.model` / `azure_deployment` / `model.id` and an llm node's `model` /
  `deployment_name` input; `api:` values Prompt flow and Prompty accept;
- inside `{{ }}` and `{% %}` of a template or a prompty's body: the variables the template can
  be given (a prompty's inputs and sample, the inputs of the nodes that use a template);
- never a `${node.output}` of a node downstream of the one being edited (a cycle).
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
    context = await document_context(ls, params.text_document.uri, params.position, latest=True)
    if context is None or context.kind not in ("flow_dag", "flex_flow", "prompty", "jinja"):
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
    if context.kind == "jinja" or (context.kind == "prompty" and _in_prompty_body(context)):
        word = jinja_word(prefix)
        return await _jinja_items(ls, context, word) if word is not None else None
    first_line, rule = _schema_for(context)
    if rule is None:
        return None
    if context.kind == "prompty":
        front = getattr(context.model, "front_matter_range", None)
        if front is None or not (front.start.line <= position.line <= front.end.line):
            return None
    where = yaml_position(context.lines, position.line, position.character, first_line)
    if where is None:
        return None
    if context.kind == "flow_dag" and where.in_key and _is_node_inputs(where.path):
        return await _node_input_items(ls, context, where)
    if where.in_key:
        return _key_items(ls, context, rule, where)
    special = await _special_value_items(ls, context, where)
    if special is not None:
        return special
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
    for node in flow.all_nodes():  # a variant's node too: its references are its node's
        if node.range.start.line <= line <= node.range.end.line:
            return node
    return None


def _owner_name(node) -> str | None:
    """The node name a node's references count for (a variant's is its node's)."""
    return node.variant_of[0] if node.variant_of is not None else node.name


def downstream_of(flow, name: str | None) -> set[str]:
    """Names of the nodes that read `name`'s output, directly or through others (inputs and
    `activate`): referring to one of them from `name` would close a cycle."""
    if not name:
        return set()
    readers: dict[str, set[str]] = {}
    for where, owner, reference in flow.references():
        if where == "output" or not reference.is_node:
            continue
        reader = _owner_name(owner)
        if reader:
            readers.setdefault(reference.name, set()).add(reader)
    found: set[str] = set()
    todo = [name]
    while todo:
        for reader in readers.get(todo.pop(), ()):
            if reader not in found:
                found.add(reader)
                todo.append(reader)
    found.discard(name)
    return found


async def _reference_items(ls: PromptwiseServer, context: DocumentContext, inner: str) -> list[types.CompletionItem]:
    flow = context.model
    start = context.position.character - len(inner.rsplit(".", 1)[-1])
    parts = inner.split(".")
    if len(parts) == 1:
        current = _current_node(flow, context.position.line)
        # itself (a variant's node is its node), and whatever reads it: both close a cycle
        excluded = downstream_of(flow, _owner_name(current)) | {_owner_name(current)} if current is not None else set()
        items = [_item(ls, context, "inputs", ItemKind.Module, start, "flow inputs", sort="0")]
        for node in flow.nodes:
            if node.name and node is not current and node.name not in excluded:
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


# ---- values with their own source: models, api --------------------------------------------

# Prompt flow's llm node takes `api: chat | completion`; Prompty's `model.api` the same (its
# newer spec also names embedding and image calls; Prompty 2 says `apiType: responses`).
FLOW_API_VALUES = ("chat", "completion")
PROMPTY_API_VALUES = ("chat", "completion")
PROMPTY_SPEC_API_VALUES = ("chat", "completion", "embedding", "image", "responses")
MODEL_KEYS_IN_PROMPTY = {("model", "configuration"): ("model", "azure_deployment"), ("model",): ("id",)}
MODEL_INPUTS_OF_LLM_NODES = ("model", "deployment_name")


async def _special_value_items(ls: PromptwiseServer, context: DocumentContext, where: YamlPosition):
    """Items for a value whose choices are not in the schema, or None to use the schema's."""
    path, key = tuple(where.path), where.key
    if context.kind == "flow_dag":
        if key == "api" and _is_node_item(where.path):
            return _choices(ls, context, where, FLOW_API_VALUES)
        if key in MODEL_INPUTS_OF_LLM_NODES and _is_node_inputs(where.path):
            node = _node_at_item(context.model, where, context.position.line)
            if node is not None and node.type in ("llm", "custom_llm"):
                return await _model_items(ls, context, where, azure=key == "deployment_name")
        return None
    if context.kind == "prompty":
        if path == ("model",) and key in ("api", "apiType"):
            spec_shape = "spec" in str(getattr(context.model, "shape", "")).lower()
            return _choices(ls, context, where, PROMPTY_SPEC_API_VALUES if spec_shape else PROMPTY_API_VALUES)
        if key in MODEL_KEYS_IN_PROMPTY.get(path, ()):
            return await _model_items(ls, context, where, azure=key == "azure_deployment")
    return None


def _is_node_item(path: list[str]) -> bool:
    return (len(path) == 2 and path[0] == "nodes") or (
        len(path) == 5 and path[0] == "node_variants" and path[2] == "variants" and path[4] == "node"
    )


def _choices(ls, context, where: YamlPosition, values) -> list[types.CompletionItem]:
    return [_item(ls, context, value, ItemKind.EnumMember, where.word_start, sort=f"{i:03d}") for i, value in enumerate(values)]


def _catalog_models(path, catalog_file: str | None) -> list[tuple[str, str]]:
    """(name, detail) of the workspace's deployments then the catalog's models (executor)."""
    from promptwise.lsp.costs import workspace_catalog

    _, catalog = workspace_catalog(path, catalog_file)
    found = [(name, f"deployment → {target}") for name, target in sorted(catalog.deployments.items())]
    for name, model in sorted(catalog.models.items()):
        found.append(
            (name, f"{model.provider} · ${model.input_per_1m:g} in / ${model.output_per_1m:g} out per 1M tokens · "
                   f"{model.context_window:,} context")
        )
    return found


async def _model_items(ls: PromptwiseServer, context: DocumentContext, where: YamlPosition, azure: bool):
    """Model names; for an Azure deployment, the catalog's azure/ entries without the prefix
    (deployments are usually named after their model)."""
    models = await ls.run_cpu(_catalog_models, context.path, ls.settings.catalog_file)
    items, seen = [], set()
    for index, (name, detail) in enumerate(models):
        label = name.removeprefix("azure/") if azure else name
        if label in seen or (not azure and name.startswith("azure/")):
            continue
        seen.add(label)
        items.append(_item(ls, context, label, ItemKind.Value, where.word_start, detail, sort=f"{index:05d}"))
    return items


# ---- Jinja variables --------------------------------------------------------------------

def jinja_word(prefix: str) -> str | None:
    """The word being typed inside an unclosed `{{ ... ` or `{% ... ` before the cursor, or
    None when the cursor is outside one or after a `.` (an attribute, not a variable).
    A scan from the end, linear in the line (a regex here backtracked for 40 s on a line of
    16,000 braces)."""
    opened = max(prefix.rfind("{{"), prefix.rfind("{%"))
    if opened < 0 or max(prefix.rfind("}}"), prefix.rfind("%}")) > opened:
        return None
    start = len(prefix)
    while start > opened + 2 and (prefix[start - 1].isalnum() or prefix[start - 1] == "_"):
        start -= 1
    if prefix[start - 1] == ".":
        return None
    return prefix[start:]


def _in_prompty_body(context: DocumentContext) -> bool:
    front = getattr(context.model, "front_matter_range", None)
    body_line = getattr(context.model, "body_line", 0)
    return context.position.line >= body_line and (front is None or context.position.line > front.end.line)


async def _jinja_items(ls: PromptwiseServer, context: DocumentContext, word: str) -> list[types.CompletionItem]:
    """The variables a template can be given, with where each comes from."""
    from promptwise.lsp.diagnostics import find_dependents
    from promptwise.lsp.locate import iter_nodes_using
    from promptwise.lsp import uris
    from promptwise.lsp.context import model_kind

    names: dict[str, str] = {}
    model = context.model
    if context.kind == "prompty":
        for name, declared in model.inputs.items():
            names[name] = f"input{' · ' + declared.type if declared.type else ''}"
        sample = model.sample if isinstance(model.sample, dict) else {}
        for name in sample:
            names.setdefault(str(name), "in `sample`")
    else:
        for flow_path in await ls.run_cpu(find_dependents, context.path, ls.overlay()):
            flow = await ls.document_model(uris.path_to_uri(flow_path))
            if model_kind(flow) != "flow_dag":
                continue
            for node in iter_nodes_using(flow, context.path):
                for name in node.inputs:
                    if node.type in ("llm", "custom_llm") and name in LLM_PARAMETERS:
                        continue  # settings of the call, not template variables
                    names.setdefault(name, f"input of node {node.name}")
    template = model if context.kind == "jinja" else getattr(model, "template", None)
    for variable in getattr(template, "variables", ()) or ():
        names.setdefault(variable.name, "used in this template")
    start = context.position.character - len(word)
    return [
        _item(ls, context, name, ItemKind.Variable, start, detail, sort=f"{index:04d}")
        for index, (name, detail) in enumerate(names.items())
    ]
