"""`eval.yaml`, the evaluation beside a flow: data, evaluators, their column mapping, thresholds.

    data: data.jsonl
    judge: {model: gpt-4o-mini, connection: local}     # defaults for LLM judges (optional)
    evaluators:
      - name: category_match
        type: exact_match
        inputs: {prediction: ${run.outputs.category}, reference: ${data.expected_category}}
        threshold: 1.0
      - name: no_pii
        type: pii
        inputs: {text: ${run.outputs.summary}}

Keys of an evaluator entry other than name/type/inputs/threshold are its options (`pattern`,
`schema`, `repeat`, `model`, `function` ...). `${...}` may be written unquoted even inside
`{...}` flow mappings, where YAML would otherwise reject the braces. Problems carry exact
ranges (codes PW8xx), so the editor shows them as diagnostics and the CLI as `file:line`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.documents.source import Range  # before analysis: documents/__init__ imports analysis
from promptwise.analysis.problem import Problem, Severity  # noqa: E402,I001
from promptwise.documents.files import read_user_text
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlSequence, parse_yaml, to_python
from promptwise.evaluation.base import EvaluationError, Evaluator, canonical_inputs
from promptwise.evaluation.mapping import MappingError, references_in
from promptwise.evaluation.registry import EVALUATOR_TYPES, resolve_type

EVAL_FILE = "eval.yaml"
TOP_KEYS = ("data", "evaluators", "judge", "flow", "description", "column_mapping")
ENTRY_KEYS = ("name", "type", "inputs", "threshold")

# Codes (stable): PW801 file syntax/shape, PW802 unknown type, PW803 inputs, PW804 reference,
# PW805 option/threshold, PW806 data column missing, PW807 run output missing,
# PW810 row under threshold, PW811 row not evaluated.
_OPEN, _CLOSE = "\ue000", "\ue001"
_REF_BRACES = re.compile(r"\$\{([^{}\n]*)\}")


class EvalConfigError(EvaluationError):
    """eval.yaml cannot be used; the message lists each problem as file:line:col: what; what to do."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(format_problem(p) for p in problems))


def format_problem(problem: Problem) -> str:
    start = problem.range.start
    return f"{problem.path}:{start.line + 1}:{start.character + 1}: {problem.code} {problem.message}"


@dataclass
class EvaluatorSpec:
    name: str
    type: str
    inputs: dict[str, Any]  # canonical input name -> reference / literal
    threshold: float | None
    options: dict
    range: Range  # the entry in eval.yaml (its `name:` value when present)
    input_ranges: dict[str, Range] = field(default_factory=dict)


@dataclass
class EvalConfig:
    path: Path
    data: Path | None
    evaluators: list[EvaluatorSpec]
    judge: dict = field(default_factory=dict)
    flow: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def _protect(text: str) -> str:
    """Swap `${`/`}` for same-width private-use characters: YAML reads them as plain text."""
    return _REF_BRACES.sub(lambda m: f"${_OPEN}{m.group(1)}{_CLOSE}", text)


def _restore(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(f"${_OPEN}", "${").replace(_CLOSE, "}")
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, dict):
        return {_restore(k): _restore(v) for k, v in value.items()}
    return value


def _value(node: YamlNode | None) -> Any:
    return _restore(to_python(node))


