"""Custom evaluators: a Python function (module:function) and a whole evaluation flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.evaluation.base import EvaluatorConfigError
from promptwise.evaluation.custom import PythonFunction
from test_eval_end_to_end import flow_dir  # noqa: F401  (fixture)

FUNCTIONS = '''
def starts_upper(prediction):
    return prediction[:1].isupper()

def length_ratio(prediction, reference, cap=2.0):
    return {"score": min(cap, len(prediction) / max(1, len(reference))), "reason": f"{len(prediction)} chars"}

async def async_check(prediction):
    return 0.5

def explodes(prediction):
    raise ValueError("no good")

def wrong_type(prediction):
    return "yes"
'''

EVAL_FLOW = """\
inputs:
  answer: {type: string}
  expected: {type: string}
outputs:
  score: {type: double, reference: "${grade.output.score}"}
  reason: {type: string, reference: "${grade.output.reason}"}
nodes:
- name: grade
  type: python
  source: {type: code, path: grade.py}
  inputs: {answer: "${inputs.answer}", expected: "${inputs.expected}"}
"""
GRADE = '''
from promptflow.core import tool

@tool
def grade(answer: str, expected: str) -> dict:
    same = answer.strip().lower() == expected.strip().lower()
    return {"score": 5 if same else 1, "reason": "same city" if same else f"{answer} is not {expected}"}
'''


@pytest.fixture
def functions(tmp_path: Path) -> Path:
    (tmp_path / "my_evals.py").write_text(FUNCTIONS, encoding="utf-8")
    return tmp_path


def _function(base: Path, name: str, **kwargs) -> PythonFunction:
    return PythonFunction("f", options={"function": f"my_evals:{name}"}, base_dir=base, **kwargs)


async def test_function_shapes(functions):
    evaluator = _function(functions, "starts_upper")
    assert evaluator.required_inputs == ("prediction",)
    assert (await evaluator.ascore({"prediction": "Paris"})).value == 1.0
    ratio = _function(functions, "length_ratio", threshold=0.5)
    assert ratio.required_inputs == ("prediction", "reference") and ratio.optional_inputs == ("cap",)
    score = await ratio.ascore({"prediction": "ab", "reference": "abcd"})
    assert score.value == 0.5 and score.passed is True and score.reason == "2 chars"
    assert (await _function(functions, "async_check").ascore({"prediction": "x"})).value == 0.5


async def test_function_failures_are_recorded(functions):
    failed = await _function(functions, "explodes").ascore({"prediction": "x"})
    assert failed.value is None and failed.error == "ValueError: no good"
    wrong = await _function(functions, "wrong_type").ascore({"prediction": "x"})
    assert wrong.value is None and "return a number" in wrong.error


@pytest.mark.parametrize("reference, message", [
    ("my_evals", "must look like module:function"),
    ("missing_module:f", "no module 'missing_module'"),
    ("my_evals:nope", "has no function 'nope'"),
])
def test_function_config_errors(functions, reference, message):
    with pytest.raises(EvaluatorConfigError, match=message):
        PythonFunction("f", options={"function": reference}, base_dir=functions)


def _write_grader(flow_dir: Path) -> None:
    """grader/: the evaluation flow the eval.yaml files below name with `flow: grader`."""
    grader = flow_dir / "grader"
    grader.mkdir()
    (grader / "flow.dag.yaml").write_text(EVAL_FLOW, encoding="utf-8")
    (grader / "grade.py").write_text(GRADE, encoding="utf-8")


def test_function_and_flow_evaluators_in_an_evaluation(flow_dir, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(flow_dir.parent)
    (flow_dir / "my_evals.py").write_text(FUNCTIONS, encoding="utf-8")
    _write_grader(flow_dir)
    (flow_dir / "eval.yaml").write_text(
        "data: data.jsonl\n"
        "evaluators:\n"
        "  - name: upper\n"
        "    type: python\n"
        "    function: my_evals:starts_upper\n"
        "    inputs: {prediction: ${run.outputs.answer}}\n"
        "    threshold: 1\n"
        "  - name: graded\n"
        "    type: flow\n"
        "    flow: grader\n"
        "    inputs: {answer: ${run.outputs.answer}, expected: ${data.expected}}\n"
        "    threshold: 3\n", encoding="utf-8")
    assert main(["eval", str(flow_dir), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["upper"]["mean"] == 1.0
    assert out["metrics"]["graded"]["mean"] == pytest.approx((5 + 5 + 1 + 5) / 4)
    spain = next(r for r in out["rows"] if r["line"] == 2)
    assert spain["scores"]["graded"]["reason"] == "Barcelona is not Madrid"


def test_flow_evaluator_input_mismatch_is_caught_before_running(flow_dir, fake_server, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(flow_dir.parent)
    _write_grader(flow_dir)
    (flow_dir / "eval.yaml").write_text(
        "data: data.jsonl\nevaluators:\n  - name: graded\n    type: flow\n    flow: grader\n"
        "    inputs: {answer: ${run.outputs.answer}}\n", encoding="utf-8")
    assert main(["eval", str(flow_dir)]) == 2
    assert "`graded` needs input(s) expected" in capsys.readouterr().err
    assert fake_server.stats.requests == 0
