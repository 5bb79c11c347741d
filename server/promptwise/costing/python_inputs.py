"""Running a flow's python nodes that come before any model call, for `estimate --run-python`.

A prompt often includes what a python node produced (a taxonomy, retrieved passages): a
static estimate cannot know it and counts it as empty. With `--run-python` the estimate runs
the python nodes that depend on no llm node (directly or through other nodes), with the
engine's own tool loader and caller, so their outputs render into the prompts exactly as in
a run. Opt-in, because tools may have side effects or call paid services; llm nodes are
never called. A node that fails is reported (file, line from the engine's error) and its
dependants' values stay unknown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Mapping

from promptwise.documents.flow_dag import FlowDag, FlowNode

MODEL_NODE_TYPES = ("llm", "custom_llm", "prompt")


@dataclass
class PythonNodeRunner:
    flow: FlowDag
    nodes: list[FlowNode] = field(default_factory=list)  # runnable, in dependency order
    load_errors: dict[str, str] = field(default_factory=dict)
    _tools: dict[str, Any] = field(default_factory=dict, repr=False)
    _instances: dict = field(default_factory=dict, repr=False)
    _pool: Any = field(default=None, repr=False)  # the sync tools' worker thread

    @classmethod
    def for_flow(cls, flow: FlowDag) -> "PythonNodeRunner":
        runner = cls(flow)
        runner.nodes = pre_model_python_nodes(flow)
        from promptwise.engine.errors import FlowError
        from promptwise.engine.python_tools import load_tool

        for node in runner.nodes:
            path = node.source_file(flow.folder)
            try:
                runner._tools[node.name] = load_tool(path, None, f"{flow.path}:{node.name_range.start.line + 1}")
            except FlowError as error:
                runner.load_errors[node.name] = str(error)
            except Exception as error:  # importing user code can raise anything
                runner.load_errors[node.name] = f"{path}: cannot import the tool ({type(error).__name__}: {error})"
        return runner

    def _executor(self):
        """Our own worker thread for sync tools: asyncio.run's default executor is joined when the
        run ends, so a tool that never returns would make Ctrl-C wait for it forever."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptwise-estimate-tool")
        return self._pool

    def outputs_for(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The runnable nodes' outputs for one row, and errors ("node: why") for those that failed."""
        from promptwise.engine.errors import NodeError
        from promptwise.engine.python_tools import call_tool
        from promptwise.engine.values import walk

        outputs: dict[str, Any] = {}
        errors: list[str] = []
        for node in self.nodes:
            if node.name in self.load_errors:
                errors.append(f"{node.name}: {self.load_errors[node.name]}")
                continue
            kwargs: dict[str, Any] = {}
            missing = None
            for name, node_input in node.inputs.items():
                reference = node_input.reference
                if reference is None:
                    kwargs[name] = node_input.value
                elif reference.is_flow_input:
                    kwargs[name] = inputs.get(reference.name)
                elif reference.name in outputs:
                    try:
                        kwargs[name] = walk(outputs[reference.name], reference.path, reference.text)
                    except NodeError as error:
                        missing = f"{reference.name} ({error})"
                else:
                    missing = reference.name
            if missing is not None:
                errors.append(f"{node.name}: not run, its input from {missing} is unknown")
                continue
            try:
                outputs[node.name] = asyncio.run(call_tool(self._tools[node.name], kwargs, self._executor(),
                                                           self._instances))
            except Exception as error:  # a tool failing on one row must not stop the estimate
                errors.append(f"{node.name}: {error}")
        return outputs, errors


def pre_model_python_nodes(flow: FlowDag) -> list[FlowNode]:
    """Python nodes that depend on no model node, in an order where dependencies come first."""
    by_name = {node.name: node for node in flow.nodes if node.name}
    state: dict[str, bool] = {}  # name -> runnable

    def runnable(name: str, trail: frozenset[str] = frozenset()) -> bool:
        if name in state:
            return state[name]
        node = by_name.get(name)
        if node is None or name in trail or (node.type or "").lower() != "python" or node.use_variants:
            state[name] = False
            return False
        source = node.source
        ok = source is not None and bool(source.path) and (source.type or "code") == "code"
        for _, reference in node.references():
            if reference.is_node and not runnable(reference.name, trail | {name}):
                ok = False
        state[name] = ok
        return ok

    ordered: list[FlowNode] = []
    placed: set[str] = set()

    def place(node: FlowNode) -> None:
        if node.name in placed:
            return
        for _, reference in node.references():
            if reference.is_node and reference.name in by_name:
                place(by_name[reference.name])
        placed.add(node.name)
        ordered.append(node)

    for node in flow.nodes:
        if node.name and runnable(node.name):
            place(node)
    return [node for node in ordered if state.get(node.name)]