def parse_eval_config(path: Path, text: str | None = None) -> tuple[EvalConfig, list[Problem]]:
    """Read eval.yaml (from `text` when given, for unsaved editor buffers). Never raises."""
    path = Path(path)
    problems: list[Problem] = []

    def problem(node_range: Range, code: str, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(Problem(path, node_range, severity, code, message))

    config = EvalConfig(path=path, data=None, evaluators=[])
    if text is None:
        try:
            text = read_user_text(path)  # regular files only, bounded in size
        except (OSError, UnicodeDecodeError) as error:
            problem(Range.empty(), "PW801", f"cannot read the evaluation file ({error}); check the path")
            return config, problems
    document = parse_yaml(_protect(text))
    for error in document.errors:
        problem(error.range, "PW801", f"{error.message}")
    root = document.root
    if root is None:
        if not document.errors:
            problem(Range.empty(), "PW801", "the evaluation file is empty; add `evaluators:` (a list)")
        return config, problems
    if not isinstance(root, YamlMapping):
        problem(root.range, "PW801", "eval.yaml must be a mapping with `evaluators:` (and optionally `data:`)")
        return config, problems
    for entry in root:
        if entry.key_text not in TOP_KEYS:
            problem(entry.key.range, "PW801", f"unknown key `{entry.key_text}`; eval.yaml takes {', '.join(TOP_KEYS)}")
    data_node = root.get("data")
    if data_node is not None:
        data = _value(data_node)
        if isinstance(data, str) and data:
            config.data = path.parent / data
        else:
            problem(data_node.range, "PW801", "`data` must be a file name (JSONL or CSV), relative to eval.yaml")
    flow_node = root.get("flow")
    if flow_node is not None and isinstance(_value(flow_node), str):
        config.flow = path.parent / _value(flow_node)
    judge_node = root.get("judge")
    if judge_node is not None:
        judge = _value(judge_node)
        if isinstance(judge, dict) and set(judge) <= {"model", "connection"}:
            config.judge = judge
        else:
            problem(judge_node.range, "PW801", "`judge` takes {model, connection}: the defaults for LLM-judged evaluators")
    evaluators = root.get("evaluators")
    if evaluators is None:
        problem(root.range if not len(root) else root.entries[0].key.range, "PW801",
                "no `evaluators:` list; add at least one evaluator (name, type, inputs)")
        return config, problems
    if not isinstance(evaluators, YamlSequence):
        problem(evaluators.range, "PW801", "`evaluators` must be a list of entries (- name: ..., type: ...)")
        return config, problems
    seen: dict[str, Range] = {}
    for item in evaluators:
        spec = _parse_entry(item, problem)
        if spec is None:
            continue
        if spec.name in seen:
            problem(spec.range, "PW801", f"two evaluators are called `{spec.name}`; give each a unique name")
            continue
        seen[spec.name] = spec.range
        config.evaluators.append(spec)
    if not evaluators.items:
        problem(evaluators.range, "PW801", "`evaluators` is empty; add at least one evaluator")
    return config, problems


def _parse_entry(item: YamlNode, problem) -> EvaluatorSpec | None:
    if not isinstance(item, YamlMapping):
        problem(item.range, "PW801", "each evaluator is a mapping with name, type and inputs")
        return None
    name_node, type_node = item.get("name"), item.get("type")
    name = _value(name_node) if name_node is not None else None
    where = name_node.range if name_node is not None else item.range
    if not isinstance(name, str) or not name:
        problem(where, "PW801", "this evaluator has no `name:`; add one (it names the metric in results)")
        return None
    written_type = _value(type_node) if type_node is not None else None
    if not isinstance(written_type, str):
        problem(where, "PW802", f"evaluator `{name}` has no `type:`; use one of {', '.join(sorted(EVALUATOR_TYPES))}")
        return None
    kind = resolve_type(written_type)
    if kind is None:
        suggestion = _closest(written_type, list(EVALUATOR_TYPES))
        hint = f"did you mean `{suggestion}`? " if suggestion else ""
        problem(type_node.range, "PW802",
                f"unknown evaluator type `{written_type}`; {hint}types: {', '.join(sorted(EVALUATOR_TYPES))}")
        return None
    cls = EVALUATOR_TYPES[kind]
    allowed_options = cls.options_allowed
    options = {}
    for entry in item:
        key = entry.key_text
        if key in ENTRY_KEYS:
            continue
        if key in allowed_options:
            options[key] = _value(entry.value)
        else:
            takes = ", ".join((*ENTRY_KEYS, *allowed_options))
            problem(entry.key.range, "PW805", f"evaluator `{name}` ({kind}) has no key `{key}`; it takes {takes}")
    threshold = None
    threshold_node = item.get("threshold")
    if threshold_node is not None:
        threshold = _value(threshold_node)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            problem(threshold_node.range, "PW805", f"threshold of `{name}` must be a number, got {threshold!r}")
            threshold = None
        else:
            threshold = float(threshold)
    inputs: dict[str, Any] = {}
    input_ranges: dict[str, Range] = {}
    inputs_node = item.get("inputs")
    if inputs_node is not None and not isinstance(inputs_node, YamlMapping):
        problem(inputs_node.range, "PW803", f"`inputs` of `{name}` must be a mapping: input name -> ${{data.x}} / ${{run.outputs.y}}")
        inputs_node = None
    written = {}
    if inputs_node is not None:
        for entry in inputs_node:
            written[entry.key_text] = entry
    spec_range = name_node.range if name_node is not None else item.range
    if kind in ("python", "flow"):
        # Their inputs are the function's parameters / the flow's inputs: checked when built.
        for key, entry in written.items():
            inputs[key] = _value(entry.value)
            input_ranges[key] = entry.value.range
    else:
        probe = _probe(cls)
        renames, unknown = canonical_inputs(probe, list(written))
        for key in unknown:
            accepted = ", ".join([*cls.required_inputs, *(f"{n} (optional)" for n in cls.optional_inputs)])
            problem(written[key].key.range, "PW803", f"`{name}` ({kind}) has no input `{key}`; it takes {accepted}")
        for key, canonical in renames.items():
            inputs[canonical] = _value(written[key].value)
            input_ranges[canonical] = written[key].value.range
        for required in cls.required_inputs:
            if required not in inputs:
                if required in cls.default_inputs:
                    inputs[required] = cls.default_inputs[required]
                    continue
                target = inputs_node.range if inputs_node is not None else spec_range
                problem(target, "PW803", f"`{name}` ({kind}) needs input `{required}`; map it, e.g. "
                                         f"`{required}: ${{run.outputs.answer}}` or `${{data.column}}`")
    for key, value in inputs.items():
        try:
            references_in(value)
        except MappingError as error:
            problem(input_ranges.get(key, spec_range), "PW804", str(error))
    return EvaluatorSpec(name, kind, inputs, threshold, options, spec_range, input_ranges)


class _Probe:
    """Stands in for an evaluator instance when only its class's input names matter."""

    def __init__(self, cls: type[Evaluator]) -> None:
        self.required_inputs = cls.required_inputs
        self.optional_inputs = cls.optional_inputs


_probe = _Probe


def _closest(word: str, choices: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def load_eval_config(path: Path) -> EvalConfig:
    """The CLI's entry: the config, or EvalConfigError listing every error."""
    config, problems = parse_eval_config(path)
    errors = [p for p in problems if p.severity == Severity.ERROR]
    if errors:
        raise EvalConfigError(errors)
    return config


def find_eval_config(flow_path: Path) -> Path | None:
    """eval.yaml beside a flow (the flow's folder, or the folder holding the flow file)."""
    folder = flow_path if flow_path.is_dir() else flow_path.parent
    for name in (EVAL_FILE, "eval.yml"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None
