"""LLM-judged evaluators: groundedness, relevance, coherence, fluency, similarity (1-5 with a reason).

Each judge's prompt is a `.prompty` file shipped in `promptwise/evaluation/judges/`; users copy
one, adapt it, and point an evaluator at the copy with `prompty: my_judge.prompty`. Calls go
through the engine's providers (the same connections, retries with back-off, response cache),
and their cost is counted as evaluation cost, apart from the flow's own.

`repeat: n` asks the judge n times (each with its own `seed`, so the cache does not hand back
the same answer) and reports the mean, with the spread in the details. An answer that cannot
be read is recorded as a failure carrying the raw text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from promptwise.evaluation.base import Evaluator, EvaluatorConfigError, Score, as_text

# statistics (with fractions) and judge_answer (its patterns) are imported where a judge scores:
# `check` builds the evaluators of an eval.yaml to validate them, and pays for neither.

JUDGES_DIR = Path(__file__).parent / "judges"
DEFAULT_JUDGE_MODEL = "gpt-4o-mini"


@dataclass
class JudgeReply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0  # None when the model's price is unknown
    cached: bool = False


class JudgeCallError(Exception):
    """The call to the judge model failed for good (after the engine's retries)."""


class JudgeTransport(Protocol):
    async def chat(self, model: str, messages: list[dict], params: dict, connection: str | None) -> JudgeReply: ...


@dataclass(frozen=True)
class JudgePrompt:
    path: Path
    template: str  # the body after the front matter
    model: str | None
    parameters: dict
    input_names: tuple[str, ...]
    defaults: dict
    connection: str | None


def load_judge_prompt(path: Path) -> JudgePrompt:
    """Read a judge `.prompty` with the shared document model (either Prompty shape)."""
    import promptwise.documents  # noqa: F401  (documents before analysis: the import order they need)
    from promptwise.documents import load_document

    if not path.is_file():
        raise EvaluatorConfigError(f"{path}: cannot read the judge prompt (no such file); check `prompty:`")
    document = load_document(path)
    if getattr(document, "kind", None) != "prompty":
        problems = getattr(document, "problems", None) or []
        why = problems[0].message if problems else "not a .prompty file"
        raise EvaluatorConfigError(f"{path}: cannot read the judge prompt ({why})")
    errors = [p for p in document.problems if p.severity.value == "error"]
    if errors:
        first = errors[0]
        raise EvaluatorConfigError(f"{path}:{first.range.start.line + 1}: {first.message}")
    model = document.model
    configuration = model.configuration or {}
    return JudgePrompt(
        path=path,
        template=document.body,
        model=model.model_name,
        parameters=dict(model.effective_parameters),
        input_names=tuple(document.inputs),
        defaults={name: spec.default for name, spec in document.inputs.items() if spec.has_default},
        connection=configuration.get("connection") or (model.connection if isinstance(model.connection, str) else None),
    )


class LlmJudge(Evaluator):
    """Base of the five judges; `prompt_file` names the shipped prompty."""

    prompt_file: str = ""
    default_threshold = 3.0
    options_allowed = ("model", "connection", "repeat", "prompty", "temperature", "max_tokens")
    calls_model = True

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None,
                 transport: JudgeTransport | None = None) -> None:
        super().__init__(name, threshold, options)
        path = Path(self.options["prompty"]) if self.options.get("prompty") else JUDGES_DIR / self.prompt_file
        self.prompt = load_judge_prompt(path)
        repeat = self.options.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= 20:
            raise EvaluatorConfigError(f"evaluator `{name}`: repeat must be a whole number from 1 to 20, got {repeat!r}")
        self.repeat = repeat
        self.model = self.options.get("model") or self.prompt.model or DEFAULT_JUDGE_MODEL
        self.connection = self.options.get("connection") or self.prompt.connection
        self.transport = transport
        if self.options.get("prompty"):
            # A user's own judge prompt takes the inputs its front matter declares.
            self.required_inputs = tuple(n for n in self.prompt.input_names if n not in self.prompt.defaults)
            self.optional_inputs = tuple(n for n in self.prompt.input_names if n in self.prompt.defaults)

    def messages_for(self, inputs: dict) -> list[dict]:
        from promptwise.documents.render import RUN_LIMITS, RenderError, render_messages

        variables = {**self.prompt.defaults, **{k: as_text(v) for k, v in inputs.items()}}
        try:
            return render_messages(self.prompt.template, variables, limits=RUN_LIMITS)  # sandboxed, bounded
        except RenderError as error:
            raise EvaluatorConfigError(f"{self.prompt.path}: {error.message}") from None

    async def ascore(self, inputs: dict) -> Score:
        if self.transport is None:
            return Score.failure("no model connection for the judge; run the evaluation through `promptwise eval`")
        messages = self.messages_for(inputs)
        params = dict(self.prompt.parameters)
        for key in ("temperature", "max_tokens"):
            if key in self.options:
                params[key] = self.options[key]
        if self.repeat > 1:
            # A different seed per repetition: distinct requests (the cache keys on the request)
            # and, at temperature > 0, independent samples.
            calls = [self._ask(messages, {**params, "seed": i}) for i in range(self.repeat)]
        else:
            calls = [self._ask(messages, params)]
        import asyncio  # here, not at the top: `check` builds evaluators without loading asyncio

        outcomes = await asyncio.gather(*calls)
        return self._combine(outcomes)

    async def _ask(self, messages: list[dict], params: dict) -> tuple[JudgeReply | None, Any]:
        """(reply, parsed answer | JudgeAnswerError | JudgeCallError)."""
        from promptwise.evaluation.judge_answer import JudgeAnswerError, parse_judge_answer

        try:
            reply = await self.transport.chat(self.model, messages, params, self.connection)
        except JudgeCallError as error:
            return None, error
        try:
            return reply, parse_judge_answer(reply.text)
        except JudgeAnswerError as error:
            return reply, error

    def _combine(self, outcomes: list[tuple[JudgeReply | None, Any]]) -> Score:
        cost = sum((reply.cost or 0.0) for reply, _ in outcomes if reply is not None)
        tokens = sum(reply.prompt_tokens + reply.completion_tokens for reply, _ in outcomes if reply is not None)
        cached = sum(1 for reply, _ in outcomes if reply is not None and reply.cached)
        good = [(reply, answer) for reply, answer in outcomes if reply is not None and not isinstance(answer, Exception)]
        failures = [(reply, answer) for reply, answer in outcomes if isinstance(answer, Exception)]
        failure_details = [{"error": str(answer), "raw": reply.text if reply is not None else None}
                           for reply, answer in failures]
        if not good:
            reply, answer = failures[0]
            kind = "judge call failed" if isinstance(answer, JudgeCallError) else "unreadable judge answer"
            score = Score.failure(f"{kind}: {answer}", raw=reply.text if reply is not None else None,
                                  failures=failure_details, model=self.model)
            score.cost, score.tokens = cost, tokens
            if cached:
                score.details["cached_calls"] = cached
            return score
        import statistics

        values = [answer.score for _, answer in good]
        mean = statistics.fmean(values)
        details: dict[str, Any] = {"model": self.model, "raw": good[0][0].text}
        if self.repeat > 1:
            details.update(samples=values, stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
                           min=min(values), max=max(values))
        if failure_details:
            details["failures"] = failure_details
        if cached:
            details["cached_calls"] = cached
        reason = good[0][1].reason
        if self.repeat > 1:
            reason = f"{reason} (mean of {len(values)} judgements, spread {min(values):g}-{max(values):g})"
        return self.judged(mean, reason, details=details, cost=cost, tokens=tokens)


    def aggregate(self, rows: list[tuple[dict, Score]]) -> dict:
        """With `repeat`, how much the judge disagreed with itself: mean and largest per-row spread."""
        spreads = [score.details["stdev"] for _, score in rows if "stdev" in score.details]
        if not spreads:
            return {}
        import statistics

        return {"judge_spread_mean": statistics.fmean(spreads), "judge_spread_max": max(spreads),
                "repeat": self.repeat}


