"""Document symbols (the outline): a flow's inputs, nodes, outputs and variants; a prompt's
front-matter sections, role lines and template variables."""

from __future__ import annotations

from lsprotocol import types

from promptwise.documents.source import Position, Range
from promptwise.lsp.context import DocumentContext, client_range, document_context
from promptwise.lsp.server import PromptwiseServer

Kind = types.SymbolKind


async def document_symbols(ls: PromptwiseServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    context = await document_context(ls, params.text_document.uri)
    if context is None:
        return []
    kind = context.kind
    if kind == "flow_dag":
        return _flow_symbols(ls, context)
    if kind in ("prompty", "jinja"):
        return _prompt_symbols(ls, context)
    if kind == "flex_flow":
        return _top_level_symbols(ls, context)
    return []


def _symbol(
    ls: PromptwiseServer,
    context: DocumentContext,
    name: str,
    kind: types.SymbolKind,
    range_: Range,
    selection: Range,
    detail: str | None = None,
    children: list[types.DocumentSymbol] | None = None,
) -> types.DocumentSymbol:
    # The spec wants the selection inside the range; YAML ranges of a key and its value
    # always nest, but be defensive about half-typed files.
    start = min(range_.start, selection.start)
    end = max(range_.end, selection.end)
    return types.DocumentSymbol(
        name=name or "?",
        kind=kind,
        range=client_range(ls, context.path, Range(start, end), context.lines),
        selection_range=client_range(ls, context.path, selection, context.lines),
        detail=detail,
        children=children or None,
    )


def _entry_range(root, key: str) -> tuple[Range, Range] | None:
    entry = root.entry(key) if root is not None else None
    if entry is None:
        return None
    return Range(entry.key.range.start, max(entry.key.range.end, entry.value.range.end)), entry.key.range


def _element_range(key_range: Range, mapping) -> Range:
    if mapping is None:
        return key_range
    return Range(key_range.start, max(key_range.end, mapping.range.end))


def _flow_symbols(ls: PromptwiseServer, context: DocumentContext) -> list[types.DocumentSymbol]:
    flow = context.model
    root = flow.root
    symbols: list[types.DocumentSymbol] = []

    section = _entry_range(root, "inputs")
    if section is not None:
        children = [
            _symbol(
                ls,
                context,
                flow_input.name,
                Kind.Variable,
                _element_range(flow_input.key_range, flow_input.mapping),
                flow_input.key_range,
                detail=flow_input.type,
            )
            for flow_input in flow.inputs.values()
        ]
        symbols.append(_symbol(ls, context, "inputs", Kind.Namespace, *section, children=children))

    section = _entry_range(root, "nodes")
    if section is not None:
        children = []
        for node in flow.nodes:
            detail = " · ".join(part for part in (node.type, node.source.path if node.source else None) if part)
            children.append(
                _symbol(
                    ls,
                    context,
                    node.name or f"node {node.index + 1}",
                    Kind.Function,
                    node.range,
                    node.name_range,
                    detail=detail or None,
                )
            )
        symbols.append(_symbol(ls, context, "nodes", Kind.Namespace, *section, children=children))

    section = _entry_range(root, "outputs")
    if section is not None:
        children = [
            _symbol(
                ls,
                context,
                output.name,
                Kind.Property,
                _element_range(output.key_range, output.mapping),
                output.key_range,
                detail=output.reference.text if output.reference is not None else output.type,
            )
            for output in flow.outputs.values()
        ]
        symbols.append(_symbol(ls, context, "outputs", Kind.Namespace, *section, children=children))

    section = _entry_range(root, "node_variants")
    if section is not None:
        children = []
        for variants in flow.node_variants.values():
            variant_symbols = [
                _symbol(
                    ls,
                    context,
                    variant.id,
                    Kind.EnumMember,
                    _element_range(variant.key_range, variant.mapping),
                    variant.key_range,
                    detail="default" if variant.id == variants.default_variant_id else None,
                )
                for variant in variants.variants.values()
            ]
            children.append(
                _symbol(
                    ls,
                    context,
                    variants.name,
                    Kind.Enum,
                    _element_range(variants.key_range, variants.mapping),
                    variants.key_range,
                    children=variant_symbols,
                )
            )
        symbols.append(_symbol(ls, context, "node_variants", Kind.Namespace, *section, children=children))
    return symbols


def _top_level_symbols(ls: PromptwiseServer, context: DocumentContext) -> list[types.DocumentSymbol]:
    root = getattr(context.model, "root", None)
    if root is None:
        return []
    symbols = []
    for entry in root.entries:
        key = entry.key_text
        if key is None:
            continue
        whole = Range(entry.key.range.start, max(entry.key.range.end, entry.value.range.end))
        symbols.append(_symbol(ls, context, key, Kind.Field, whole, entry.key.range))
    return symbols


def _prompt_symbols(ls: PromptwiseServer, context: DocumentContext) -> list[types.DocumentSymbol]:
    from promptwise.documents.render import find_role_sections

    lines = context.lines
    symbols: list[types.DocumentSymbol] = []
    sections = getattr(context.model, "role_sections", None)
    if context.kind == "prompty":
        symbols.extend(_top_level_symbols(ls, context))  # front matter: model, inputs, sample ...
    if sections is None:
        sections = find_role_sections("\n".join(lines))
    variables = _template_variables(context.model)
    for index, section in enumerate(sections):
        last_line = max(section.line, section.content_end_line)
        end_character = len(lines[last_line]) if last_line < len(lines) else 0
        whole = Range(Position(section.line, 0), Position(last_line, end_character))
        selection = Range.of(section.line, section.start_character, section.line, section.end_character)
        inside = [
            variable
            for variable in variables
            if section.line <= variable.range.start.line <= last_line
        ]
        children = [
            _symbol(ls, context, variable.name, Kind.Variable, variable.range, variable.range)
            for variable in inside
        ]
        symbols.append(_symbol(ls, context, f"{section.role}:", Kind.Namespace, whole, selection, children=children))
    if not sections:  # a template without role lines: list its variables at top level
        symbols.extend(
            _symbol(ls, context, variable.name, Kind.Variable, variable.range, variable.range)
            for variable in variables
        )
    return symbols


def _template_variables(model) -> list:
    """The template variables of a Jinja template or of a prompty's body."""
    template = model
    if type(model).__name__ != "JinjaTemplate":
        template = getattr(model, "template", None) or getattr(model, "body", None)
    variables = getattr(template, "variables", None)
    return list(variables) if variables else []
