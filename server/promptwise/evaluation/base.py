"""The one interface every evaluator follows: named inputs in; score, verdict and reason out.

An evaluator is configured once (name, threshold, options) and then scores rows. A score
that could not be computed (a malformed judge answer, a missing value, a failing custom
function) is a `Score` with `error` set and `value` None: recorded with the row, counted as
an error in the aggregates, never a crash and never a silent zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar


class EvaluationError(Exception):
    """An evaluation cannot start or go on (bad eval.yaml, missing column, unknown run); the
    message names the file and line and says what to do. Nothing was called when it is raised
    before scoring."""


class EvaluatorConfigError(Exception):
    """An evaluator was configured wrongly (unknown option, bad threshold, bad pattern)."""


@dataclass
class Score:
    value: float | None
    passed: bool | None = None  # None: no threshold, or the score could not be computed
    reason: str = ""
    error: str | None = None  # why no value could be computed; the raw answer goes in details
    details: dict = field(default_factory=dict)
    cost: float = 0.0  # evaluation cost (judge calls), in USD
    tokens: int = 0  # evaluation tokens (judge calls)

    @classmethod
    def failure(cls, error: str, **details: Any) -> "Score":
        return cls(value=None, passed=None, error=error, details=dict(details))

    def to_json(self) -> dict:
        return {
            "value": self.value,
            "passed": self.passed,
            "reason": self.reason,
            "error": self.error,
            "details": self.details,
            "cost": self.cost,
            "tokens": self.tokens,
        }


class Evaluator:
    """Base class. Subclasses set `kind`, `required_inputs` and implement `score` (or `ascore`).

    `default_inputs` maps an input name to the reference it takes when eval.yaml does not map
    it (latency reads `${run.latency_ms}` unless told otherwise).
    """

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    required_inputs: ClassVar[tuple[str, ...]] = ()
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    default_inputs: ClassVar[dict[str, str]] = {}
    higher_is_better: ClassVar[bool] = True
    default_threshold: ClassVar[float | None] = None
    options_allowed: ClassVar[tuple[str, ...]] = ()
    # Evaluators that call a model (judges, evaluation flows) are scheduled concurrently.
    calls_model: ClassVar[bool] = False

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None) -> None:
        self.name = name
        self.threshold = self.default_threshold if threshold is None else float(threshold)
        self.options = dict(options or {})
        unknown = sorted(set(self.options) - set(self.options_allowed))
        if unknown:
            allowed = ", ".join(self.options_allowed) or "none"
            raise EvaluatorConfigError(
                f"evaluator `{name}` ({self.kind}) has no option {', '.join(unknown)}; options it takes: {allowed}"
            )

    # ----- scoring -----

    def score(self, inputs: dict) -> Score:
        raise NotImplementedError

    async def ascore(self, inputs: dict) -> Score:
        return self.score(inputs)

    def verdict(self, value: float | None) -> bool | None:
        """Pass/fail against the threshold; None when there is no threshold or no value."""
        if value is None or self.threshold is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value >= self.threshold if self.higher_is_better else value <= self.threshold

    def judged(self, value: float | None, reason: str = "", **kwargs: Any) -> Score:
        return Score(value=value, passed=self.verdict(value), reason=reason, **kwargs)

    # ----- run-level figures -----

    def aggregate(self, rows: list[tuple[dict, Score]]) -> dict:
        """Extra run-level figures beyond mean/pass rate (classification: accuracy, per class ...).

        `rows` pairs each row's resolved inputs with its score.
        """
        return {}


# Other names people give the same input (Prompt flow, azure-ai-evaluation, Ragas habits).
INPUT_ALIASES: dict[str, tuple[str, ...]] = {
    "prediction": ("response", "answer", "output"),
    "response": ("prediction", "answer", "output"),
    "text": ("prediction", "response", "output", "answer"),
    "reference": ("ground_truth", "expected", "label"),
    "ground_truth": ("reference", "expected"),
    "label": ("reference", "expected", "ground_truth"),
    "query": ("question",),
    "context": ("contexts", "documents"),
}


def canonical_inputs(evaluator: "Evaluator", given: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map the input names written in eval.yaml to the evaluator's own names.

    Returns ({written name: canonical name}, [names that fit nothing]).
    """
    accepted = list(evaluator.required_inputs) + list(evaluator.optional_inputs)
    renames: dict[str, str] = {}
    unknown: list[str] = []
    for name in given:
        if name in accepted:
            renames[name] = name
            continue
        targets = [c for c in accepted if name in INPUT_ALIASES.get(c, ()) and c not in given and c not in renames.values()]
        if targets:
            renames[name] = targets[0]
        else:
            unknown.append(name)
    return renames, unknown


def as_text(value: Any) -> str:
    """Evaluators compare text; outputs may be numbers, dicts or None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
