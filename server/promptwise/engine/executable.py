"""What every flow kind (DAG, flex, prompty) offers the runners, and the shared run context."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptwise.engine.errors import NodeError
from promptwise.engine.llm import LlmCall, LlmService
from promptwise.store.run_store import NodeResult


@dataclass
class RunContext:
    """Services shared by every row of a run."""

    llm: LlmService
    executor: ThreadPoolExecutor  # for sync Python tools
    workspace: Any = None  # promptwise.config.WorkspaceConfig
    instances: dict = field(default_factory=dict)  # class-based tools, created once per run


@dataclass
class LineOutcome:
    status: str  # completed | failed
    outputs: dict | None
    error: str | None
    nodes: list[NodeResult]
    latency_ms: float
    node_outputs: dict[str, Any] = field(default_factory=dict)  # for aggregation nodes
    error_kind: str | None = None  # the failing call's kind (e.g. `unreachable`: the endpoint is down)
    retry_after: float | None = None  # seconds the failing call's endpoint asked to wait (its 429's Retry-After)


@dataclass
class AggregationOutcome:
    nodes: list[NodeResult]
    metrics: dict
    error: str | None = None


def failed_node_result(name: str, message: str, error: NodeError) -> NodeResult:
    """A failed node, with the tokens and cost of a model call it made that was billed anyway."""
    if error.call is None:
        return NodeResult(name, "failed", error=message)
    return replace(llm_node_result(name, error.call, None), status="failed", error=message)


def llm_node_result(name: str, call: LlmCall, output: Any) -> NodeResult:
    usage = call.result.usage
    return NodeResult(
        node=name, status="completed", output=output, model=call.model, prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens, total_tokens=usage.total_tokens or
        usage.prompt_tokens + usage.completion_tokens, cached_tokens=usage.cached_tokens, cost=call.cost,
        latency_ms=call.result.latency_ms, attempts=call.result.attempts, cache_hit=call.result.cached,
    )


class Executable:
    """Base of the three flow kinds."""

    path: Path  # the flow file
    kind: str  # flow_dag | flex_flow | prompty
    input_specs: dict[str, Any]  # name -> spec with type/default/has_default
    has_aggregation: bool = False
    description: dict | None = None  # the connection, as stored with the run
    accepts_any_input: bool = False  # a flex entry taking **kwargs: inputs need not be declared

    @property
    def flow_id(self) -> str:
        """How runs of this flow are grouped in the store: its resolved file path."""
        return str(self.path.resolve())

    def sample_inputs(self) -> dict:
        return {}

    def bind(self, given: dict) -> dict:
        raise NotImplementedError

    def check_input_names(self, given: dict) -> None:
        """Inputs given by name (`--inputs k=v`) must be inputs the flow declares."""
        if self.accepts_any_input:
            return
        from promptwise.engine.data import did_you_mean
        from promptwise.engine.errors import FlowError

        declared = list(self.input_specs)
        for name in given:
            if name not in self.input_specs:
                listed = ", ".join(f"`{n}`" for n in declared) or "none"
                raise FlowError(f"{self.path}: the flow has no input `{name}`{did_you_mean(name, declared)} "
                                f"(inputs: {listed})")

    async def run_line(self, inputs: dict, context: RunContext) -> LineOutcome:
        raise NotImplementedError

    async def run_aggregation(self, lines: list[tuple[dict, dict]], context: RunContext) -> AggregationOutcome:
        return AggregationOutcome([], {})


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
