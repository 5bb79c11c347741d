"""`promptwise compare`: runs side by side, deltas, changed verdicts, the HTML report, and
`--variants NODE` running every variant of a node on the same data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from promptwise.cli import main
from test_eval_end_to_end import DATA, TEMPLATE

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
    folder = workspace_dir / "capitals"
    folder.mkdir()
    (folder / "flow.dag.yaml").write_text(VARIANT_FLOW, encoding="utf-8")
    (folder / "answer.jinja2").write_text(TEMPLATE, encoding="utf-8")
    (folder / "terse.jinja2").write_text("system:\nOne word.\nuser:\nTERSE {{question}}\n", encoding="utf-8")
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in DATA), encoding="utf-8")
    (folder / "eval.yaml").write_text(EVAL, encoding="utf-8")
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
    assert "`nope` is neither an evaluated run nor an evaluation" in capsys.readouterr().err
    assert main(["compare", "--variants", "missing", "--flow", str(variant_flow)]) == 2
    assert "node `missing` has no variants (nodes with variants: answer)" in capsys.readouterr().err
