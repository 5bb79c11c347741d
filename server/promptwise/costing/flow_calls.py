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
from typing import Any, Callable, Mapping

import jinja2

from promptwise.costing.calls import PlannedCall
from promptwise.documents.files import read_user_text
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
    value): the placeholder the estimate renders, and says so. It renders as nothing and
    tolerates what templates do with real values (attributes, indexing, `.items()`, loops,
    filters, arithmetic, comparisons, number formatting such as `"%.2f" | format(x)` or
    `"{:.1f}".format(x)`, which render it as 0), so the rest of the prompt can still be counted."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> "UnknownValue":
        return self

    def _stays_unknown(self, *args: Any, **kwargs: Any) -> "UnknownValue":
        return self

    # Arithmetic on an unknown value gives an unknown value (Undefined would raise).
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _stays_unknown
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _stays_unknown
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = __round__ = _stays_unknown

    def _unordered(self, other: Any) -> bool:
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _unordered

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __complex__(self) -> complex:
        return 0j

    def __format__(self, spec: str) -> str:
        if not spec:
            return ""
        try:
            return format("", spec)
        except ValueError:  # a number format such as ".2f": the placeholder is 0
            return format(0, spec)


class EmptyText(str):
    """The second placeholder for an unknown value: real (empty) text, for filters that need a
    real value (`tojson` serializes it as ""), yet as tolerant as `UnknownValue` of attributes,
    calls, indexing, arithmetic, comparisons and number formatting."""

    __slots__ = ()

    def __getattr__(self, name: str) -> "EmptyText":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> "EmptyText":
        return self

    def __getitem__(self, key: Any) -> "EmptyText":
        return self

    def _stays_empty(self, *args: Any, **kwargs: Any) -> "EmptyText":
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _stays_empty
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _stays_empty
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = __round__ = _stays_empty
    __lt__ = __le__ = __gt__ = __ge__ = UnknownValue._unordered
    __int__, __float__, __complex__ = UnknownValue.__int__, UnknownValue.__float__, UnknownValue.__complex__
    __format__ = UnknownValue.__format__
    __hash__ = str.__hash__


def render_with_placeholders(text: str, variables: Mapping[str, Any], **options: Any) -> list[dict]:
    """`render_messages`, with `UnknownValue` placeholders for values unknown before a run.

    Some filters cannot take a placeholder object at all (`tojson` of an unknown node output):
    then the unknown values are rendered again as `EmptyText`. A template that fails either
    way raises the first RenderError (its line is in the template)."""
    try:
        return render_messages(text, dict(variables), **options)
    except RenderError as first:
        if not any(isinstance(value, UnknownValue) for value in variables.values()):
            raise
        as_text = {name: EmptyText() if isinstance(value, UnknownValue) else value
                   for name, value in variables.items()}
        try:
            return render_messages(text, as_text, **options)
        except RenderError:
            raise first from None


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
    max_tokens_range: Range | None = None  # where max_tokens is set, for PW706

    @property
    def error_where(self) -> str:
        """`ask.jinja2:4` (the template line of a render error), else the template or node."""
        if self.template is not None:
            return f"{self.template}:{self.error_line + 1}" if self.error_line is not None else str(self.template)
        return self.node


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
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        try:
            return int(value.strip()) or None
        except ValueError:  # more than 4,300 digits, or digits int() does not take ('²')
            return None
    return None


