"""`promptwise compare`: runs side by side, deltas, changed verdicts, the HTML report, and
`--variants NODE` running every variant of a node on the same data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from promptwise.cli import main

from capitals_project import DATA, jsonl, write_capitals_flow

VARIANT_FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: "${answer.output}"}
nodes:
- name: answer
  use_variants: true
node_variants:
  answer:
    default_variant_id: plain
    variants:
      plain:
        node:
          type: llm
          source: {type: code, path: answer.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          connection: fake
          api: chat
      terse:
        node:
          type: llm
          source: {type: code, path: terse.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          connection: fake
          api: chat
"""
EVAL = """\
data: data.jsonl
evaluators:
  - name: correct
    type: exact_match
    inputs: {prediction: ${run.outputs.answer}, reference: ${data.expected}}
  - name: fluent
    type: fluency
    inputs: {response: ${run.outputs.answer}}
"""


@pytest.fixture
def variant_flow(workspace_dir: Path, fake_server) -> Path:
    folder = write_capitals_flow(workspace_dir, VARIANT_FLOW, EVAL)
    (folder / "terse.jinja2").write_text("system:\nOne word.\nuser:\nTERSE {{question}}\n", encoding="utf-8")
    fake_server.add_rule(r"RESPONSE: Madrid", '{"score": 5, "reason": "Fluent."}')
    fake_server.add_rule(r"RESPONSE:", '{"score": 4, "reason": "Fine."}')
    fake_server.add_rule(r"TERSE .*Spain", "Madrid")
    fake_server.add_rule(r"TERSE .*Japan", "Kyoto")
    for country, city in [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Barcelona"), ("Japan", "Tokyo")]:
        fake_server.add_rule(rf"capital of {country}", city)
    return folder


def test_compare_two_runs_text_json_and_html(variant_flow, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(variant_flow.parent)
    for name, variant in (("plain1", "plain"), ("terse1", "terse")):
        assert main(["eval", str(variant_flow), "--name", name, "--variant", f"answer={variant}"]) == 0
    capsys.readouterr()
    report = tmp_path / "report" / "compare.html"
    assert main(["compare", "plain1", "terse1", "--format", "json", "--html", str(report)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["variants"] for r in data["runs"]] == [{"answer": "plain"}, {"answer": "terse"}]
    correct = next(m for m in data["metrics"] if m["metric"] == "correct.mean")
    assert correct["values"] == [0.75, 0.75]  # Spain fixed, Japan broken
    fluent = next(m for m in data["metrics"] if m["metric"] == "fluent.mean")
    assert fluent["deltas"][1] == pytest.approx(0.25) and fluent["verdicts"] == ["same", "better"]
    changed = {(c["line"], c["evaluator"]): c["passed"] for c in data["changed_rows"]}
    assert changed == {(2, "correct"): [False, True], (3, "correct"): [True, False]}
    assert data["same_data"] is True

    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "Cost vs quality" in page and "Rows that changed verdict (2)" in page
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)  # each chart is well-formed XML

    assert main(["compare", "plain1", "terse1"]) == 0
    text = capsys.readouterr().out
    assert "fluent.mean" in text and "(+0.25, better)" in text
    assert "row 2 (data line 3) correct: fail → pass" in text


def test_compare_variants_of_a_node(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    assert main(["compare", "--variants", "answer", "--flow", str(variant_flow), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["variants"] for r in data["runs"]] == [{"answer": "plain"}, {"answer": "terse"}]
    assert len(data["changed_rows"]) == 2


def test_compare_errors(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    assert main(["compare", "only-one"]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["eval", str(variant_flow), "--name", "r1"]) == 0
    capsys.readouterr()
    assert main(["compare", "r1", "nope"]) == 2
    assert "no run or evaluation named `nope`; evaluated runs: r1" in capsys.readouterr().err
    assert main(["compare", "--variants", "missing", "--flow", str(variant_flow)]) == 2
    assert "node `missing` has no variants (nodes with variants: answer)" in capsys.readouterr().err


def _errors(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_compare_names_that_cannot_be_compared(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    assert main(["eval", str(variant_flow), "--name", "plain1", "--variant", "answer=plain"]) == 0
    assert main(["batch", str(variant_flow), "--data", str(variant_flow / "data.jsonl"), "--name", "unscored"]) == 0
    capsys.readouterr()
    assert main(["compare", "plain1", "plian1"]) == 2  # a typo: the near name is offered
    assert "no run or evaluation named `plian1`; did you mean `plain1`? evaluated runs: plain1" in _errors(capsys)
    assert main(["compare", "plain1", "unscored"]) == 2  # a run, but never evaluated
    assert ("run `unscored` has no evaluation yet; evaluate it first with `promptwise eval --run unscored`"
            in _errors(capsys))
    assert main(["compare", "plain1"]) == 2
    assert "compare needs at least two runs, got only `plain1`" in _errors(capsys)
    assert main(["compare", "plain1", "plain1"]) == 2
    assert "`plain1` is named more than once" in _errors(capsys)
    assert main(["compare", "plain1", "plain1.eval1"]) == 2
    assert "`plain1` and `plain1.eval1` are the same evaluation (plain1.eval1)" in _errors(capsys)
    assert main(["compare", "plain1", "plian1", "nope2"]) == 2  # every unknown name at once
    err = _errors(capsys)
    assert "`plian1`" in err and "`nope2`" in err
    assert main(["compare", "a", "b", "--workspace", str(variant_flow / "missing")]) == 2
    assert "no such folder" in _errors(capsys)


def test_compare_runs_with_different_evaluators(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    assert main(["eval", str(variant_flow), "--name", "both", "--variant", "answer=plain"]) == 0
    (variant_flow / "eval.yaml").write_text(EVAL.split("  - name: fluent")[0], encoding="utf-8")
    assert main(["eval", str(variant_flow), "--name", "correct_only", "--variant", "answer=terse"]) == 0
    capsys.readouterr()
    assert main(["compare", "both", "correct_only", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fluent = next(m for m in data["metrics"] if m["metric"] == "fluent.mean")
    assert fluent["values"][1] is None and fluent["verdicts"][1] == "n/a"
    # a missing evaluator is one note, not a "changed verdict" on every row
    assert {c["evaluator"] for c in data["changed_rows"]} == {"correct"}
    assert any("`fluent` was evaluated only in both" in n for n in data["notes"])
    assert main(["compare", "both", "correct_only"]) == 0
    text = capsys.readouterr().out
    assert "note: `fluent` was evaluated only in both" in text and "fluent: pass → n/a" not in text


def test_compare_runs_on_different_data_and_row_counts(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    short = variant_flow / "short.jsonl"
    short.write_text(jsonl(DATA[:2]), encoding="utf-8")
    assert main(["eval", str(variant_flow), "--name", "full"]) == 0
    assert main(["eval", str(variant_flow), "--name", "half", "--data", str(short)]) == 0
    capsys.readouterr()
    assert main(["compare", "full", "half"]) == 0
    text = capsys.readouterr().out
    assert ("note: the runs used different data files (full: data.jsonl, half: short.jsonl; rows full: 4, half: 2)"
            in text)
    assert "rows that changed verdict" not in text


def test_same_data_with_different_row_counts_compares_common_rows():
    from promptwise.evaluation.base import Score
    from promptwise.evaluation.compare import Column, compare_columns
    from promptwise.evaluation.results_store import StoredEvaluation
    from promptwise.evaluation.runner import RowScores

    def column(run: str, verdicts: list[bool]) -> Column:
        evaluators = [{"name": "ok", "type": "exact_match", "threshold": 1.0, "higher_is_better": True}]
        rows = [RowScores(i, {"ok": Score(float(v), v)}, i + 1) for i, v in enumerate(verdicts)]
        record = StoredEvaluation(f"{run}.eval1", run, "flow", None, "/d/data.jsonl", 0.0, evaluators,
                                  {"ok": {"mean": sum(verdicts) / len(verdicts)}}, {"rows": len(rows)})
        return Column(run, run, record.name, {}, record.data, record, rows)

    comparison = compare_columns([column("all", [True, True, False]), column("partial", [True, False])])
    assert comparison.same_data
    assert [(c.line, c.verdicts) for c in comparison.changed] == [(1, [True, False])]  # not row 2: partial lacks it
    assert comparison.notes == ["the runs have different row counts (all: 3, partial: 2); rows are compared where "
                                "every run has them (2)"]


def test_compare_variants_of_a_node_with_one_variant(variant_flow, capsys, monkeypatch):
    monkeypatch.chdir(variant_flow.parent)
    text = (variant_flow / "flow.dag.yaml").read_text(encoding="utf-8")
    (variant_flow / "flow.dag.yaml").write_text(text.split("      terse:")[0], encoding="utf-8")
    assert main(["compare", "--variants", "answer", "--flow", str(variant_flow)]) == 2
    assert "node `answer` has only one variant (plain)" in _errors(capsys)
