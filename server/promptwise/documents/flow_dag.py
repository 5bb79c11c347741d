"""The `flow.dag.yaml` document: inputs, outputs, nodes, node variants, environment.

Built from the YAML tree without ever raising: whatever has the wrong shape is left as
None/empty here and reported by the analysis (which walks the same tree with a schema).
Each element keeps its YAML mapping, so any key's or value's range is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from promptwise.documents.common import (
    Element,
    YamlBackedDocument,
    as_mapping,
    as_sequence,
    boolean,
    plain,
    read_named_sections,
    string,
    string_list,
    top_level_mapping,
)
from promptwise.documents.files import usable_path
from promptwise.documents.references import Reference, parse_reference
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlNode, YamlScalar, parse_yaml, to_python

NODE_TYPES = ("llm", "python", "prompt", "custom_llm")
# Nodes (variants included) read from one file at most. Real flows have tens; YAML aliases
# could otherwise make a small file expand into billions of nodes.
MAX_NODES = 5000
SOURCE_TYPES = ("code", "package", "package_with_prompt")


@dataclass
class FlowInput(Element):
    name: str
    key_range: Range
    type: str | None = None
    default: Any = None
    has_default: bool = False
    description: str | None = None
    enum: list | None = None
    is_chat_input: bool = False
    is_chat_history: bool = False


@dataclass
class FlowOutput(Element):
    name: str
    key_range: Range
    type: str | None = None
    reference: Reference | None = None
    reference_text: Any = None  # the raw `reference:` value (a literal when not `${...}`)
    description: str | None = None
    is_chat_output: bool = False
    evaluation_only: bool = False  # kept in runs, left out of a served answer (as pf flow serve does)


@dataclass
class NodeInput:
    name: str
    key_node: YamlNode
    value_node: YamlNode | None
    value: Any  # plain Python value
    reference: Reference | None = None

    @property
    def key_range(self) -> Range:
        return self.key_node.range

    @property
    def value_range(self) -> Range:
        return self.value_node.range if self.value_node is not None else self.key_range


@dataclass
class NodeSource(Element):
    type: str | None = None
    path: str | None = None
    tool: str | None = None

    def resolve(self, folder: Path) -> Path | None:
        """The source file on disk, relative to the flow's folder; None for a path no file
        can have (a NUL, longer than PATH_MAX): the analysis reports those at the path."""
        return (folder / self.path) if self.path and usable_path(self.path) else None


@dataclass
class Activate(Element):
    when: Reference | None = None
    when_value: Any = None  # the raw `when:` value
    is_value: Any = None
    has_when: bool = False
    has_is: bool = False


@dataclass
class FlowNode(Element):
    name: str | None
    name_range: Range  # the name's value, or the node's first line when it has no name
    range: Range  # the whole list item
    index: int
    type: str | None = None
    source: NodeSource | None = None
    inputs: dict[str, NodeInput] = field(default_factory=dict)
    connection: str | None = None
    api: str | None = None
    provider: str | None = None
    module: str | None = None
    activate: Activate | None = None
    aggregation: bool = False
    use_variants: bool = False
    enable_cache: bool = False
    comment: str | None = None
    # set for the node of a variant: (node name it is a variant of, variant id)
    variant_of: tuple[str, str] | None = None

    def references(self) -> Iterator[tuple[str, Reference]]:
        """Every reference in the node: ('input', ref) then ('activate', ref)."""
        for node_input in self.inputs.values():
            if node_input.reference is not None:
                yield "input", node_input.reference
        if self.activate is not None and self.activate.when is not None:
            yield "activate", self.activate.when

    def source_file(self, folder: Path) -> Path | None:
        return self.source.resolve(folder) if self.source is not None else None


@dataclass
class Variant(Element):
    id: str
    key_range: Range
    node: FlowNode | None = None
    description: str | None = None


@dataclass
class NodeVariants(Element):
    name: str  # the node these are variants of
    key_range: Range
    default_variant_id: str | None = None
    variants: dict[str, Variant] = field(default_factory=dict)


@dataclass
class FlowDag(YamlBackedDocument):
    kind = "flow_dag"
    inputs: dict[str, FlowInput] = field(default_factory=dict)
    outputs: dict[str, FlowOutput] = field(default_factory=dict)
    nodes: list[FlowNode] = field(default_factory=list)
    node_variants: dict[str, NodeVariants] = field(default_factory=dict)
    environment: dict | None = None
    environment_variables: dict[str, Any] = field(default_factory=dict)
    additional_includes: list[tuple[str, Range]] = field(default_factory=list)
    language: str = "python"  # `language: csharp`: a C# flow, which Prompt flow runs with its .NET executor
    _nodes_by_name: dict[str, FlowNode] = field(default_factory=dict, repr=False)

    @property
    def is_python(self) -> bool:
        return self.language.lower() in ("python", "")

    def node(self, name: str) -> FlowNode | None:
        """The first node of that name (duplicates are reported by the analysis)."""
        return self._nodes_by_name.get(name)

    def all_nodes(self) -> Iterator[FlowNode]:
        """Nodes, then the nodes inside node variants."""
        yield from self.nodes
        for variants in self.node_variants.values():
            for variant in variants.variants.values():
                if variant.node is not None:
                    yield variant.node

    def references(self) -> Iterator[tuple[str, object, Reference]]:
        """Every `${...}` in the flow: (where, owner, reference) with where one of
        'input' / 'activate' (owner: FlowNode) or 'output' (owner: FlowOutput)."""
        for node in self.all_nodes():
            for where, reference in node.references():
                yield where, node, reference
        for output in self.outputs.values():
            if output.reference is not None:
                yield "output", output, output.reference


def _flow_input(name: str, key_range: Range, node: YamlNode | None) -> FlowInput:
    mapping = as_mapping(node)
    has_default = mapping is not None and "default" in mapping
    enum = plain(mapping, "enum")
    return FlowInput(
        name,
        key_range,
        type=string(mapping, "type"),
        default=plain(mapping, "default") if has_default else None,
        has_default=has_default,
        description=string(mapping, "description"),
        enum=enum if isinstance(enum, list) else None,
        is_chat_input=boolean(mapping, "is_chat_input"),
        is_chat_history=boolean(mapping, "is_chat_history"),
        mapping=mapping,
    )


def _flow_output(name: str, key_range: Range, node: YamlNode | None) -> FlowOutput:
    mapping = as_mapping(node)
    reference_node = mapping.get("reference") if mapping is not None else None
    return FlowOutput(
        name,
        key_range,
        type=string(mapping, "type"),
        reference=parse_reference(reference_node),
        reference_text=reference_node.value if isinstance(reference_node, YamlScalar) else None,
        description=string(mapping, "description"),
        is_chat_output=boolean(mapping, "is_chat_output"),
        evaluation_only=boolean(mapping, "evaluation_only"),
        mapping=mapping,
    )


def _value(node: YamlNode | None) -> Any:
    if isinstance(node, YamlScalar):
        return node.value
    try:
        return to_python(node)
    except ValueError:
        return None


def parse_node(node: YamlNode, index: int, variant_of: tuple[str, str] | None = None) -> FlowNode:
    """One node from its YAML (a mapping in `nodes:` or a variant's `node:`)."""
    mapping = as_mapping(node)
    name = string(mapping, "name")
    name_node = mapping.get("name") if mapping is not None else None
    if variant_of is not None and name is None:
        name = variant_of[0]  # a variant's node takes the name of the node it replaces
    name_range = name_node.range if name_node is not None else Range(node.range.start, node.range.start)
    inputs: dict[str, NodeInput] = {}
    inputs_mapping = as_mapping(mapping.get("inputs")) if mapping is not None else None
    if inputs_mapping is not None:
        for entry in inputs_mapping.entries:
            key = entry.key_text
            if key is None:
                continue
            inputs[key] = NodeInput(key, entry.key, entry.value, _value(entry.value), parse_reference(entry.value))
    source = None
    source_node = mapping.get("source") if mapping is not None else None
    if source_node is not None:
        source_mapping = as_mapping(source_node)
        source = NodeSource(
            type=string(source_mapping, "type"),
            path=string(source_mapping, "path"),
            tool=string(source_mapping, "tool"),
            mapping=source_mapping,
        )
    activate = None
    activate_node = mapping.get("activate") if mapping is not None else None
    if activate_node is not None:
        activate_mapping = as_mapping(activate_node)
        when_node = activate_mapping.get("when") if activate_mapping is not None else None
        activate = Activate(
            when=parse_reference(when_node),
            when_value=_value(when_node),
            is_value=_value(activate_mapping.get("is")) if activate_mapping is not None else None,
            has_when=activate_mapping is not None and "when" in activate_mapping,
            has_is=activate_mapping is not None and "is" in activate_mapping,
            mapping=activate_mapping,
        )
    return FlowNode(
        name=name,
        name_range=name_range,
        range=node.range,
        index=index,
        type=string(mapping, "type"),
        source=source,
        inputs=inputs,
        connection=string(mapping, "connection"),
        api=string(mapping, "api"),
        provider=string(mapping, "provider"),
        module=string(mapping, "module"),
        activate=activate,
        # `reduce` is Prompt flow's legacy spelling of aggregation
        aggregation=boolean(mapping, "aggregation") or boolean(mapping, "reduce"),
        use_variants=boolean(mapping, "use_variants"),
        enable_cache=boolean(mapping, "enable_cache"),
        comment=string(mapping, "comment"),
        variant_of=variant_of,
        mapping=mapping,
    )


class _Budget:
    def __init__(self, limit: int):
        self.left = limit

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _node_variants(name: str, key_range: Range, node: YamlNode | None, budget: _Budget) -> NodeVariants:
    mapping = as_mapping(node)
    result = NodeVariants(
        name, key_range, default_variant_id=string(mapping, "default_variant_id"), mapping=mapping
    )
    variants_mapping = as_mapping(mapping.get("variants")) if mapping is not None else None
    if variants_mapping is None:
        return result
    for index, entry in enumerate(variants_mapping.entries):
        variant_id = entry.key_text
        if variant_id is None:
            continue
        if not budget.take():
            break
        variant_mapping = as_mapping(entry.value)
        node_yaml = variant_mapping.get("node") if variant_mapping is not None else None
        result.variants[variant_id] = Variant(
            variant_id,
            entry.key.range,
            node=parse_node(node_yaml, index, (name, variant_id)) if node_yaml is not None else None,
            description=string(variant_mapping, "description"),
            mapping=variant_mapping,
        )
    return result


def parse_flow_dag(text: str, path: Path | str = "flow.dag.yaml") -> FlowDag:
    """Parse flow.dag.yaml text. Never raises; problems found while parsing are in
    `.problems` (YAML syntax, duplicate keys, a top level that is not a mapping)."""
    document = FlowDag(Path(path), text, parse_yaml(text))
    root = top_level_mapping(
        document,
        "a flow.dag.yaml must be a mapping with `inputs`, `outputs` and `nodes`; "
        "rewrite the top level as `key: value` lines",
        "the flow is empty; add `inputs`, `outputs` and `nodes`",
    )
    if root is None:
        return document
    budget = _Budget(MAX_NODES)
    read_named_sections(
        root,
        (
            ("inputs", document.inputs, _flow_input),
            ("outputs", document.outputs, _flow_output),
            ("node_variants", document.node_variants, lambda n, r, v: _node_variants(n, r, v, budget)),
        ),
    )
    nodes_node = as_sequence(root.get("nodes"))
    if nodes_node is not None:
        for index, item in enumerate(nodes_node.items):
            if not budget.take():
                break
            flow_node = parse_node(item, index)
            document.nodes.append(flow_node)
            if flow_node.name is not None:
                document._nodes_by_name.setdefault(flow_node.name, flow_node)
    environment = plain(root, "environment")
    document.environment = environment if isinstance(environment, dict) else None
    variables = plain(root, "environment_variables")
    document.environment_variables = variables if isinstance(variables, dict) else {}
    document.additional_includes = string_list(root.get("additional_includes"))
    document.language = string(root, "language") or "python"
    if budget.left < 0:
        document.problem(
            "PW107",
            root.range if root.range.start.line == root.range.end.line else Range(root.range.start, root.range.start),
            f"the flow has more than {MAX_NODES} nodes and variants (counting YAML aliases); "
            "only the first ones were checked — split the flow",
        )
    return document
