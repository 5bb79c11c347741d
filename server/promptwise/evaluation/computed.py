"""Computed evaluators: string matching, JSON, overlap metrics and the run's own figures.

BLEU and ROUGE-L call sacrebleu and rouge-score, the implementations the field reports
with, so a figure here is the figure a paper or leaderboard would show. Token F1 follows
the SQuAD evaluation script's normalisation (lower case, no punctuation, no articles).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from promptwise.common.extras import missing_extra, missing_modules
from promptwise.evaluation.base import Evaluator, EvaluatorConfigError, Score, as_text


def _references(value: Any) -> list[str]:
    """A reference may be one text or a list of acceptable texts."""
    if isinstance(value, (list, tuple)):
        return [as_text(item) for item in value] or [""]
    return [as_text(value)]


def _as_float(value: Any) -> float | None:
    """A number, or text that is exactly a number ("94.1", " 6842 "); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "")) if value.strip() else None
        except ValueError:
            return None
    return None


class ExactMatch(Evaluator):
    kind = "exact_match"
    description = ("1 when the prediction equals the reference (trimmed; optionally ignoring case); "
                   "numbers compare as numbers (6842 = 6842.0), within `tolerance` if given")
    required_inputs = ("prediction", "reference")
    default_threshold = 1.0
    options_allowed = ("ignore_case", "strip", "tolerance")

    def score(self, inputs: dict) -> Score:
        strip = self.options.get("strip", True)
        ignore_case = self.options.get("ignore_case", False)
        tolerance = float(self.options.get("tolerance", 0.0) or 0.0)

        def norm(text: str) -> str:
            text = text.strip() if strip else text
            return text.casefold() if ignore_case else text

        raw_prediction = inputs["prediction"]
        prediction = norm(as_text(raw_prediction))
        raw_references = inputs["reference"] if isinstance(inputs["reference"], (list, tuple)) else [inputs["reference"]]
        references = _references(inputs["reference"])
        number = _as_float(raw_prediction)
        matched = False
        for raw, reference in zip(raw_references or [""], references):
            other = _as_float(raw)
            if number is not None and other is not None:
                # a hair of slack for binary floats: 94.15 - 94.1 is 0.0500000000000114
                matched = abs(number - other) <= tolerance + 1e-9 * max(1.0, abs(number), abs(other))
            else:
                matched = prediction == norm(reference)
            if matched:
                break
        reason = "matches the reference" if matched else f"{prediction!r} differs from {references[0]!r}"
        return self.judged(1.0 if matched else 0.0, reason)


class Contains(Evaluator):
    kind = "contains"
    description = "1 when the prediction contains the reference text"
    required_inputs = ("prediction", "reference")
    default_threshold = 1.0
    options_allowed = ("ignore_case",)

    def score(self, inputs: dict) -> Score:
        prediction = as_text(inputs["prediction"])
        needles = _references(inputs["reference"])
        if self.options.get("ignore_case", False):
            prediction = prediction.casefold()
            needles = [n.casefold() for n in needles]
        found = [n for n in needles if n in prediction]
        if found:
            return self.judged(1.0, f"contains {found[0]!r}")
        return self.judged(0.0, f"does not contain {needles[0]!r}")


class RegexMatch(Evaluator):
    kind = "regex"
    description = "1 when the prediction matches `pattern` (search; `full_match: true` for the whole text)"
    required_inputs = ("prediction",)
    default_threshold = 1.0
    options_allowed = ("pattern", "ignore_case", "full_match")

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None) -> None:
        super().__init__(name, threshold, options)
        pattern = self.options.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise EvaluatorConfigError(f"evaluator `{name}` (regex) needs `pattern:` with a regular expression")
        try:
            self._pattern = re.compile(pattern, re.IGNORECASE if self.options.get("ignore_case") else 0)
        except re.error as error:
            raise EvaluatorConfigError(f"evaluator `{name}`: invalid regular expression {pattern!r} ({error})") from None

    def score(self, inputs: dict) -> Score:
        text = as_text(inputs["prediction"])
        match = (self._pattern.fullmatch if self.options.get("full_match") else self._pattern.search)(text)
        if match:
            return self.judged(1.0, f"matches /{self._pattern.pattern}/ at {match.start()}")
        return self.judged(0.0, f"no match for /{self._pattern.pattern}/")