class Groundedness(LlmJudge):
    kind = "groundedness"
    description = "LLM judge, 1-5: is every claim of the response supported by the context?"
    prompt_file = "groundedness.prompty"
    required_inputs = ("response", "context")
    optional_inputs = ("query",)


class Relevance(LlmJudge):
    kind = "relevance"
    description = "LLM judge, 1-5: does the response answer the query?"
    prompt_file = "relevance.prompty"
    required_inputs = ("query", "response")
    optional_inputs = ("context",)


class Coherence(LlmJudge):
    kind = "coherence"
    description = "LLM judge, 1-5: is the response logically organised and consistent?"
    prompt_file = "coherence.prompty"
    required_inputs = ("response",)
    optional_inputs = ("query",)


class Fluency(LlmJudge):
    kind = "fluency"
    description = "LLM judge, 1-5: is the response's language fluent and correct?"
    prompt_file = "fluency.prompty"
    required_inputs = ("response",)


class Similarity(LlmJudge):
    kind = "similarity"
    description = "LLM judge, 1-5: how close in meaning is the response to the ground truth?"
    prompt_file = "similarity.prompty"
    required_inputs = ("response", "ground_truth")
    optional_inputs = ("query",)


JUDGES = (Groundedness, Relevance, Coherence, Fluency, Similarity)
