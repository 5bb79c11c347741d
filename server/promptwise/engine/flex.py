"""Execution of `flow.flex.yaml`: a function entry, or a class entry created once per run with
its `init` values, called per row; a class's `__aggregate__(line_results)` runs once after
all rows and its returned mapping becomes the run's metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from typing import Any

from promptwise.documents.flex_flow import FlexFlow
from promptwise.documents.flow_dag import FlowInput
from promptwise.documents.source import Range
from promptwise.engine import inline
from promptwise.engine.errors import FlowError, NodeError
from promptwise.engine.flow_environment import Includes
from promptwise.engine.executable import AggregationOutcome, Executable, LineOutcome, RunContext, elapsed_ms
from promptwise.engine.inline import InlineRun
from promptwise.engine.python_tools import PythonTool, _describe, call_tool, import_file
from promptwise.engine.values import bind_inputs, load_sample
from promptwise.store.run_store import NodeResult


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):  # pydantic
        return value.model_dump()
    return value


def _numbered(nodes: list[NodeResult]) -> list[NodeResult]:
    """Node names are unique per row in the store: a prompty called twice becomes name, name#2."""
    seen: dict[str, int] = {}
    for node in nodes:
        count = seen[node.node] = seen.get(node.node, 0) + 1
        if count > 1:
            node.node = f"{node.node}#{count}"
    return nodes


def _model_configuration(annotation: Any, value: Any) -> Any:
    """Turn an init mapping into the model-configuration object the parameter is annotated with."""
    name = getattr(annotation, "__name__", str(annotation))
    if isinstance(value, dict) and name in ("AzureOpenAIModelConfiguration", "OpenAIModelConfiguration"):
        try:
            return annotation(**value)
        except TypeError:
            return value
    return value



# Annotations of an entry's parameters, as the input types Prompt flow derives from them.
_ANNOTATION_TYPES = {str: "string", int: "int", float: "double", bool: "bool", list: "list", dict: "object"}


def _signature_inputs(parameters: dict[str, inspect.Parameter]) -> dict[str, FlowInput]:
    """Inputs of an entry whose flow.flex.yaml declares none: its named parameters."""
    specs: dict[str, FlowInput] = {}
    for name, parameter in parameters.items():
        if parameter.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            continue
        annotation = parameter.annotation
        kind = _ANNOTATION_TYPES.get(getattr(annotation, "__origin__", annotation))
        has_default = parameter.default is not inspect.Parameter.empty
        specs[name] = FlowInput(name, Range.empty(0, 0), type=kind,
                                default=parameter.default if has_default else None, has_default=has_default)
    return specs


def _check_given_init(document: FlexFlow, init: dict, is_class: bool, at: str) -> None:
    """`--init NAME=VALUE` values: only a class entry takes them, only the names `init:` declares
    (when it declares any), and every declared one without a default must be given."""
    declared = dict(document.init or {})
    if not is_class:
        raise FlowError(f"{at}: --init {', '.join(init)}: the entry {document.entry} is a function, which takes no "
                        "init values; pass its inputs with --inputs (or data columns) instead")
    if declared:
        unknown = [name for name in init if name not in declared]
        if unknown:
            raise FlowError(f"{at}: --init {unknown[0]}: the flow declares no init value `{unknown[0]}` "
                            f"(init: {', '.join(f'`{n}`' for n in declared)})")
    for name, spec in declared.items():
        if name not in init and not getattr(spec, "has_default", False):
            raise FlowError(f"{at}: init value `{name}` has no value and no default; pass it too with "
                            f"--init {name}=... (giving --init replaces the flow's sample init)")