def _parse_json(value: Any) -> tuple[Any, str | None]:
    """(parsed value, None) or (None, why it is not JSON)."""
    if isinstance(value, (dict, list)):
        return value, None  # the flow already returned structured data
    text = as_text(value)
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"


class JsonValid(Evaluator):
    kind = "json_valid"
    description = "1 when the prediction is valid JSON"
    required_inputs = ("prediction",)
    default_threshold = 1.0

    def score(self, inputs: dict) -> Score:
        _, problem = _parse_json(inputs["prediction"])
        return self.judged(0.0, problem) if problem else self.judged(1.0, "valid JSON")


class JsonSchema(Evaluator):
    kind = "json_schema"
    description = "1 when the prediction is JSON that conforms to `schema` (inline) or `schema_file`"
    required_inputs = ("prediction",)
    default_threshold = 1.0
    options_allowed = ("schema", "schema_file")

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None) -> None:
        super().__init__(name, threshold, options)
        _require_library(self, "jsonschema", "jsonschema", extra="schema")
        import jsonschema

        schema = self.options.get("schema")
        schema_file = self.options.get("schema_file")
        if schema is None and schema_file:
            try:
                schema = json.loads(Path(schema_file).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise EvaluatorConfigError(f"evaluator `{name}`: cannot read schema_file {schema_file} ({error})") from None
        if not isinstance(schema, dict):
            raise EvaluatorConfigError(f"evaluator `{name}` (json_schema) needs `schema:` (a mapping) or `schema_file:`")
        validator_class = jsonschema.validators.validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as error:
            raise EvaluatorConfigError(f"evaluator `{name}`: the schema is invalid ({error.message})") from None
        self._validator = validator_class(schema)

    def score(self, inputs: dict) -> Score:
        document, problem = _parse_json(inputs["prediction"])
        if problem:
            return self.judged(0.0, problem)
        errors = sorted(self._validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            return self.judged(1.0, "conforms to the schema")
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return self.judged(0.0, f"at {where}: {first.message}{more}", details={"errors": [e.message for e in errors[:10]]})


# ----- overlap metrics -----

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD's normalize_answer: lower case, drop punctuation and articles, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    prediction_tokens = squad_normalize(prediction).split()
    reference_tokens = squad_normalize(reference).split()
    if not prediction_tokens or not reference_tokens:
        # SQuAD 2.0's rule for no-answer: full marks only when both are empty.
        return float(prediction_tokens == reference_tokens)
    common = Counter(prediction_tokens) & Counter(reference_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(prediction_tokens)
    recall = same / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


class TokenF1(Evaluator):
    kind = "f1_score"
    description = "token F1 between prediction and reference, SQuAD normalisation (0-1; best over references)"
    required_inputs = ("prediction", "reference")

    def score(self, inputs: dict) -> Score:
        prediction = as_text(inputs["prediction"])
        value = max(token_f1(prediction, ref) for ref in _references(inputs["reference"]))
        return self.judged(value, f"token F1 {value:.3f}")


def _require_library(evaluator: Evaluator, module: str, package: str, extra: str = "metrics") -> None:
    """Say which extra brings the library an evaluator calls, when it is missing: sacrebleu and
    rouge-score come with `metrics` (they bring numpy, nltk, lxml...), jsonschema with `schema`."""
    if missing_modules(module):
        raise EvaluatorConfigError(missing_extra(f"evaluator `{evaluator.name}` ({evaluator.kind})", [package], extra))


class Bleu(Evaluator):
    kind = "bleu"
    description = "sacrebleu sentence BLEU (0-100, 13a tokenizer, exp smoothing); the run also gets corpus BLEU"
    required_inputs = ("prediction", "reference")
    options_allowed = ("tokenize", "lowercase")

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None) -> None:
        super().__init__(name, threshold, options)
        _require_library(self, "sacrebleu", "sacrebleu")

    def _kwargs(self) -> dict:
        return {"tokenize": self.options.get("tokenize", "13a"), "lowercase": bool(self.options.get("lowercase", False))}

    def score(self, inputs: dict) -> Score:
        import sacrebleu

        result = sacrebleu.sentence_bleu(as_text(inputs["prediction"]), _references(inputs["reference"]), **self._kwargs())
        return self.judged(float(result.score), f"BLEU {result.score:.2f} ({result.format(score_only=False)})")

    def aggregate(self, rows: list[tuple[dict, Score]]) -> dict:
        import sacrebleu

        usable = [inputs for inputs, score in rows if score.error is None]
        if not usable:
            return {}
        hypotheses = [as_text(inputs["prediction"]) for inputs in usable]
        references = [_references(inputs["reference"]) for inputs in usable]
        # sacrebleu wants one stream per reference position; rows with fewer references pad with None.
        depth = max(len(r) for r in references)
        streams = [[r[i] if i < len(r) else None for r in references] for i in range(depth)]
        return {"corpus_bleu": float(sacrebleu.corpus_bleu(hypotheses, streams, **self._kwargs()).score)}


class RougeL(Evaluator):
    kind = "rouge_l"
    description = "ROUGE-L from rouge-score (0-1; F-measure by default, Porter stemmer on)"
    required_inputs = ("prediction", "reference")
    options_allowed = ("use_stemmer", "measure")

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None) -> None:
        super().__init__(name, threshold, options)
        _require_library(self, "rouge_score", "rouge-score")
        from rouge_score import rouge_scorer

        self._measure = self.options.get("measure", "fmeasure")
        if self._measure not in ("fmeasure", "precision", "recall"):
            raise EvaluatorConfigError(f"evaluator `{name}`: measure must be fmeasure, precision or recall")
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=bool(self.options.get("use_stemmer", True)))

    def score(self, inputs: dict) -> Score:
        prediction = as_text(inputs["prediction"])
        best = None
        for reference in _references(inputs["reference"]):
            result = self._scorer.score(reference, prediction)["rougeL"]  # (target, prediction)
            if best is None or getattr(result, self._measure) > getattr(best, self._measure):
                best = result
        value = float(getattr(best, self._measure))
        return self.judged(value, f"ROUGE-L P {best.precision:.3f} R {best.recall:.3f} F {best.fmeasure:.3f}")


