"""What sits at a position in a flow, and where a name is declared and used.

Definition, references, hover and rename all start by asking "what is under the cursor?"
and "where else does this name occur?"; both questions are answered here, on the
`FlowDag` document model, in code-point positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from promptwise.documents.source import Position, Range


@dataclass(frozen=True)
class Target:
    """The thing under the cursor.

    kind:
      'node'         a node's `name:` value, or the node part of `${node...}`
      'input'        a flow input's key, or the name part of `${inputs.x}` / `${flow.x}`
      'output'       a flow output's key
      'section'      the `output` part of `${node.output...}` (node set)
      'path'         the keys after the section, `${node.output.key}` (node set)
      'source'       a node's `source.path` value (node set)
      'node_input'   a key under a node's `inputs:` (node and name set)
      'variants'     a key under `node_variants:` (a node's name)
      'variant'      a variant's id under `node_variants.<node>.variants` (name: the node's; node: the variant's)
    """

    kind: str
    name: str
    range: Range  # the token under the cursor
    node: object | None = None  # FlowNode when the target belongs to one
    reference: object | None = None  # Reference when inside `${...}`


def _inside(range_: Range | None, position: Position) -> bool:
    return range_ is not None and range_.start <= position <= range_.end


def target_at(flow, position: Position) -> Target | None:
    """The target at `position` in a FlowDag, or None."""
    for where, owner, reference in flow.references():
        if not _inside(reference.range, position):
            continue
        if reference.is_flow_input:
            return Target("input", reference.name, reference.name_range, reference=reference)
        node = flow.node(reference.name)
        if reference.section_range is not None and _inside(reference.section_range, position) and (
            position > reference.section_range.start or not _inside(reference.name_range, position)
        ):
            return Target("section", reference.name, reference.section_range, node, reference)
        if reference.path_range is not None and _inside(reference.path_range, position) and (
            position > reference.path_range.start
        ):
            return Target("path", reference.name, reference.path_range, node, reference)
        return Target("node", reference.name, reference.name_range, node, reference)
    for node in flow.all_nodes():
        if not _inside(node.range, position):
            continue
        if node.name is not None and node.has("name") and _inside(node.name_range, position):
            return Target("node", node.name, node.name_range, node)
        if node.source is not None:
            path_range = node.source.value_range("path")
            if node.source.path and _inside(path_range, position):
                return Target("source", node.source.path, path_range, node)
        for node_input in node.inputs.values():
            if _inside(node_input.key_range, position):
                return Target("node_input", node_input.name, node_input.key_range, node)
    for flow_input in flow.inputs.values():
        if _inside(flow_input.key_range, position):
            return Target("input", flow_input.name, flow_input.key_range)
    for output in flow.outputs.values():
        if _inside(output.key_range, position):
            return Target("output", output.name, output.key_range)
    for variants in flow.node_variants.values():
        if _inside(variants.key_range, position):
            return Target("variants", variants.name, variants.key_range, flow.node(variants.name))
        for variant in variants.variants.values():
            if _inside(variant.key_range, position):
                return Target("variant", variants.name, variant.key_range, variant.node)
    return None


def node_occurrences(flow, name: str, include_declaration: bool = True) -> list[Range]:
    """Every place that names node `name`: its `name:` value, `${name...}` references
    anywhere in the flow, and its key under `node_variants:`."""
    found: list[Range] = []
    if include_declaration:
        for node in flow.nodes:  # variant nodes carry the name only when written out
            if node.name == name and node.has("name"):
                found.append(node.name_range)
    for _, _, reference in flow.references():
        if reference.is_node and reference.name == name:
            found.append(reference.name_range)
    variants = flow.node_variants.get(name)
    if variants is not None:
        found.append(variants.key_range)
    for variants in flow.node_variants.values():
        for variant in variants.variants.values():
            node = variant.node
            if node is not None and node.has("name") and node.name == name:
                found.append(node.name_range)
    return _unique(found)


def input_occurrences(flow, name: str, include_declaration: bool = True) -> list[Range]:
    """The flow input's key and every `${inputs.name}` / `${flow.name}`."""
    found: list[Range] = []
    flow_input = flow.inputs.get(name)
    if include_declaration and flow_input is not None:
        found.append(flow_input.key_range)
    for _, _, reference in flow.references():
        if reference.is_flow_input and reference.name == name:
            found.append(reference.name_range)
    return _unique(found)


def _unique(ranges: list[Range]) -> list[Range]:
    seen: set[Range] = set()
    result = []
    for range_ in ranges:
        if range_ not in seen:
            seen.add(range_)
            result.append(range_)
    result.sort(key=lambda r: (r.start, r.end))
    return result


def source_file(flow, node) -> Path | None:
    """The node's source file, resolved against the flow's folder."""
    if node is None or node.source is None or not node.source.path:
        return None
    return node.source.resolve(flow.folder)


def iter_nodes_using(flow, path: Path) -> Iterator[object]:
    """Nodes whose source file is `path`."""
    from promptwise.lsp.uris import normalize

    wanted = normalize(path)
    for node in flow.all_nodes():
        file = source_file(flow, node)
        if file is not None and normalize(file) == wanted:
            yield node