class FlexExecutable(Executable):
    kind = "flex_flow"

    def __init__(self, document: FlexFlow, init: dict | None = None, includes: Includes | None = None) -> None:
        self.document = document
        self.path = document.path
        self.input_specs = document.inputs
        at = f"{self.path}:{document.entry_range.start.line + 1}" if document.entry_range else str(self.path)
        if not document.entry_is_valid:
            raise FlowError(f"{at}: `entry` must be `module:function` or `module:Class` (got {document.entry!r})")
        module_file = document.module_file()
        if module_file is None and includes is not None and document.module:
            module_file = includes.module_file(document.module)  # the entry lives in an additional include
        if module_file is None:
            candidates = " or ".join(str(p) for p in document.module_candidates())
            raise FlowError(f"{at}: entry module {document.module!r} not found (looked for {candidates})")
        module = import_file(module_file)
        target = getattr(module, document.attribute, None)
        if target is None:
            raise FlowError(f"{at}: {module_file} defines no {document.attribute!r}; fix `entry`")
        self.module_file = module_file
        if init:
            _check_given_init(document, init, inspect.isclass(target), at)
        if init is None and isinstance(self._sample().get("init"), dict):
            init = self._sample()["init"]  # the file's own sample init, as `pf flow test` uses it
        missing = [name for name, spec in (document.init or {}).items()
                   if name not in (init or {}) and not getattr(spec, "has_default", False)]
        if missing and inspect.isclass(target):  # an init value, not an input: say where it goes
            raise FlowError(f"{at}: init value `{missing[0]}` has no value and no default; pass it with "
                            f"--init {missing[0]}=... or give the flow a sample init (`sample: {{init: ...}}`)")
        self.init_values = bind_inputs(document.init, init or {}, str(self.path)) if document.init or init else {}
        self.target = target
        self.is_class = inspect.isclass(target)
        if self.is_class:
            if not any("__call__" in vars(base) for base in target.__mro__[:-1]):
                raise FlowError(f"{at}: class {document.attribute} has no `__call__` method to run per row")
            self.has_aggregation = hasattr(target, "__aggregate__")
        elif not callable(target):
            raise FlowError(f"{at}: {document.attribute} is not callable")
        self.description = None
        try:
            call = target.__call__ if self.is_class else target
            parameters, self.accepts_any_input = _describe(call)
        except (TypeError, ValueError):  # a builtin without a signature: declared inputs only
            parameters, self.accepts_any_input = {}, False
        if document.root is None or document.root.get("inputs") is None:
            # `inputs` is optional in the YAML: Prompt flow reads the entry's signature
            self.input_specs = _signature_inputs(parameters)

    def bind(self, given: dict) -> dict:
        return bind_inputs(self.input_specs, given, str(self.path))

    def _sample(self) -> dict:
        return load_sample(self.path.parent, self.document.sample, str(self.path))

    def sample_inputs(self) -> dict:
        values = {name: spec.default for name, spec in self.input_specs.items() if spec.has_default}
        sample = self._sample()
        values.update(sample["inputs"] if isinstance(sample.get("inputs"), dict) else
                      {k: v for k, v in sample.items() if k != "init"})
        return values

    def _instance(self, context: RunContext) -> Any:
        key = ("flex", self.target)
        instance = context.instances.get(key)
        if instance is None:
            signature = inspect.signature(self.target.__init__)
            kwargs = {name: _model_configuration(signature.parameters[name].annotation, value)
                      if name in signature.parameters else value for name, value in self.init_values.items()}
            try:
                instance = self.target(**kwargs)
            except Exception as error:  # the user's __init__ failed: the run cannot start
                raise FlowError(f"{self.module_file}: creating {self.document.attribute} with init "
                                f"{sorted(kwargs)} failed: {type(error).__name__}: {error}") from None
            context.instances[key] = instance
        return instance

    def _tool(self, context: RunContext) -> PythonTool:
        function = self._instance(context).__call__ if self.is_class else self.target
        parameters, accepts_kwargs = _describe(function)
        return PythonTool(self.module_file, function, parameters, accepts_kwargs)

    def prepare(self, context: RunContext) -> None:
        """Create the class instance before rows run (its errors stop the run up front)."""
        if self.is_class:
            self._instance(context)

    async def run_line(self, inputs: dict, context: RunContext) -> LineOutcome:
        started = time.perf_counter()
        name = self.document.attribute or "entry"
        inline_run = InlineRun(asyncio.get_running_loop(), context, folder=self.path.parent)
        token = inline.active.set(inline_run)  # model calls the entry makes are counted on this row
        try:
            tool = self._tool(context)
            kwargs = {k: v for k, v in inputs.items() if k in tool.parameters or tool.accepts_kwargs}
            result = _plain(await call_tool(tool, kwargs, context.executor))
        except NodeError as error:
            message = f"{self.path}: entry {self.document.entry}: {error}"
            # The kind and wait of a model call that failed inside the entry (503 + Retry-After when served).
            return LineOutcome("failed", None, message,
                               [NodeResult(name, "failed", error=message), *inline_run.nodes], elapsed_ms(started),
                               error_kind=error.kind, retry_after=error.retry_after)
        finally:
            inline.active.reset(token)
        outputs = result if isinstance(result, dict) else {"output": result}
        node = NodeResult(name, "completed", result, latency_ms=elapsed_ms(started))
        return LineOutcome("completed", outputs, None, [node, *_numbered(inline_run.nodes)], elapsed_ms(started),
                           {name: result})

    async def run_aggregation(self, lines: list[tuple[dict, dict]], context: RunContext) -> AggregationOutcome:
        if not self.has_aggregation:
            return AggregationOutcome([], {})
        name = self.document.attribute or "entry"
        line_results = [outputs.get(name) for _, outputs in lines]
        aggregate = self._instance(context).__aggregate__
        parameters, accepts_kwargs = _describe(aggregate)
        tool = PythonTool(self.module_file, aggregate, parameters, accepts_kwargs)
        started = time.perf_counter()
        try:
            first = next(iter(parameters), "line_results")
            metrics = _plain(await call_tool(tool, {first: line_results}, context.executor))
        except NodeError as error:
            message = f"{self.path}: __aggregate__: {error}"
            return AggregationOutcome([NodeResult("__aggregate__", "failed", error=message)], {}, message)
        metrics = metrics if isinstance(metrics, dict) else {"metrics": metrics}
        node = NodeResult("__aggregate__", "completed", metrics, latency_ms=elapsed_ms(started))
        return AggregationOutcome([node], metrics)
