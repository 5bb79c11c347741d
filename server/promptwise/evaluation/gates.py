"""CI gates: `--fail-under METRIC=VALUE` and `--fail-over METRIC=VALUE` against an evaluation's aggregates.

METRIC names an evaluator's aggregate as `evaluator.figure` (`fluency.mean`,
`category_match.pass_rate`, `triage_classes.macro_f1`, `triage_classes.per_class.database.f1`);
a bare evaluator name means its mean. Run-level figures have their own names:
`latency_p95_ms`, `latency_p50_ms`, `cost_per_row`, `eval_cost_per_row`, `tokens_per_row`.
VALUE may end in `%` (`pass_rate=90%` is 0.9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class GateError(ValueError):
    """A gate that cannot be read or names no metric; the message lists what exists."""


@dataclass(frozen=True)
class Gate:
    metric: str
    limit: float
    direction: str  # "under": fail when value < limit; "over": fail when value > limit

    def describe(self) -> str:
        return f"{self.metric} {'>=' if self.direction == 'under' else '<='} {self.limit:g}"


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    value: float | None
    passed: bool

    def describe(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.6g}"
        verdict = "ok" if self.passed else "FAILED"
        return f"{verdict}: {self.gate.metric} = {shown} (required {self.gate.describe()})"


def parse_gate(text: str, direction: str) -> Gate:
    metric, separator, value = text.partition("=")
    metric, value = metric.strip(), value.strip()
    if not separator or not metric or not value:
        raise GateError(f"--fail-{direction} {text!r}: write METRIC=VALUE, e.g. category_match.pass_rate=0.9")
    scale = 1.0
    if value.endswith("%"):
        value, scale = value[:-1], 0.01
    try:
        limit = float(value) * scale
    except ValueError:
        raise GateError(f"--fail-{direction} {text!r}: {value!r} is not a number") from None
    if not math.isfinite(limit):
        # nan never compares true and inf always does: such a gate would fail or pass on every run
        raise GateError(f"--fail-{direction} {text!r}: the limit must be a finite number, e.g. 0.9 or 90%")
    return Gate(metric, limit, direction)


# What every evaluation has, known before it runs: run-level figures, and each evaluator's figures.
SUMMARY_FIGURES = ("rows", "rows_failed_in_run", "latency_p50_ms", "latency_p95_ms", "cost", "cost_per_row",
                   "tokens_per_row", "eval_cost", "eval_cost_per_row", "eval_tokens", "llm_calls", "cache_hits",
                   "eval_cache_hits")
EVALUATOR_FIGURES = ("mean", "stdev", "min", "max", "p50", "p95", "count", "scored", "errors", "passed", "failed",
                     "pass_rate", "threshold", "eval_cost", "eval_tokens")
# Figures some evaluator types add (classification, BLEU, repeated judges): accepted before the run,
# looked up after it.
EXTRA_FIGURES = ("accuracy", "macro_f1", "per_class", "corpus_bleu", "judge_spread_mean", "judge_spread_max")


def check_gate_names(gates: list[Gate], evaluator_names: list[str]) -> None:
    """Before anything runs: every gate names a run-level figure or an evaluator of eval.yaml
    (and not a near miss of a figure evaluators have). Raises GateError with a did-you-mean."""
    import difflib

    for gate in gates:
        head, _, figure = gate.metric.partition(".")
        if gate.metric in SUMMARY_FIGURES or (head in evaluator_names and not figure):
            continue
        if head in evaluator_names:
            first = figure.split(".", 1)[0]
            if first in EVALUATOR_FIGURES or first in EXTRA_FIGURES:
                continue
            close = difflib.get_close_matches(first, EVALUATOR_FIGURES + EXTRA_FIGURES, n=1, cutoff=0.6)
            if not close:
                continue  # a custom evaluator's own figure, perhaps: looked up after the run
            raise GateError(f"--fail-{gate.direction} {gate.metric}: `{first}` is not a figure of an evaluator; did "
                            f"you mean `{head}.{close[0]}`? figures: {', '.join(EVALUATOR_FIGURES)}")
        candidates = [*evaluator_names, *(f"{name}.{f}" for name in evaluator_names for f in ("mean", "pass_rate")),
                      *SUMMARY_FIGURES]
        close = difflib.get_close_matches(gate.metric, candidates, n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise GateError(f"--fail-{gate.direction} names `{gate.metric}`, which is no evaluator of eval.yaml and no "
                        f"run figure; {hint}metrics: {', '.join(candidates)}")


def metric_names(metrics: dict, summary: dict) -> list[str]:
    names = []
    for evaluator, figures in metrics.items():
        names.append(evaluator)
        for key, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                names.append(f"{evaluator}.{key}")
        for label, per_class in (figures.get("per_class") or {}).items():
            names.extend(f"{evaluator}.per_class.{label}.{k}" for k in per_class)
    names.extend(k for k, v in summary.items() if isinstance(v, (int, float)) or v is None)
    return names


def lookup_metric(metric: str, metrics: dict, summary: dict) -> tuple[bool, Any]:
    """(found, value). A bare evaluator name is its mean."""
    if metric in summary:
        return True, summary[metric]
    if metric in metrics:
        return True, metrics[metric].get("mean")
    head, _, rest = metric.partition(".")
    if head not in metrics or not rest:
        return False, None
    value: Any = metrics[head]
    parts = rest.split(".")
    # per-class labels may contain dots: take the longest label that matches
    index = 0
    while index < len(parts):
        if not isinstance(value, dict):
            return False, None
        for end in range(len(parts), index, -1):
            key = ".".join(parts[index:end])
            if key in value:
                value = value[key]
                index = end
                break
        else:
            return False, None
    return True, value


def evaluate_gates(gates: list[Gate], metrics: dict, summary: dict) -> list[GateOutcome]:
    outcomes = []
    for gate in gates:
        found, value = lookup_metric(gate.metric, metrics, summary)
        if not found:
            known = ", ".join(metric_names(metrics, summary)[:40])
            raise GateError(f"--fail-{gate.direction} names `{gate.metric}`, which this evaluation does not have; "
                            f"metrics: {known}")
        if value is not None and not isinstance(value, (int, float)):
            raise GateError(f"`{gate.metric}` is not a number (it is {type(value).__name__}); name one figure, "
                            f"e.g. {gate.metric}.mean")
        if value is None:
            passed = False  # nothing could be measured: the gate cannot be met
        elif gate.direction == "under":
            passed = value >= gate.limit
        else:
            passed = value <= gate.limit
        outcomes.append(GateOutcome(gate, None if value is None else float(value), passed))
    return outcomes
