"""Scoring rows with configured evaluators, and the run-level figures.

The order of work matters for the quality bar: build every evaluator and check every
mapped column against the data and the run *before* the first call, so a typo in eval.yaml
costs nothing. Then computed evaluators run inline and model-calling ones (judges, async
functions, evaluation flows) run concurrently under one bound.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from promptwise.evaluation.base import Evaluator, Score
from promptwise.evaluation.config import EvalConfig, EvaluatorSpec
from promptwise.evaluation.mapping import MissingValue, parse_reference, references_in, resolve_value
from promptwise.evaluation.registry import BuildContext, build_evaluator


class EvaluationError(Exception):
    """The evaluation cannot start (bad mapping, missing column); nothing was called yet."""


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
                        f"has no column `{column}`; its columns are: {', '.join(sorted(columns)) or '(none)'}")
                elif reference.source.startswith("run") and not has_run:
                    problems.append(f"{config.path}:{line}: `{spec.name}` reads ${{{reference.text}}}, but there is "
                                    f"no run to read it from; evaluate a flow or pass --run")
                elif (reference.source == "run.outputs" and column is not None and run_outputs is not None
                      and column not in run_outputs):
                    problems.append(
                        f"{config.path}:{line}: `{spec.name}` maps {input_name} to ${{{reference.text}}}, but the "
                        f"run has no output `{column}`; its outputs are: {', '.join(sorted(run_outputs)) or '(none)'}")
    if problems:
        raise EvaluationError("\n".join(problems))


async def score_rows(
    built: list[tuple[EvaluatorSpec, Evaluator]],
    rows: list[EvalRow],
    *,
    concurrency: int = 8,
    on_row_done=None,
) -> list[RowScores]:
    semaphore = asyncio.Semaphore(max(1, concurrency))

    async def one(spec: EvaluatorSpec, evaluator: Evaluator, row: EvalRow) -> Score:
        run = row.run or {}
        if run and run.get("status") == "failed":
            return Score.failure(f"the flow failed on this row: {run.get('error') or 'no error recorded'}")
        try:
            inputs = {name: resolve_value(value, row.context) for name, value in spec.inputs.items()}
        except MissingValue as error:
            return Score.failure(str(error))
        try:
            if evaluator.calls_model:
                async with semaphore:
                    return await evaluator.ascore(inputs)
            return await evaluator.ascore(inputs)
        except Exception as error:  # an evaluator bug must not lose the other rows' scores
            return Score.failure(f"{type(error).__name__}: {error}")

    async def row_scores(row: EvalRow) -> RowScores:
        results = await asyncio.gather(*(one(spec, ev, row) for spec, ev in built))
        scored = RowScores(row.line, {spec.name: score for (spec, _), score in zip(built, results)}, row.data_line)
        if on_row_done is not None:
            on_row_done(scored)
        return scored

    return list(await asyncio.gather(*(row_scores(row) for row in rows)))


def aggregate(built: list[tuple[EvaluatorSpec, Evaluator]], rows: list[EvalRow], scored: list[RowScores]) -> dict:
    metrics: dict[str, dict] = {}
    for spec, evaluator in built:
        pairs: list[tuple[dict, Score]] = []
        for row, row_scores in zip(rows, scored):
            score = row_scores.scores[spec.name]
            inputs = {}
            if score.error is None:
                try:
                    inputs = {n: resolve_value(v, row.context) for n, v in spec.inputs.items()}
                except MissingValue:
                    inputs = {}
            pairs.append((inputs, score))
        values = [s.value for _, s in pairs if s.error is None and s.value is not None]
        verdicts = [s.passed for _, s in pairs if s.passed is not None]
        entry: dict[str, Any] = {
            "type": spec.type,
            "threshold": evaluator.threshold,
            "higher_is_better": evaluator.higher_is_better,
            "count": len(pairs),
            "scored": len(values),
            "errors": sum(1 for _, s in pairs if s.error is not None),
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
            "pass_rate": (sum(1 for v in verdicts if v) / (len(verdicts) + sum(1 for _, s in pairs if s.error)))
            if evaluator.threshold is not None and (verdicts or any(s.error for _, s in pairs)) else None,
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
) -> EvalResult:
    """Check, then score every row and aggregate. Raises EvaluationError before any call."""
    built = built if built is not None else build_evaluators(config, context)
    check_columns(config, rows, data_name, run_outputs=run_outputs, has_run=has_run)
    scored = await score_rows(built, rows, concurrency=concurrency, on_row_done=on_row_done)
    metrics = aggregate(built, rows, scored)
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
