"""A whole evaluation flow as an evaluator (`type: flow`, `flow: path`, `output: score`).

The flow (any kind the engine runs: flow.dag.yaml, flow.flex.yaml, .prompty) receives the
mapped inputs as its inputs and runs once per row through the engine, sharing one session
(connections, cache, HTTP clients) for the whole evaluation; its model calls count as
evaluation cost. The output named by `output` (default `score`) is the score, `reason_output`
(default `reason`) the reason; an output that is a mapping with `score` works too.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from promptwise.evaluation.base import Evaluator, EvaluatorConfigError, Score
from promptwise.evaluation.custom import score_from_result


class EngineFlowRunner:
    """Opens one engine session per evaluation flow, on first use; closed by `aclose`."""

    def __init__(self, *, use_cache: bool = True, retry=None) -> None:
        import asyncio  # here, not at the top: `check` builds evaluators without loading asyncio

        self.use_cache = use_cache
        self.retry = retry
        self._stack = AsyncExitStack()
        self._sessions: dict[Path, Any] = {}
        self._lock = asyncio.Lock()

    def input_names(self, flow: Path) -> tuple[list[str], list[str]]:
        """(required, optional) inputs of the flow, read statically (before any call)."""
        import promptwise.documents  # noqa: F401
        from promptwise.documents import load_document
        from promptwise.engine.errors import FlowError
        from promptwise.engine.flow_path import resolve_flow_path

        try:
            document = load_document(resolve_flow_path(flow))
        except FlowError as error:
            raise EvaluatorConfigError(str(error)) from None
        inputs = getattr(document, "inputs", None) or {}
        required = [n for n, spec in inputs.items() if not getattr(spec, "has_default", False)]
        optional = [n for n, spec in inputs.items() if getattr(spec, "has_default", False)]
        return required, optional

    async def _session(self, flow: Path):
        from promptwise.engine.runner import open_session

        async with self._lock:
            if flow not in self._sessions:
                self._sessions[flow] = await self._stack.enter_async_context(
                    open_session(flow, use_cache=self.use_cache, concurrency=4, retry=self.retry))
            return self._sessions[flow]

    async def run(self, flow: Path, inputs: dict) -> tuple[dict | None, str | None, float]:
        """(outputs, error, cost) of one line."""
        from promptwise.engine.errors import FlowError
        from promptwise.engine.spans import traced_line

        try:
            session = await self._session(flow)
            bound = session.executable.bind(inputs)
            outcome = await traced_line(session.executable, bound, session.context)
        except FlowError as error:
            return None, str(error), 0.0
        cost = sum(n.cost or 0.0 for n in outcome.nodes)
        if outcome.status != "completed":
            return None, outcome.error or "the evaluation flow failed", cost
        return outcome.outputs or {}, None, cost

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._sessions.clear()


class FlowEvaluator(Evaluator):
    kind = "flow"
    description = "a whole evaluation flow: `flow: path`; its `score` output (or `output: NAME`) is the score"
    options_allowed = ("flow", "output", "reason_output")
    calls_model = True

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None,
                 runner: EngineFlowRunner | None = None) -> None:
        super().__init__(name, threshold, options)
        flow = self.options.get("flow")
        if not isinstance(flow, str) or not flow:
            raise EvaluatorConfigError(f"evaluator `{name}` (flow) needs `flow:` with the evaluation flow's path")
        self.flow = Path(flow)
        if not self.flow.exists():
            raise EvaluatorConfigError(f"evaluator `{name}`: evaluation flow {self.flow} not found; check `flow:`")
        self.output = self.options.get("output", "score")
        self.reason_output = self.options.get("reason_output", "reason")
        self.runner = runner
        if runner is not None:
            required, optional = runner.input_names(self.flow)
            self.required_inputs, self.optional_inputs = tuple(required), tuple(optional)

    async def ascore(self, inputs: dict) -> Score:
        if self.runner is None:
            return Score.failure("no engine to run the evaluation flow; run it through `promptwise eval`")
        outputs, error, cost = await self.runner.run(self.flow, inputs)
        if error is not None:
            score = Score.failure(f"the evaluation flow failed: {error}")
            score.cost = cost
            return score
        if self.output not in outputs:
            score = Score.failure(f"the evaluation flow has no output `{self.output}` (it returned "
                                  f"{', '.join(outputs) or 'nothing'}); set `output:` to the score's name")
            score.cost = cost
            return score
        value = outputs[self.output]
        result = value if isinstance(value, dict) else {"score": value, "reason": outputs.get(self.reason_output, "")}
        score = score_from_result(self, result)
        score.cost = cost
        score.details.setdefault("outputs", outputs)
        return score
