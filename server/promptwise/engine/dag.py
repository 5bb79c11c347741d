"""Execution of `flow.dag.yaml`: llm, prompt and python nodes, activate conditions, variants,
aggregation nodes.

Semantics follow Prompt flow's executor:
- a node with `activate` runs only when the value at `when` equals `is`; it is bypassed when
  the condition differs or when the node `when` points at was itself bypassed;
- a node without `activate` is bypassed when it references nodes and all of them were bypassed;
- an input that references a bypassed node is left out when the Python parameter has a
  default, and is None otherwise (LLM/prompt templates get None); a flow output that
  references a bypassed node is None;
- aggregation nodes run once after all rows, their inputs being lists over the completed rows.
Independent nodes of a row run concurrently.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptwise.documents.files import UnreadableFile, read_user_text
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.references import Reference
from promptwise.documents.render import RUN_LIMITS, RenderError, render_messages, render_template
from promptwise.engine import spans
from promptwise.engine import streaming
from promptwise.engine.connections import Connection
from promptwise.engine.errors import FlowError, NodeError, where
from promptwise.engine.executable import (
    AggregationOutcome,
    Executable,
    LineOutcome,
    RunContext,
    elapsed_ms,
    failed_node_result,
    llm_node_result,
)
from promptwise.engine.flow_environment import Includes
from promptwise.engine.images import ImageSlots, image_variables, place_images_on_own_lines
from promptwise.engine.llm import LlmService, chat_parameters
from promptwise.engine.python_tools import PythonTool, call_tool, connection_parameter, load_tool, tool_connection
from promptwise.engine.values import bind_inputs, walk
from promptwise.store.run_store import NodeResult

# LLM node inputs that configure the call rather than fill the template.
_LLM_SETTINGS = ("connection", "deployment_name", "model", "stream")
_AZURE_PROVIDERS = ("azureopenai", "azure_openai", "azure")
# Prompt flow's built-in embedding tool, which Promptwise runs itself.
EMBEDDING_TOOLS = ("promptflow.tools.embedding.embedding",)


class _Bypassed:
    """Marks a node that did not run because of an activate condition."""


BYPASSED = _Bypassed()


@dataclass
class PreparedNode:
    node: FlowNode
    name: str
    kind: str  # llm | prompt | python
    where: str
    input_deps: set[str] = field(default_factory=set)
    activate_dep: str | None = None
    template: str | None = None
    template_path: Path | None = None
    tool: PythonTool | None = None
    connection: Connection | None = None
    connection_inputs: dict[str, Any] = field(default_factory=dict)  # tool parameters given connection objects

    @property
    def deps(self) -> set[str]:
        return self.input_deps | ({self.activate_dep} if self.activate_dep else set())


def _template_line(path: Path | None, error: RenderError) -> str:
    if path is None:
        return ""
    return f"{path}:{error.line + 1}: " if error.line is not None else f"{path}: "


class DagExecutable(Executable):
    kind = "flow_dag"

    def __init__(self, document: FlowDag, variants: dict[str, str] | None, llm: LlmService,
                 includes: Includes | None = None, models: dict[str, str] | None = None) -> None:
        """`models`: node name (or `*`, every llm node) -> the model (or Azure deployment) it calls
        instead of its own: how `eval --models` compares models on the same flow."""
        if not document.is_python:
            raise FlowError(f"{document.path}: this is a {document.language} flow; Promptwise runs Python flows "
                            f"only (run it with Prompt flow's {document.language} executor)")
        self.document = document
        self.path = document.path
        self.folder = document.path.parent
        self.includes = includes or Includes()
        self.input_specs = document.inputs
        self.variants = self._choose_variants(variants or {})
        self.models = dict(models or {})
        self.nodes: dict[str, PreparedNode] = {}
        self._chat_templates: dict[str, tuple[str, set[str]]] = {}  # llm node -> _chat_template's answer
        for flow_node in document.nodes:
            self._prepare(self._variant_node(flow_node), llm)
        self._check_model_overrides()
        self._check_references()
        self.order = self._topological_order()
        self.line_nodes = [n for n in self.order if not self.nodes[n].node.aggregation]
        self.aggregation_nodes = [n for n in self.order if self.nodes[n].node.aggregation]
        self.has_aggregation = bool(self.aggregation_nodes)
        connections = {n.connection.name: n.connection.describe() for n in self.nodes.values() if n.connection}
        self.description = {"connections": list(connections.values())} if connections else None

    # ----- preparation (everything that can fail before a row runs) -----

    def _where(self, range_) -> str:
        return where(self.path, range_)

    def _check_model_overrides(self) -> None:
        llm_nodes = [name for name, prepared in self.nodes.items() if prepared.kind == "llm"]
        for name in self.models:
            if name != "*" and name not in llm_nodes:
                raise FlowError(f"{self.path}: --node {name}: no llm node of that name (llm nodes: "
                                f"{', '.join(llm_nodes) or 'none'})")
        if self.models and not llm_nodes:
            raise FlowError(f"{self.path}: the flow has no llm node whose model could be replaced")

    def _with_model(self, prepared: PreparedNode, values: dict) -> dict:
        """The node's inputs with its model replaced when `models` says so (an Azure node names
        the deployment: the deployment is taken to carry the model's name)."""
        model = self.models.get(prepared.name) or self.models.get("*")
        if model is None or prepared.kind != "llm":
            return values
        replaced = {**values, "model": model}
        if "deployment_name" in prepared.node.inputs:
            replaced["deployment_name"] = model
        return replaced

    def _choose_variants(self, requested: dict[str, str]) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for node_name, variant_id in requested.items():
            variants = self.document.node_variants.get(node_name)
            if variants is None:
                names = ", ".join(self.document.node_variants) or "none"
                raise FlowError(f"{self.path}: --variant {node_name}={variant_id}: the flow has no variants for node "
                                f"`{node_name}` (nodes with variants: {names})")
            if variant_id not in variants.variants:
                raise FlowError(f"{self.path}: --variant {node_name}={variant_id}: unknown variant; "
                                f"choose one of {', '.join(variants.variants)}")
            chosen[node_name] = variant_id
        for flow_node in self.document.nodes:
            if flow_node.use_variants and flow_node.name and flow_node.name not in chosen:
                variants = self.document.node_variants.get(flow_node.name)
                if variants is None or not variants.variants:
                    raise FlowError(f"{self._where(flow_node.name_range)}: node `{flow_node.name}` uses variants, "
                                    f"but `node_variants` has none for it; add them or remove `use_variants`")
                chosen[flow_node.name] = variants.default_variant_id or next(iter(variants.variants))
        return chosen

    def _variant_node(self, flow_node: FlowNode) -> FlowNode:
        if not flow_node.use_variants or flow_node.name not in self.variants:
            return flow_node
        variant = self.document.node_variants[flow_node.name].variants.get(self.variants[flow_node.name])
        if variant is None or variant.node is None:
            raise FlowError(f"{self._where(flow_node.name_range)}: variant {self.variants[flow_node.name]} of "
                            f"`{flow_node.name}` has no `node`; add one")
        # A copy: documents are cached and shared with the analysis.
        return replace(variant.node, name=flow_node.name,
                       aggregation=variant.node.aggregation or flow_node.aggregation,
                       activate=variant.node.activate or flow_node.activate)

    def _prepare(self, flow_node: FlowNode, llm: LlmService) -> None:
        at = self._where(flow_node.name_range)
        if not flow_node.name:
            raise FlowError(f"{at}: a node has no `name`; give every node a unique name")
        if flow_node.name in self.nodes:
            raise FlowError(f"{at}: two nodes are named `{flow_node.name}`; rename one")
        kind = (flow_node.type or "").lower()
        source = flow_node.source
        prepared = PreparedNode(flow_node, flow_node.name, kind, at)
        for node_input in flow_node.inputs.values():
            if node_input.reference is not None and node_input.reference.is_node:
                prepared.input_deps.add(node_input.reference.name)
        if flow_node.activate is not None:
            if not flow_node.activate.has_when or not flow_node.activate.has_is:
                raise FlowError(f"{at}: `activate` needs both `when` and `is`")
            when = flow_node.activate.when
            if when is not None and when.is_node:
                prepared.activate_dep = when.name
        if kind in ("llm", "prompt", "custom_llm"):
            if source is None or not source.path:
                raise FlowError(f"{at}: {kind} node `{flow_node.name}` needs `source.path` naming its Jinja template")
            prepared.template_path = self.includes.find(self.folder, source.path)
            try:
                prepared.template = read_user_text(prepared.template_path)  # regular files, bounded
            except (OSError, UnicodeDecodeError) as error:
                why = f" ({error})" if isinstance(error, UnreadableFile) else ""
                raise FlowError(f"{at}: template {prepared.template_path} cannot be read{why}; create it or fix "
                                f"`source.path`") from None
            if kind == "custom_llm":
                tool_name = (source.tool or "").lower()
                if not any(word in tool_name for word in ("llm", "gpt", "openai", "chat")):
                    raise FlowError(f"{at}: custom_llm tool {source.tool!r} is not supported by Promptwise; "
                                    f"use an `llm` node")
                prepared.kind = "llm"
            if prepared.kind == "llm":
                values = {k: v.value for k, v in flow_node.inputs.items() if v.reference is None}
                provider = (flow_node.provider or "").lower()
                azure = "deployment_name" in flow_node.inputs or provider in _AZURE_PROVIDERS
                connection_at = self._where(flow_node.key_range("connection") or flow_node.name_range)
                prepared.connection = llm.connection(flow_node.connection or values.get("connection"),
                                                     azure_hint=azure, where=connection_at)
                values = self._with_model(prepared, values)
                if not any(flow_node.inputs.get(k) is not None and flow_node.inputs[k].reference is not None
                           for k in ("model", "deployment_name")):
                    llm.model_name(prepared.connection, values.get("model"), values.get("deployment_name"), at)
                if (flow_node.api or "chat").lower() != "chat":
                    raise FlowError(f"{at}: `api: {flow_node.api}` is not supported; use `api: chat` "
                                    f"(the completions API is retired for current models)")
        elif kind == "python" and source is not None and (source.tool or "") in EMBEDDING_TOOLS:
            prepared.kind = "embedding"
            values = {k: v.value for k, v in flow_node.inputs.items() if v.reference is None}
            azure = "deployment_name" in flow_node.inputs
            prepared.connection = llm.connection(flow_node.connection or values.get("connection"),
                                                 azure_hint=azure, where=at)
        elif kind == "python":
            if source is None:
                raise FlowError(f"{at}: python node `{flow_node.name}` needs a `source`")
            if (source.type or "code") != "code" or not source.path:
                raise FlowError(f"{at}: package tool {source.tool!r} is not available without promptflow; "
                                f"replace it with a python node whose `source.path` is your own code")
            prepared.tool = load_tool(self.includes.find(self.folder, source.path), None, at)
            for input_name, node_input in flow_node.inputs.items():
                if (node_input.reference is None and isinstance(node_input.value, str)
                        and connection_parameter(prepared.tool, input_name)):
                    prepared.connection_inputs[input_name] = self._tool_connection(
                        llm, node_input.value, self._where(node_input.key_range))
        else:
            raise FlowError(f"{at}: node `{flow_node.name}` has type {flow_node.type!r}; use llm, prompt or python")
        self.nodes[flow_node.name] = prepared

    def _tool_connection(self, llm: LlmService, name: str, at: str) -> Any:
        """A connection for a Python tool parameter: it must be defined in the workspace settings."""
        if name not in llm.resolver.specs:
            defined = ", ".join(llm.resolver.specs) or "none"
            raise FlowError(f"{at}: the tool takes connection `{name}`, which is not defined under `connections` in "
                            f"{llm.resolver.source} (defined: {defined}); add it (type: custom with secrets/configs, "
                            f"or openai/azure_openai)")
        return tool_connection(llm.connection(name, azure_hint=False, where=at))

    def _check_references(self) -> None:
        for prepared in self.nodes.values():
            for node_input in prepared.node.inputs.values():
                self._check_reference(prepared, node_input.reference)
            if prepared.node.activate is not None:
                self._check_reference(prepared, prepared.node.activate.when)
            for dep in prepared.deps:
                target = self.nodes[dep]
                if target.node.aggregation and not prepared.node.aggregation:
                    raise FlowError(f"{prepared.where}: node `{prepared.name}` reads aggregation node `{dep}`, which "
                                    f"runs once after all rows; only aggregation nodes may read it")
        for output in self.document.outputs.values():
            reference = output.reference
            if reference is not None and reference.is_node:
                target = self.nodes.get(reference.name)
                if target is None:
                    raise FlowError(f"{self._where(output.key_range)}: output `{output.name}` references unknown node "
                                    f"`{reference.name}`")
                if target.node.aggregation:
                    raise FlowError(f"{self._where(output.key_range)}: output `{output.name}` references aggregation "
                                    f"node `{reference.name}`; flow outputs are per row")
            elif reference is not None and reference.name not in self.document.inputs:
                raise FlowError(f"{self._where(output.key_range)}: output `{output.name}` references unknown input "
                                f"`{reference.name}`")

    def _check_reference(self, prepared: PreparedNode, reference: Reference | None) -> None:
        if reference is None:
            return
        if reference.is_flow_input:
            if reference.name not in self.document.inputs:
                raise FlowError(f"{self._where(reference.range)}: `{reference.text}` names no flow input; declare "
                                f"`{reference.name}` under `inputs` or fix the name")
        elif reference.name not in self.nodes:
            raise FlowError(f"{self._where(reference.range)}: `{reference.text}` names no node; known nodes: "
                            f"{', '.join(self.nodes)}")
        elif reference.node_section != "output":
            raise FlowError(f"{self._where(reference.range)}: `{reference.text}`: write `${{{reference.name}.output}}`"
                            f" (nodes only have `output`)")

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = trail[trail.index(name):] + [name]
                raise FlowError(f"{self.nodes[name].where}: nodes form a cycle ({' -> '.join(cycle)}); "
                                f"break it so the flow can run")
            state[name] = 1
            for dep in sorted(self.nodes[name].deps):
                visit(dep, trail + [name])
            state[name] = 2
            order.append(name)

        for name in self.nodes:
            visit(name, [])
        return order

    # ----- running -----

    def bind(self, given: dict) -> dict:
        return bind_inputs(self.document.inputs, given, str(self.path))

    def sample_inputs(self) -> dict:
        return {name: spec.default for name, spec in self.document.inputs.items() if spec.has_default}

    def _value(self, reference: Reference | None, literal: Any, inputs: dict, outputs: dict) -> Any:
        if reference is None:
            return literal
        if reference.is_flow_input:
            return inputs.get(reference.name)
        value = outputs[reference.name]
        if value is BYPASSED:
            return BYPASSED
        return walk(value, reference.path, reference.text)

    def _is_bypassed(self, prepared: PreparedNode, inputs: dict, outputs: dict) -> bool:
        activate = prepared.node.activate
        if activate is not None:
            if prepared.activate_dep and outputs.get(prepared.activate_dep) is BYPASSED:
                return True
            value = self._value(activate.when, activate.when_value, inputs, outputs)
            return value != activate.is_value
        deps = prepared.input_deps
        return bool(deps) and all(outputs.get(dep) is BYPASSED for dep in deps)

    def _node_inputs(self, prepared: PreparedNode, inputs: dict, outputs: dict) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, node_input in prepared.node.inputs.items():
            value = self._value(node_input.reference, node_input.value, inputs, outputs)
            if value is BYPASSED:
                if prepared.tool is not None and prepared.tool.has_default(name):
                    continue  # the parameter's default applies, as in Prompt flow
                value = None
            values[name] = value
        values.update(prepared.connection_inputs)
        return self._with_model(prepared, values)

    async def _execute(self, prepared: PreparedNode, values: dict, context: RunContext,
                       metrics: dict | None = None) -> NodeResult:
        started = time.perf_counter()
        if prepared.kind == "python":
            output = await call_tool(prepared.tool, values, context.executor, context.instances, metrics)
            return NodeResult(prepared.name, "completed", output, latency_ms=elapsed_ms(started))
        if prepared.kind == "embedding":
            llm = context.llm
            model = llm.model_name(prepared.connection, values.get("model"), values.get("deployment_name"),
                                   prepared.where)
            result, cost = await llm.embed(prepared.connection, model, values.get("input"))
            return NodeResult(prepared.name, "completed", result.embedding, model=model,
                              prompt_tokens=result.usage.prompt_tokens, total_tokens=result.usage.prompt_tokens,
                              cost=cost, latency_ms=result.latency_ms, attempts=result.attempts)
        variables = {k: v for k, v in values.items() if k not in _LLM_SETTINGS}
        if prepared.kind == "prompt":
            try:
                text = render_template(prepared.template, variables, limits=RUN_LIMITS)
            except RenderError as error:
                raise NodeError(f"{_template_line(prepared.template_path, error)}{error.message}") from None
            return NodeResult(prepared.name, "completed", text, latency_ms=elapsed_ms(started))
        template_path = prepared.template_path
        if "prompt" in variables:
            # the llm tool's `prompt` parameter: an input of that name replaces the template file
            template_path = None
            template, image_names = self._chat_template(prepared, str(variables.pop("prompt") or ""))
        else:
            template, image_names = self._chat_templates.get(prepared.name) or self._chat_template(prepared)
        params = chat_parameters(variables)
        variables = {k: v for k, v in variables.items() if k not in params}
        detail = str(variables.pop("detail", None) or "auto")  # the vision tool's image detail
        images = ImageSlots()
        variables = images.swap(variables, self.folder, image_names)
        try:
            messages = images.attach(render_messages(template, variables, limits=RUN_LIMITS), detail)
        except RenderError as error:
            where = _template_line(template_path, error) if template_path else f"{prepared.where}: input `prompt`: "
            raise NodeError(f"{where}{error.message}") from None
        llm = context.llm
        model = llm.model_name(prepared.connection, values.get("model"), values.get("deployment_name"),
                               prepared.where)
        streaming.current_node.set(prepared.name)  # a served stream picks its node's call (engine/streaming.py)
        call = await llm.chat(prepared.connection, model, messages, params)
        message = call.result.message
        output = message if message.get("tool_calls") else message.get("content")
        return llm_node_result(prepared.name, call, output)

    def _chat_template(self, prepared: PreparedNode, given: str | None = None) -> tuple[str, set[str]]:
        """An llm node's template as rendered (images on lines of their own) and the variables
        that may hold images: worked out once per node, not per row (per row only for a
        template given as the `prompt` input)."""
        source = prepared.template if given is None else given
        found = (place_images_on_own_lines(source), image_variables(source) | self._image_inputs(prepared))
        if given is None:
            self._chat_templates[prepared.name] = found
        return found

    def _image_inputs(self, prepared: PreparedNode) -> set[str]:
        """Node inputs fed by flow inputs declared `type: image`."""
        names = set()
        for name, node_input in prepared.node.inputs.items():
            reference = node_input.reference
            if reference is not None and reference.is_flow_input and not reference.path:
                spec = self.document.inputs.get(reference.name)
                if spec is not None and (spec.type or "").lower() == "image":
                    names.add(name)
        return names

    async def run_line(self, inputs: dict, context: RunContext) -> LineOutcome:
        started = time.perf_counter()
        outputs: dict[str, Any] = {}
        results: dict[str, NodeResult] = {}
        # Events only where a node waits for another: a one-node flow needs none.
        done: dict[str, asyncio.Event] = ({name: asyncio.Event() for name in self.line_nodes}
                                          if len(self.line_nodes) > 1 else {})
        failed: list[str] = []
        kinds: dict[str, NodeError] = {}  # the failed nodes' errors: their kind and asked-for wait

        async def run(name: str) -> None:
            prepared = self.nodes[name]
            try:
                for dep in prepared.deps:
                    await done[dep].wait()
                blocked = [dep for dep in prepared.deps if dep in failed or dep not in outputs]
                if blocked:
                    results[name] = NodeResult(name, "skipped", error=f"not run: `{blocked[0]}` failed")
                    failed.append(name)
                    return
                if self._is_bypassed(prepared, inputs, outputs):
                    outputs[name] = BYPASSED
                    results[name] = NodeResult(name, "skipped")
                    return
                values = self._node_inputs(prepared, inputs, outputs)
                with spans.node_span(name, prepared.kind, values) as span:
                    result = await self._execute(prepared, values, context)
                    spans.node_output(span, result.output)
                outputs[name] = result.output
                results[name] = result
            except NodeError as error:
                results[name] = failed_node_result(name, f"{prepared.where}: node `{name}`: {error}", error)
                kinds[name] = error
                failed.append(name)
            except Exception as error:  # a bug of ours must fail the row, not the run
                results[name] = NodeResult(name, "failed", error=f"{prepared.where}: node `{name}`: internal error "
                                                                  f"({type(error).__name__}: {error})")
                failed.append(name)
            finally:
                if done:
                    done[name].set()

        if len(self.line_nodes) == 1:
            await run(self.line_nodes[0])  # in this task: gather would cost a task per row
        else:
            await asyncio.gather(*(run(name) for name in self.line_nodes))
        nodes = [results[name] for name in self.line_nodes]
        errors = [r for r in nodes if r.status == "failed"]
        if errors:
            failure = kinds.get(errors[0].node)
            return LineOutcome("failed", None, errors[0].error, nodes, elapsed_ms(started), outputs,
                               failure.kind if failure else None, failure.retry_after if failure else None)
        try:
            flow_outputs = {name: self._output(output, inputs, outputs) for name, output in
                            self.document.outputs.items()}
        except NodeError as error:
            return LineOutcome("failed", None, f"{self.path}: {error}", nodes, elapsed_ms(started), outputs)
        node_outputs = {k: (None if v is BYPASSED else v) for k, v in outputs.items()}
        return LineOutcome("completed", flow_outputs, None, nodes, elapsed_ms(started), node_outputs)

    def _output(self, output, inputs: dict, outputs: dict) -> Any:
        value = self._value(output.reference, output.reference_text, inputs, outputs)
        return None if value is BYPASSED else value

    async def run_aggregation(self, lines: list[tuple[dict, dict]], context: RunContext) -> AggregationOutcome:
        """Aggregation nodes once, over the completed rows: (inputs, node outputs) per row."""
        metrics: dict = {}
        outputs: dict[str, Any] = {}
        results: list[NodeResult] = []
        error_text = None
        for name in self.aggregation_nodes:
            prepared = self.nodes[name]
            values: dict[str, Any] = {}
            for input_name, node_input in prepared.node.inputs.items():
                reference = node_input.reference
                if reference is None:
                    values[input_name] = node_input.value
                elif reference.is_node and self.nodes[reference.name].node.aggregation:
                    values[input_name] = self._value(reference, None, {}, outputs)
                elif reference.is_flow_input:
                    values[input_name] = [row_inputs.get(reference.name) for row_inputs, _ in lines]
                else:
                    column = []
                    for _, row_outputs in lines:
                        value = row_outputs.get(reference.name)
                        try:
                            column.append(walk(value, reference.path, reference.text) if value is not None else None)
                        except NodeError:
                            column.append(None)
                    values[input_name] = column
            try:
                with spans.node_span(name, prepared.kind, values) as span:
                    result = await self._execute(prepared, values, context, metrics)
                    spans.node_output(span, result.output)
                outputs[name] = result.output
            except NodeError as error:
                result = failed_node_result(name, f"{prepared.where}: node `{name}`: {error}", error)
                error_text = error_text or result.error
                outputs[name] = None
            results.append(result)
        return AggregationOutcome(results, metrics, error_text)
