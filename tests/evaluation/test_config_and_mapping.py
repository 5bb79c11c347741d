"""eval.yaml reading (with ranges and clear messages) and `${...}` column mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.evaluation.config import EvalConfigError, load_eval_config, parse_eval_config
from promptwise.evaluation.mapping import MappingError, MissingValue, parse_reference, resolve_value


def _parse(text: str, tmp_path: Path):
    return parse_eval_config(tmp_path / "eval.yaml", text)


def test_agreed_shape_with_unquoted_references_in_flow_mappings(tmp_path):
    config, problems = _parse(
        "data: data.jsonl\n"
        "judge: {model: gpt-4o, connection: azure}\n"
        "evaluators:\n"
        "  - name: category_match\n"
        "    type: exact_match\n"
        "    inputs: {prediction: ${run.outputs.category}, reference: ${data.expected_category}}\n"
        "    threshold: 1.0\n"
        "  - name: shape\n"
        "    type: regex\n"
        "    pattern: '^[a-z_]+$'\n"
        "    inputs:\n"
        "      prediction: ${run.outputs.category}\n", tmp_path)
    assert problems == []
    assert config.data == tmp_path / "data.jsonl" and config.judge == {"model": "gpt-4o", "connection": "azure"}
    first, second = config.evaluators
    assert first.inputs == {"prediction": "${run.outputs.category}", "reference": "${data.expected_category}"}
    assert first.threshold == 1.0
    assert first.input_ranges["reference"].start.line == 5
    assert second.options == {"pattern": "^[a-z_]+$"}


def test_input_aliases_map_to_canonical_names(tmp_path):
    config, problems = _parse(
        "evaluators:\n"
        "  - {name: f, type: fluency, inputs: {prediction: '${run.outputs.a}'}}\n"
        "  - {name: p, type: pii, inputs: {prediction: '${run.outputs.a}'}}\n"
        "  - {name: s, type: similarity, inputs: {answer: '${run.outputs.a}', reference: '${data.b}'}}\n", tmp_path)
    assert problems == []
    assert [e.inputs for e in config.evaluators] == [
        {"response": "${run.outputs.a}"}, {"text": "${run.outputs.a}"},
        {"response": "${run.outputs.a}", "ground_truth": "${data.b}"}]


def test_run_figures_need_no_mapping(tmp_path):
    config, problems = _parse("evaluators:\n  - {name: lat, type: latency, threshold: 2000}\n", tmp_path)
    assert problems == [] and config.evaluators[0].inputs == {"value": "${run.latency_ms}"}


@pytest.mark.parametrize(
    "text, code, line, words",
    [
        ("evaluators: [\n", "PW801", 1, ""),
        ("data: data.jsonl\n", "PW801", 0, "no `evaluators:`"),
        ("evaluators:\n  - {type: exact_match}\n", "PW801", 1, "no `name:`"),
        ("evaluators:\n  - {name: a, type: rouge_x}\n", "PW802", 1, "did you mean `rouge_l`"),
        ("evaluators:\n  - {name: a, type: bleu, inputs: {prediction: x}}\n", "PW803", 1, "needs input `reference`"),
        ("evaluators:\n  - {name: a, type: bleu, inputs: {prediction: x, reference: y, extra: z}}\n", "PW803", 1,
         "has no input `extra`"),
        ("evaluators:\n  - {name: a, type: json_valid, inputs: {prediction: '${inputs.x}'}}\n", "PW804", 1,
         "references start with `data.` or `run.`"),
        ("evaluators:\n  - {name: a, type: json_valid, threshold: high, inputs: {prediction: x}}\n", "PW805", 1,
         "must be a number"),
        ("evaluators:\n  - {name: a, type: json_valid, colour: red, inputs: {prediction: x}}\n", "PW805", 1,
         "has no key `colour`"),
        ("evaluators:\n  - {name: a, type: json_valid, inputs: {prediction: x}}\n"
         "  - {name: a, type: json_valid, inputs: {prediction: x}}\n", "PW801", 2, "unique name"),
        ("evaluatorz: []\n", "PW801", 0, "unknown key `evaluatorz`"),
    ],
)
def test_problems(tmp_path, text, code, line, words):
    _, problems = _parse(text, tmp_path)
    match = [p for p in problems if p.code == code]
    assert match, problems
    assert match[0].range.start.line == line
    assert words in match[0].message


def test_load_raises_with_file_and_line(tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("evaluators:\n  - {name: a, type: nope}\n", encoding="utf-8")
    with pytest.raises(EvalConfigError) as info:
        load_eval_config(path)
    assert str(info.value).startswith(f"{path}:2:")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("${data.question}", "Q?"),
        ("${run.outputs.answer}", {"city": "Paris", "docs": ["a", "b"]}),
        ("${run.outputs.answer.city}", "Paris"),
        ("${run.outputs.answer.docs.1}", "b"),
        ("${run.latency_ms}", 120.5),
        ("Q: ${data.question} A: ${run.outputs.answer.city}", "Q: Q? A: Paris"),
        (["${data.question}", 3], ["Q?", 3]),
        ("literal", "literal"),
        (0.5, 0.5),
    ],
)
def test_resolve(value, expected):
    context = {"data": {"question": "Q?"},
               "run": {"outputs": {"answer": {"city": "Paris", "docs": ["a", "b"]}}, "latency_ms": 120.5}}
    assert resolve_value(value, context) == expected


def test_resolve_missing_names_what_exists():
    with pytest.raises(MissingValue, match=r"no `data.expected` in this row \(it has: question\)"):
        resolve_value("${data.expected}", {"data": {"question": "Q?"}, "run": None})
    with pytest.raises(MissingValue, match="the run has no outputs for this row"):
        resolve_value("${run.outputs.a}", {"data": {}, "run": {"outputs": None}})


@pytest.mark.parametrize("text", ["inputs.x", "run.foo", "data..x", "node.output"])
def test_bad_references(text):
    with pytest.raises(MappingError):
        parse_reference(text)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PIECES = ["evaluators:", "\n", "  - ", "name: a", "type: bleu", "type: python", "inputs: {", "}", "prediction: ",
          "${run.outputs.x}", "${data.y}", "${", "threshold: ", "2", "[", "]", ": ", "- ", "    ", "data: d.jsonl",
          "judge: 3", "&a ", "*a", "'", '"', "\t", "{}", "null"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_parse_never_raises(pieces):
    config, problems = parse_eval_config(Path("eval.yaml"), "".join(pieces))
    assert all(p.code.startswith("PW80") for p in problems)
    assert all(spec.name and spec.type for spec in config.evaluators)