def max_tokens_setting(parameters: Mapping[str, Any], texts: Mapping[str, str] | None = None
                       ) -> tuple[int | None, str | None]:
    """(max_tokens as a positive whole number, or None; why it is unusable, or None).

    `max_completion_tokens` wins over `max_tokens`, as in the API. `texts` gives how a value was
    written (e.g. `${inputs.n}`) for the message."""
    for key in ("max_completion_tokens", "max_tokens"):
        if key not in parameters or parameters[key] is None:
            continue
        value = parameters[key]
        number = _positive_int(value)
        if number is not None:
            return number, None
        written = (texts or {}).get(key)
        if isinstance(value, UnknownValue):
            return None, f"{key} comes from {written or 'a value'} that has no value before a run"
        shown = written if written is not None else repr(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None, f"{key} {shown} is not a positive whole number"
        return None, f"{key} {shown} is not a number"
    return None, None


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
    prompt = parameters.get("prompt") if node.type in ("llm", "custom_llm") else None
    # the llm tool's `prompt` input replaces the template file (Prompt flow passes it over it)
    text = prompt if isinstance(prompt, str) else _read(template, overlay)
    if text is None:
        result.error = f"cannot read the prompt template {template}"
        return result
    result.sections = _role_sections(text)
    try:
        messages = _render_remembered(text, variables)
    except RenderError as error:
        result.error, result.error_line = error.message, error.line
        return result
    model = parameters.get("deployment_name") or parameters.get("model")
    if isinstance(model, UnknownValue):
        model = None
    tools = parameters.get("tools")
    written = {key: _written(node.inputs[key]) for key in ("max_tokens", "max_completion_tokens")
               if key in node.inputs}
    max_tokens, max_tokens_problem = max_tokens_setting(parameters, written)
    for key in ("max_completion_tokens", "max_tokens"):
        if key in node.inputs:
            result.max_tokens_range = node.inputs[key].value_range
            break
    result.call = PlannedCall(
        messages=messages,
        model=str(model) if model else None,
        max_tokens=max_tokens,
        tools=tools if isinstance(tools, list) else None,
        response_format=parameters.get("response_format"),
        azure=("deployment_name" in node.inputs or (node.provider or "").lower() in _AZURE_PROVIDERS
               or node.connection in azure_connections),
        max_tokens_problem=max_tokens_problem,
    )
    return result


# Renders and template files remembered across nodes and edits: a flow's llm nodes often
# share one template and the same inputs, and an edit of the flow changes neither; rendering
# each node again on every keystroke was most of the cost checker's time. Bounded: cleared
# when full (the entries of one flow are few).
_MEMO_LIMIT = 512
_RENDERED: dict[tuple, list[dict]] = {}
_FILES: dict[tuple, str] = {}
_SECTIONS: dict[str, list[RoleSection]] = {}


def _role_sections(text: str) -> list[RoleSection]:
    """`find_role_sections`, remembered by template text (sections are frozen)."""
    sections = _SECTIONS.get(text)
    if sections is None:
        sections = find_role_sections(text)
        if len(_SECTIONS) >= _MEMO_LIMIT:
            _SECTIONS.clear()
        _SECTIONS[text] = sections
    return list(sections)


def _value_key(value: Any) -> Any:
    """A hashable stand-in for a template variable, or a _NO_KEY when it has none."""
    if isinstance(value, UnknownValue):
        return ("unknown", value._undefined_name)
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    return _NO_KEY


_NO_KEY = object()


def _render_remembered(text: str, variables: Mapping[str, Any]) -> list[dict]:
    """`render_with_placeholders`, remembered by (template text, variables) when every
    variable is a plain value (a dict or list from a row is rendered each time)."""
    keys = tuple((name, _value_key(value)) for name, value in variables.items())
    if any(key is _NO_KEY for _, key in keys):
        return render_with_placeholders(text, variables)
    memo_key = (text, keys)
    messages = _RENDERED.get(memo_key)
    if messages is None:
        messages = render_with_placeholders(text, variables)
        if len(_RENDERED) >= _MEMO_LIMIT:
            _RENDERED.clear()
        _RENDERED[memo_key] = messages
    return [dict(message) for message in messages]  # callers get their own dicts


def _written(node_input: Any) -> str:
    """How a node input's value reads in the flow (`${inputs.n}`, `lots`)."""
    if node_input.reference is not None:
        return node_input.reference.text
    value = node_input.value
    return repr(value) if isinstance(value, str) else str(value)


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
        stat = os.stat(path)
        stamp = (os.fspath(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        text = _FILES.get(stamp)
        if text is None:
            text = read_user_text(path)  # regular files only, bounded: not /dev/zero or a FIFO
            if len(_FILES) >= _MEMO_LIMIT:
                _FILES.clear()
            _FILES[stamp] = text
        return text
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def azure_connection_names(connections: Mapping[str, Any]) -> frozenset[str]:
    """Names of the workspace's Azure OpenAI connections (their model names are deployments)."""
    return frozenset(name for name, spec in connections.items() if isinstance(spec, Mapping) and _is_azure(spec))


def _is_azure(spec: Mapping) -> bool:
    """`type: azure_openai` (or Prompt flow's `azure_open_ai`), or Prompt flow's `api_type: azure` without a type."""
    kind = str(spec.get("type") or ("azure" if str(spec.get("api_type", "")).lower() == "azure" else ""))
    return kind.lower().replace("-", "_") in ("azure_openai", "azure_open_ai", "azure", "azureopenai")


# ---------------------------------------------------------------- activate conditions

def activate_condition(node: FlowNode) -> str | None:
    """`${classify.output.category} is 'new'`: the node's `activate` condition, readably."""
    activate = node.activate
    if activate is None:
        return None
    when = activate.when.text if activate.when is not None else repr(activate.when_value)
    return f"{when} is {activate.is_value!r}"


def node_runs(flow: FlowDag, node: FlowNode, inputs: Mapping[str, Any],
              node_outputs: Mapping[str, Any] | None = None) -> bool | None:
    """Whether `node` runs for these (bound) flow inputs: True, False (bypassed by an
    `activate` condition, its own or, as in the engine, all of its upstream nodes'), or None
    when that depends on a node output not known before a run. For several nodes of one row,
    `run_states` answers them all with one walk of the graph."""
    return run_states(flow, inputs, node_outputs)(node)


def run_states(flow: FlowDag, inputs: Mapping[str, Any],
               node_outputs: Mapping[str, Any] | None = None) -> Callable[[FlowNode], bool | None]:
    """`node_runs` for every node of one row: each node's state is worked out once and shared,
    so asking for all nodes costs one pass over the graph, not one per node.

    The engine's rule (promptwise.engine.dag `_is_bypassed`): a node with `activate` runs when
    its `when` value equals `is` (and the node `when` reads was not bypassed); a node without
    one is bypassed when every node it reads from was bypassed."""
    by_name = {candidate.name: candidate for candidate in flow.nodes if candidate.name}
    memo: dict[str, bool | None] = {}
    visiting: set[str] = set()  # the nodes on the current path, to stop at a cycle

    def state(current: FlowNode) -> bool | None:
        key = current.name or ""
        if key in memo:
            return memo[key]
        if key in visiting:  # a cycle is the analysis' problem; say "unknown" here
            return None
        visiting.add(key)
        try:
            result = _state_of(current)
        finally:
            visiting.discard(key)
        memo[key] = result
        return result

    def _state_of(current: FlowNode) -> bool | None:
        activate = current.activate
        if activate is not None:
            when = activate.when
            if when is not None and when.is_node:
                upstream = by_name.get(when.name)
                if upstream is not None and state(upstream) is False:
                    return False
                if node_outputs is not None and when.name in node_outputs:
                    try:
                        return _follow(node_outputs[when.name], when.path, when.text) == activate.is_value
                    except Exception:  # the output lacks the key: the run would fail, not skip
                        return None
                return None
            if when is not None and when.is_flow_input:
                # the engine reads a flow input whole, as here
                return inputs.get(when.name) == activate.is_value
            return activate.when_value == activate.is_value
        upstream_states = [state(by_name[reference.name]) for reference in
                           (node_input.reference for node_input in current.inputs.values())
                           if reference is not None and reference.is_node and reference.name in by_name]
        if not upstream_states or any(s is True for s in upstream_states):
            return True
        if all(s is False for s in upstream_states):
            return False
        return None

    return state
