"""The LLM calls a flow.dag.yaml would make for one set of inputs, rendered for counting.

Prompt flow's llm tool (`promptflow-tools` `chat`) takes its request parameters
(model/deployment_name, max_tokens, temperature, tools, response_format, ...) from the
node's inputs and renders the prompt template with every other input. We do the same, with
H1's document model and `promptwise.documents.render.render_messages`:

- `${inputs.x}` (or legacy `${flow.x}`) takes the row's value, else the input's default;
- `${node.output...}` of another node is not known before a run: that variable is an
  `UnknownValue` (renders empty, tolerates `.items()`, loops, ...) and is listed in
  `unknown_inputs`, so the count is a stated lower bound;
- a node with `use_variants` uses the chosen variant (default: the flow's default variant).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jinja2

from promptwise.costing.calls import PlannedCall
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.render import RenderError, RoleSection, find_role_sections, render_messages
from promptwise.documents.source import Range

# Inputs of an llm node that are request settings, not template variables: the same split
# the engine makes (promptwise.engine: its node settings plus providers.CHAT_PARAMETERS),
# so an estimate renders exactly what a run sends. A test keeps the two in step.
LLM_PARAMETERS = frozenset({
    "connection", "deployment_name", "model", "stream",
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
    "frequency_penalty", "logit_bias", "response_format", "seed", "tools", "tool_choice", "n", "user",
    "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort",
})

LLM_NODE_TYPES = ("llm",)
# As in the engine: a custom_llm node whose tool is an LLM/chat tool runs as an llm node, and
# an AzureOpenAI provider (or a deployment_name input) means an Azure deployment name.
_CUSTOM_LLM_TOOL_WORDS = ("llm", "gpt", "openai", "chat")
_AZURE_PROVIDERS = ("azureopenai", "azure_openai", "azure")


def is_llm_node(node: FlowNode) -> bool:
    kind = (node.type or "").lower()
    if kind in LLM_NODE_TYPES:
        return True
    tool = ((node.source.tool if node.source else None) or "").lower()
    return kind == "custom_llm" and any(word in tool for word in _CUSTOM_LLM_TOOL_WORDS)


class UnknownValue(jinja2.ChainableUndefined):
    """Stands in for a value known only at run time (another node's output, an input with no
    value). It renders as nothing and tolerates what templates do with real values (attributes,
    indexing, `.items()`, loops, filters), so the rest of the prompt can still be counted."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> "UnknownValue":
        return self


@dataclass
class NodeCall:
    """One llm node's request for one input row (or why it could not be rendered)."""

    node: str
    range: Range  # the node in flow.dag.yaml (where its lens goes)
    template: Path | None
    call: PlannedCall | None
    error: str | None = None
    error_line: int | None = None  # 0-based line in the template
    unknown_inputs: list[str] = field(default_factory=list)  # "taxonomy (from load_taxonomy)"
    sections: list[RoleSection] = field(default_factory=list)
    variant: str | None = None


def llm_nodes(flow: FlowDag, variants: Mapping[str, str] | None = None) -> list[tuple[FlowNode, str | None]]:
    """The llm nodes a run would execute, with the variant chosen for each (or None)."""
    variants = variants or {}
    chosen: list[tuple[FlowNode, str | None]] = []
    for node in flow.nodes:
        if node.use_variants and node.name in flow.node_variants:
            group = flow.node_variants[node.name]
            variant_id = variants.get(node.name) or group.default_variant_id
            variant = group.variants.get(variant_id or "")
            if variant is not None and variant.node is not None:
                if is_llm_node(variant.node):
                    chosen.append((variant.node, variant_id))
                continue
        if is_llm_node(node):
            chosen.append((node, None))
    return chosen


def flow_input_values(flow: FlowDag, row: Mapping[str, Any] | None) -> dict[str, Any]:
    """The flow's inputs for a row: the row's value, else the input's default."""
    values = {name: item.default for name, item in flow.inputs.items() if item.has_default}
    if row:
        values.update({key: value for key, value in row.items() if key in flow.inputs or not flow.inputs})
    return values


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def node_call(flow: FlowDag, node: FlowNode, inputs: Mapping[str, Any], *,
              azure_connections: frozenset[str] = frozenset(), overlay: Mapping[Path, str] | None = None,
              variant: str | None = None, node_outputs: Mapping[str, Any] | None = None) -> NodeCall:
    """Render `node`'s prompt for the flow `inputs` as the llm tool would."""
    name = node.name or f"nodes[{node.index}]"
    template = node.source_file(flow.folder)
    result = NodeCall(name, node.range, template, None, variant=variant)
    parameters: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for input_name, node_input in node.inputs.items():
        reference = node_input.reference
        if reference is None:
            value = node_input.value
        elif reference.is_flow_input:
            if reference.name in inputs:
                value = inputs[reference.name]
            else:
                result.unknown_inputs.append(f"{input_name} (flow input {reference.name} has no value or default)")
                value = UnknownValue(name=input_name)
        elif node_outputs is not None and reference.name in node_outputs:
            try:
                value = _follow(node_outputs[reference.name], reference.path, reference.text)
            except Exception as error:  # the engine's NodeError: a key the output lacks
                result.unknown_inputs.append(f"{input_name} (from {reference.name}: {error})")
                value = UnknownValue(name=input_name)
        else:
            result.unknown_inputs.append(f"{input_name} (from {reference.name})")
            value = UnknownValue(name=input_name)
        (parameters if input_name in LLM_PARAMETERS else variables)[input_name] = value
    if template is None:
        result.error = "the node has no `source.path` prompt template"
        return result
    text = _read(template, overlay)
    if text is None:
        result.error = f"cannot read the prompt template {template}"
        return result
    result.sections = find_role_sections(text)
    try:
        messages = render_messages(text, variables)
    except RenderError as error:
        result.error, result.error_line = error.message, error.line
        return result
    model = parameters.get("deployment_name") or parameters.get("model")
    tools = parameters.get("tools")
    result.call = PlannedCall(
        messages=messages,
        model=str(model) if model else None,
        max_tokens=_positive_int(parameters.get("max_completion_tokens") or parameters.get("max_tokens")),
        tools=tools if isinstance(tools, list) else None,
        response_format=parameters.get("response_format"),
        azure=("deployment_name" in node.inputs or (node.provider or "").lower() in _AZURE_PROVIDERS
               or node.connection in azure_connections),
    )
    return result


def _follow(value: Any, path: tuple[str, ...], text: str) -> Any:
    """Into a node's output along `.key` parts, with the engine's own rule (dict keys, list
    indexes, attributes)."""
    from promptwise.engine.values import walk

    return walk(value, path, text)


def normalize_path(path: Path | str) -> Path:
    """Absolute and `..`-free, without touching the disk: how overlay keys are compared."""
    return Path(os.path.normpath(os.path.abspath(path)))


def normalize_overlay(overlay: Mapping[Any, str] | None) -> dict[Path, str]:
    return {normalize_path(key): text for key, text in (overlay or {}).items()}


def _read(path: Path, overlay: Mapping[Path, str] | None) -> str | None:
    """The editor's unsaved text of `path` (overlay keys normalized), else the file's."""
    if overlay:
        text = overlay.get(normalize_path(path))
        if text is not None:
            return text
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def azure_connection_names(connections: Mapping[str, Any]) -> frozenset[str]:
    """Names of the workspace's Azure OpenAI connections (their model names are deployments)."""
    return frozenset(name for name, spec in connections.items()
                     if isinstance(spec, Mapping) and str(spec.get("type", "")).lower() in ("azure_openai", "azure"))
