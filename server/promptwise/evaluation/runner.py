"""Scoring rows with configured evaluators, and the run-level figures.

The order of work matters for the quality bar: build every evaluator and check every
mapped column against the data and the run *before* the first call, so a typo in eval.yaml
costs nothing. Then computed evaluators run inline and model-calling ones (judges, async
functions, evaluation flows) run concurrently under one bound.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from promptwise.evaluation.base import EvaluationError, Evaluator, Score
from promptwise.evaluation.config import EvalConfig, EvaluatorSpec
from promptwise.evaluation.mapping import MissingValue, parse_reference, references_in, resolve_value
from promptwise.evaluation.registry import BuildContext, build_evaluator


@dataclass
class EvalRow:
    line: int  # the row's index in the data (and the run)
    data: dict
    run: dict | None = None  # {"outputs", "inputs", "latency_ms", "tokens", "cost", "status", "error", ...}
    data_line: int | None = None  # 1-based line in the data file, when known (editor diagnostics)

    @property
    def context(self) -> dict:
        return {"data": self.data, "run": self.run}


@dataclass
class RowScores:
    line: int
    scores: dict[str, Score]
    data_line: int | None = None


@dataclass
class EvalResult:
    evaluators: list[dict]  # name, type, threshold, higher_is_better, inputs
    rows: list[RowScores]
    metrics: dict[str, dict]  # evaluator name -> aggregate figures
    summary: dict  # rows, latency percentiles, cost per row, evaluation cost ...
    started_at: float = field(default_factory=time.time)

    def to_json(self) -> dict:
        return {
            "evaluators": self.evaluators,
            "metrics": self.metrics,
            "summary": self.summary,
            "rows": [{"line": r.line, "data_line": r.data_line,
                      "scores": {name: s.to_json() for name, s in r.scores.items()}} for r in self.rows],
        }


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, statistics' 'inclusive')."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def build_evaluators(config: EvalConfig, context: BuildContext) -> list[tuple[EvaluatorSpec, Evaluator]]:
    from promptwise.evaluation.base import EvaluatorConfigError

    built, problems = [], []
    for spec in config.evaluators:
        try:
            evaluator = build_evaluator(spec.type, spec.name, spec.threshold, spec.options, context)
        except EvaluatorConfigError as error:
            line = spec.range.start.line + 1
            problems.append(f"{config.path}:{line}: {error}")
            continue
        transport = getattr(evaluator, "transport", None)
        if transport is not None and hasattr(transport, "preflight"):
            from promptwise.evaluation.judges import JudgeCallError

            try:
                transport.preflight(evaluator.model, evaluator.connection)
            except JudgeCallError as error:
                problems.append(f"{config.path}:{spec.range.start.line + 1}: `{spec.name}`: {error}")
        if spec.type in ("python", "flow"):
            missing = [n for n in evaluator.required_inputs if n not in spec.inputs]
            extra = [n for n in spec.inputs if n not in (*evaluator.required_inputs, *evaluator.optional_inputs)]
            if missing:
                problems.append(f"{config.path}:{spec.range.start.line + 1}: `{spec.name}` needs input(s) "
                                f"{', '.join(missing)}; map them under `inputs:`")
            if extra and not getattr(evaluator, "accepts_any", False):
                problems.append(f"{config.path}:{spec.range.start.line + 1}: `{spec.name}` takes no input(s) "
                                f"{', '.join(extra)}; it takes {', '.join(evaluator.required_inputs + evaluator.optional_inputs)}")
        built.append((spec, evaluator))
    if problems:
        raise EvaluationError("\n".join(problems))
    return built


def check_columns(config: EvalConfig, rows: list[EvalRow], data_name: str, *, run_outputs: set[str] | None,
                  has_run: bool) -> None:
    """Every `${data.x}` must be a column of the data, every `${run.outputs.y}` an output of the run."""
    columns: set[str] = set()
    for row in rows:
        columns.update(row.data)
    problems = []
    for spec in config.evaluators:
        for input_name, value in spec.inputs.items():
            line = spec.input_ranges.get(input_name, spec.range).start.line + 1
            for reference in references_in(value):
                column = reference.column
                if reference.source == "data" and column is not None and rows and column not in columns:
                    problems.append(
                        f"{config.path}:{line}: `{spec.name}` maps {input_name} to ${{{reference.text}}}, but {data_name} "
                        f"has no column `{column}`; {_did_you_mean(column, columns, 'data')}"
                        f"its columns are: {', '.join(sorted(columns)) or '(none)'}")
                elif reference.source.startswith("run") and not has_run:
                    problems.append(f"{config.path}:{line}: `{spec.name}` reads ${{{reference.text}}}, but there is "
                                    f"no run to read it from; evaluate a flow or pass --run")
                elif (reference.source == "run.outputs" and column is not None and run_outputs is not None
                      and column not in run_outputs):
                    problems.append(
                        f"{config.path}:{line}: `{spec.name}` maps {input_name} to ${{{reference.text}}}, but the "
                        f"run has no output `{column}`; {_did_you_mean(column, run_outputs, 'run.outputs')}"
                        f"its outputs are: {', '.join(sorted(run_outputs)) or '(none)'}")
    if problems:
        raise EvaluationError("\n".join(problems))


def _did_you_mean(name: str, choices: set[str], source: str) -> str:
    """`did you mean ${data.expected}? ` for a near miss (a typo, a different case), else ''."""
    import difflib

    by_lower = {choice.lower(): choice for choice in choices}
    close = by_lower.get(name.lower())
    if close is None:
        matches = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
        close = by_lower[matches[0]] if matches else None
    return f"did you mean ${{{source}.{close}}}? " if close else ""


async def score_rows(
    built: list[tuple[EvaluatorSpec, Evaluator]],
    rows: list[EvalRow],
    *,
    concurrency: int = 8,
    on_row_done=None,
    run: str | None = None,
) -> tuple[list[RowScores], list[dict[str, dict | None]]]:
    """Scores per row, and the inputs each evaluator saw (None where they could not be read).

    Computed evaluators run inline, row by row (they take microseconds); evaluators that call
    a model are gathered and run `concurrency` at a time.
    """
    # Imported here: `check` reads eval.yaml through this module and should not load the
    # tracer or asyncio (and ssl) to do it.
    import asyncio

    from promptwise.engine import spans

    semaphore = asyncio.Semaphore(max(1, concurrency))
    identity = _trace_identity(run)
    scored = [RowScores(row.line, {}, row.data_line) for row in rows]
    resolved: list[dict[str, dict | None]] = [{} for _ in rows]
    pending: list[tuple[int, EvaluatorSpec, Evaluator, dict]] = []

    async def guarded(evaluator: Evaluator, inputs: dict) -> Score:
        try:
            return await evaluator.ascore(inputs)
        except Exception as error:  # an evaluator bug must not lose the other rows' scores
            return Score.failure(f"{type(error).__name__}: {error}")

    for index, row in enumerate(rows):
        run = row.run or {}
        for spec, evaluator in built:
            if run and run.get("status") == "failed":
                scored[index].scores[spec.name] = Score.failure(
                    f"the flow failed on this row: {run.get('error') or 'no error recorded'}")
                resolved[index][spec.name] = None
                continue
            try:
                inputs = {name: resolve_value(value, row.context) for name, value in spec.inputs.items()}
            except MissingValue as error:
                scored[index].scores[spec.name] = Score.failure(str(error))
                resolved[index][spec.name] = None
                continue
            resolved[index][spec.name] = inputs
            if evaluator.calls_model:
                pending.append((index, spec, evaluator, inputs))
            else:
                scored[index].scores[spec.name] = await guarded(evaluator, inputs)

    remaining = [sum(1 for spec, ev in built if ev.calls_model and spec.name not in scored[i].scores)
                 for i in range(len(rows))]

    async def call(index: int, spec: EvaluatorSpec, evaluator: Evaluator, inputs: dict) -> None:
        async with semaphore:
            with spans.evaluation_span(spec.name, rows[index].line, inputs) as span:
                if identity and span.is_recording():
                    span.set_attributes(identity)
                scored[index].scores[spec.name] = await guarded(evaluator, inputs)
                spans.record_score(span, scored[index].scores[spec.name])
        remaining[index] -= 1
        if remaining[index] == 0 and on_row_done is not None:
            on_row_done(scored[index])

    if on_row_done is not None:
        for index, count in enumerate(remaining):
            if count == 0:
                on_row_done(scored[index])
    await asyncio.gather(*(call(*item) for item in pending))
    # keep the evaluators' order in every row, whatever order the calls finished in
    for row in scored:
        row.scores = {spec.name: row.scores[spec.name] for spec, _ in built}
    return scored, resolved


def _trace_identity(run: str | None) -> dict:
    """The evaluated run's name on each evaluation trace: `traces list --run NAME` then lists
    the run's evaluations with its rows, each saying which run and row it scored. Not the flow's
    name or path: the flow's "last run" lens and `--flow` mean the flow's own runs."""
    from promptwise import span_attributes as A

    return {A.RUN_ID: run} if run else {}


def aggregate(built: list[tuple[EvaluatorSpec, Evaluator]], scored: list[RowScores],
              resolved: list[dict[str, dict | None]]) -> dict:
    metrics: dict[str, dict] = {}
    for spec, evaluator in built:
        pairs: list[tuple[dict, Score]] = [(inputs.get(spec.name) or {}, row.scores[spec.name])
                                           for row, inputs in zip(scored, resolved)]
        values = [s.value for _, s in pairs if s.error is None and s.value is not None]
        verdicts = [s.passed for _, s in pairs if s.passed is not None]
        errors = sum(1 for _, s in pairs if s.error is not None)
        entry: dict[str, Any] = {
            "type": spec.type,
            "threshold": evaluator.threshold,
            "higher_is_better": evaluator.higher_is_better,
            "count": len(pairs),
            "scored": len(values),
            "errors": errors,
            "mean": statistics.fmean(values) if values else None,
            "stdev": statistics.stdev(values) if len(values) > 1 else (0.0 if values else None),
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "passed": sum(1 for v in verdicts if v),
            "failed": sum(1 for v in verdicts if not v),
            # Rows that could not be scored count against the pass rate: an evaluation that
            # errors on every row must not look perfect.
            "pass_rate": (sum(1 for v in verdicts if v) / (len(verdicts) + errors))
            if evaluator.threshold is not None and (verdicts or errors) else None,
            "eval_cost": sum(s.cost for _, s in pairs),
            "eval_tokens": sum(s.tokens for _, s in pairs),
        }
        try:
            entry.update(evaluator.aggregate([(i, s) for i, s in pairs if s.error is None]))
        except Exception as error:  # a broken aggregate is reported, not fatal
            entry["aggregate_error"] = f"{type(error).__name__}: {error}"
        metrics[spec.name] = entry
    return metrics


def summarize(rows: list[EvalRow], metrics: dict) -> dict:
    runs = [row.run for row in rows if row.run]
    latencies = [r["latency_ms"] for r in runs if r.get("status") != "failed" and r.get("latency_ms") is not None]
    costs = [r["cost"] for r in runs if r.get("cost") is not None]
    tokens = [r["tokens"] for r in runs if r.get("tokens") is not None]
    eval_cost = sum(m["eval_cost"] for m in metrics.values())
    count = len(rows)
    return {
        "rows": count,
        "rows_failed_in_run": sum(1 for r in runs if r.get("status") == "failed"),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "cost": sum(costs) if costs else None,
        "cost_per_row": (sum(costs) / len(costs)) if costs else None,
        "tokens_per_row": (sum(tokens) / len(tokens)) if tokens else None,
        "eval_cost": eval_cost,
        "eval_cost_per_row": eval_cost / count if count else None,
        "eval_tokens": sum(m["eval_tokens"] for m in metrics.values()),
    }


async def evaluate_rows(
    config: EvalConfig,
    rows: list[EvalRow],
    context: BuildContext,
    *,
    data_name: str = "the data",
    run_outputs: set[str] | None = None,
    has_run: bool = True,
    concurrency: int = 8,
    built: list[tuple[EvaluatorSpec, Evaluator]] | None = None,
    on_row_done=None,
    run: str | None = None,
) -> EvalResult:
    """Check, then score every row and aggregate. Raises EvaluationError before any call."""
    built = built if built is not None else build_evaluators(config, context)
    check_columns(config, rows, data_name, run_outputs=run_outputs, has_run=has_run)
    scored, resolved = await score_rows(built, rows, concurrency=concurrency, on_row_done=on_row_done, run=run)
    metrics = aggregate(built, scored, resolved)
    described = [{"name": spec.name, "type": spec.type, "threshold": ev.threshold,
                  "higher_is_better": ev.higher_is_better, "inputs": spec.inputs,
                  "outputs": sorted({r.column for v in spec.inputs.values() for r in references_in(v)
                                     if r.source == "run.outputs" and r.column})}
                 for spec, ev in built]
    return EvalResult(described, scored, metrics, summarize(rows, metrics))


def referenced_outputs(config: EvalConfig) -> set[str]:
    return {r.column for spec in config.evaluators for v in spec.inputs.values() for r in references_in(v)
            if r.source == "run.outputs" and r.column}


__all__ = ["EvalRow", "RowScores", "EvalResult", "EvaluationError", "evaluate_rows", "build_evaluators",
           "check_columns", "percentile", "parse_reference"]