# ----- the run's own figures -----


def _number(value: Any, what: str) -> tuple[float | None, str | None]:
    if isinstance(value, bool) or value is None:
        return None, f"no {what} recorded for this row"
    try:
        return float(value), None
    except (TypeError, ValueError):
        return None, f"{what} is not a number: {value!r}"


class _RunFigure(Evaluator):
    """A figure the run recorded for the row, read from `value` (lower is better; the
    threshold is a maximum). Subclasses name the figure and say how to show it."""

    required_inputs = ("value",)
    higher_is_better = False
    figure: ClassVar[str] = ""  # what messages call it, e.g. "token count"

    def shown(self, value: float) -> str:
        raise NotImplementedError

    def score(self, inputs: dict) -> Score:
        value, problem = _number(inputs["value"], self.figure)
        return Score.failure(problem) if problem else self.judged(value, self.shown(value))


class Latency(_RunFigure):
    kind = "latency"
    description = ("the row's latency in milliseconds, a cached model call counted at its original latency (lower "
                   "is better; threshold is a maximum)")
    default_inputs = {"value": "${run.latency_ms}"}
    figure = "latency"

    def shown(self, value: float) -> str:
        return f"{value / 1000:.2f} s"


class Tokens(_RunFigure):
    kind = "tokens"
    description = "the row's total tokens (lower is better; threshold is a maximum)"
    default_inputs = {"value": "${run.tokens}"}
    figure = "token count"

    def shown(self, value: float) -> str:
        return f"{value:.0f} tokens"


class Cost(_RunFigure):
    kind = "cost"
    description = ("the row's cost in USD, a cached model call counted at its original price (lower is better; "
                   "threshold is a maximum)")
    default_inputs = {"value": "${run.cost}"}
    figure = "cost"

    def shown(self, value: float) -> str:
        from promptwise.costing.formatting import format_usd

        return format_usd(value)
