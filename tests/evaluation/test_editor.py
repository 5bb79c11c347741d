"""Editor data from the run store: lenses over flow, nodes and variants; dataset diagnostics;
eval.yaml problems with ranges."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptwise.analysis.problem import Severity
from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.devtools.fake_openai import Rule
from promptwise.evaluation import check_eval_file, dataset_diagnostics, latest_results_for
from test_compare import variant_flow  # noqa: F401  (fixture)


def _evaluate(folder: Path, name: str, variant: str, *extra: str) -> None:
    assert main(["eval", str(folder), "--name", name, "--variant", f"answer={variant}", "--format", "json",
                 *extra]) == 0


def test_no_store_no_lenses(tmp_path):
    (tmp_path / "flow.dag.yaml").write_text("inputs: {}\noutputs: {}\nnodes: []\n", encoding="utf-8")
    assert latest_results_for(tmp_path / "flow.dag.yaml") == []
    assert dataset_diagnostics(tmp_path / "data.jsonl") == []


def test_lenses_after_evaluations(variant_flow, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(variant_flow.parent)
    _evaluate(variant_flow, "plain1", "plain")
    _evaluate(variant_flow, "terse1", "terse")
    capsys.readouterr()
    flow_file = variant_flow / "flow.dag.yaml"
    lenses = latest_results_for(flow_file, load_workspace(variant_flow))
    by_owner = {(l.owner, l.name): l for l in lenses}
    flow_lens = by_owner[("flow", None)]
    # latest is the terse run: correct 0.75 (headline = first quality evaluator), 3 of 4 rows pass all
    assert flow_lens.run == "terse1"
    assert flow_lens.text.startswith("correct 0.75 · pass 75% · p95 ")
    assert flow_lens.text.endswith("/row")
    assert "row 3" in flow_lens.hover and "Kyoto" in flow_lens.hover
    node_lens = by_owner[("node", "answer")]
    lines = flow_file.read_text(encoding="utf-8").splitlines()
    assert "answer" in lines[node_lens.range.start.line]
    plain = by_owner[("variant", "answer.plain")]
    terse = by_owner[("variant", "answer.terse")]
    assert plain.run == "plain1" and terse.run == "terse1"
    assert lines[plain.range.start.line].strip().startswith("plain:")
    assert lines[terse.range.start.line].strip().startswith("terse:")

    # a third evaluation, of the plain variant again: its lens moves to the new run, terse keeps its own
    _evaluate(variant_flow, "plain2", "plain")
    capsys.readouterr()
    lenses = {(l.owner, l.name): l for l in latest_results_for(flow_file, load_workspace(variant_flow))}
    assert lenses[("variant", "answer.plain")].run == "plain2"
    assert lenses[("variant", "answer.terse")].run == "terse1"
    # the flow lens compares with the evaluation before (terse1): same figures, so no delta shown
    assert lenses[("flow", None)].run == "plain2" and lenses[("flow", None)].delta is None


def test_delta_against_previous_evaluation(variant_flow, fake_server, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(variant_flow.parent)
    _evaluate(variant_flow, "plain1", "plain")
    fake_server.rules.insert(0, Rule(re.compile("capital of Spain"), "Madrid"))  # the model got better
    _evaluate(variant_flow, "plain2", "plain", "--no-cache")
    capsys.readouterr()
    lenses = latest_results_for(variant_flow / "flow.dag.yaml")
    flow_lens = next(l for l in lenses if l.owner == "flow")
    assert flow_lens.text.startswith("correct 1 (+0.25) · pass 100% (+25%)")
    assert flow_lens.delta == "+0.25"


def test_dataset_diagnostics_on_failing_rows(variant_flow, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(variant_flow.parent)
    _evaluate(variant_flow, "plain1", "plain")
    capsys.readouterr()
    data = variant_flow / "data.jsonl"
    problems = dataset_diagnostics(data, load_workspace(variant_flow))
    assert len(problems) == 1
    problem = problems[0]
    assert problem.severity == Severity.INFORMATION and problem.code == "PW810"
    assert problem.range.start.line == 2  # Spain's row
    assert problem.range.end.character == len(data.read_text(encoding="utf-8").splitlines()[2])
    assert "correct 0 < threshold 1" in problem.message and "Barcelona" in problem.message


def test_check_eval_file_ranges(tmp_path):
    (tmp_path / "flow.dag.yaml").write_text(
        "inputs:\n  q: {type: string}\noutputs:\n  answer: {type: string, reference: '${n.output}'}\n"
        "nodes:\n- name: n\n  type: python\n  source: {type: code, path: n.py}\n  inputs: {q: '${inputs.q}'}\n",
        encoding="utf-8")
    (tmp_path / "data.jsonl").write_text(json.dumps({"q": "x", "expected": "y"}) + "\n", encoding="utf-8")
    text = ("data: data.jsonl\n"
            "evaluators:\n"
            "  - name: m\n"
            "    type: exact_macth\n"
            "  - name: n\n"
            "    type: exact_match\n"
            "    inputs: {prediction: ${run.outputs.answr}, reference: ${data.expectd}}\n"
            "  - name: k\n"
            "    type: fluency\n"
            "    inputs: {response: ${flow.x}}\n"
            "    treshold: 3\n")
    problems = check_eval_file(tmp_path / "eval.yaml", text)
    codes = sorted((p.code, p.range.start.line) for p in problems)
    assert codes == [("PW802", 3), ("PW804", 9), ("PW805", 10), ("PW806", 6), ("PW807", 6)]
    typo = next(p for p in problems if p.code == "PW802")
    assert "did you mean `exact_match`" in typo.message
    lines = text.splitlines()
    column = next(p for p in problems if p.code == "PW806")
    assert lines[6][column.range.start.character:column.range.end.character] == "${data.expectd}"
    assert "its columns are: expected, q" in column.message


def test_check_eval_file_builds_options(tmp_path):
    text = ("evaluators:\n"
            "  - name: shape\n"
            "    type: regex\n"
            "    pattern: '([a-z'\n"
            "    inputs: {prediction: x}\n"
            "  - name: judged\n"
            "    type: fluency\n"
            "    prompty: missing.prompty\n"
            "    inputs: {response: x}\n")
    problems = check_eval_file(tmp_path / "eval.yaml", text)
    assert [(p.code, p.range.start.line) for p in problems] == [("PW805", 1), ("PW805", 5)]
    assert "invalid regular expression" in problems[0].message
    assert "cannot read the judge prompt" in problems[1].message
