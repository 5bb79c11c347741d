"""Evaluator types by name, and building configured evaluators from eval.yaml entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.evaluation.base import Evaluator
from promptwise.evaluation.classification import Classification
from promptwise.evaluation.computed import (
    Bleu,
    Contains,
    Cost,
    ExactMatch,
    JsonSchema,
    JsonValid,
    Latency,
    RegexMatch,
    RougeL,
    TokenF1,
    Tokens,
)
from promptwise.evaluation.custom import PythonFunction
from promptwise.evaluation.flow_evaluator import FlowEvaluator
from promptwise.evaluation.judges import JUDGES, LlmJudge
from promptwise.evaluation.safety import InjectionEvaluator, PiiEvaluator, SecretsEvaluator

EVALUATOR_TYPES: dict[str, type[Evaluator]] = {
    cls.kind: cls
    for cls in (
        ExactMatch, Contains, RegexMatch, JsonValid, JsonSchema, TokenF1, Bleu, RougeL,
        Latency, Tokens, Cost, Classification,
        *JUDGES,
        PiiEvaluator, SecretsEvaluator, InjectionEvaluator,
        PythonFunction, FlowEvaluator,
    )
}

# Names people reach for, from other tools: accepted and mapped to ours.
TYPE_ALIASES = {
    "exact": "exact_match", "equals": "exact_match", "f1": "f1_score", "token_f1": "f1_score",
    "rouge": "rouge_l", "rougeL": "rouge_l", "rouge-l": "rouge_l", "json": "json_valid",
    "regex_match": "regex", "json_schema_valid": "json_schema", "injection": "prompt_injection",
    "secret": "secrets", "function": "python", "custom": "python", "evaluation_flow": "flow",
}


def resolve_type(name: str) -> str | None:
    if name in EVALUATOR_TYPES:
        return name
    return TYPE_ALIASES.get(name)


@dataclass
class BuildContext:
    base_dir: Path  # the eval.yaml's folder: relative paths (schema_file, prompty, function) start here
    judge_transport: Any = None
    judge_defaults: dict = field(default_factory=dict)  # eval.yaml's `judge: {model, connection}`
    flow_runner: Any = None  # runs an evaluation flow on one row (the engine's)


PATH_OPTIONS = ("schema_file", "prompty", "flow")


def build_evaluator(kind: str, name: str, threshold: float | None, options: dict, context: BuildContext) -> Evaluator:
    options = dict(options)
    for key in PATH_OPTIONS:
        if isinstance(options.get(key), str) and not Path(options[key]).is_absolute():
            options[key] = str(context.base_dir / options[key])
    cls = EVALUATOR_TYPES[kind]
    if cls is FlowEvaluator:
        return FlowEvaluator(name, threshold, options, runner=context.flow_runner)
    if issubclass(cls, LlmJudge):
        for key in ("model", "connection"):
            if key not in options and context.judge_defaults.get(key):
                options[key] = context.judge_defaults[key]
        return cls(name, threshold, options, transport=context.judge_transport)
    if cls is PythonFunction:
        return PythonFunction(name, threshold, options, base_dir=context.base_dir)
    return cls(name, threshold, options)


def describe_types() -> list[dict]:
    """For `promptwise eval --list` and editor completion."""
    rows = []
    for kind, cls in sorted(EVALUATOR_TYPES.items()):
        if cls in (PythonFunction, FlowEvaluator):
            what = "the function's parameters" if cls is PythonFunction else "the evaluation flow's inputs"
            rows.append({"type": kind, "inputs": [f"({what})"], "threshold": None, "higher_is_better": True,
                         "options": list(cls.options_allowed), "description": cls.description})
            continue
        rows.append({"type": kind, "inputs": list(cls.required_inputs) + [f"{n}?" for n in cls.optional_inputs],
                     "threshold": cls.default_threshold, "higher_is_better": cls.higher_is_better,
                     "options": list(cls.options_allowed), "description": cls.description})
    return rows
