"""`promptwise eval` end to end: a small flow run through the engine against the fake server,
evaluated with eval.yaml, stored with the run, gated for CI, reported as JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.evaluation.results_store import EvalStore

from capitals_project import write_capitals_flow, write_city_prompty

FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: "${answer.output}"}
nodes:
- name: answer
  type: llm
  source: {type: code, path: answer.jinja2}
  inputs: {model: gpt-4o-mini, temperature: 0, question: "${inputs.question}"}
  connection: fake
  api: chat
"""
EVAL = """\
data: data.jsonl
evaluators:
  - name: correct
    type: exact_match
    inputs: {prediction: ${run.outputs.answer}, reference: ${data.expected}}
  - name: overlap
    type: f1_score
    inputs: {prediction: ${run.outputs.answer}, reference: ${data.expected}}
  - name: fluent
    type: fluency
    inputs: {response: ${run.outputs.answer}}
    threshold: 4
  - name: private
    type: pii
    inputs: {text: ${run.outputs.answer}}
  - name: speed
    type: latency
"""


@pytest.fixture
def flow_dir(workspace_dir: Path, fake_server) -> Path:
    folder = write_capitals_flow(workspace_dir, FLOW, EVAL)
    fake_server.add_rule(r"RESPONSE: Barcelona", '{"score": 2, "reason": "Wrong city, odd phrasing."}')
    fake_server.add_rule(r"RESPONSE: Tokyo", "I cannot rate this.")  # malformed judge answer
    fake_server.add_rule(r"RESPONSE:", '{"score": 5, "reason": "Fluent."}')
    fake_server.add_rule(r"capital of France", "Paris")
    fake_server.add_rule(r"capital of Italy", "Rome")
    fake_server.add_rule(r"capital of Spain", "Barcelona")
    fake_server.add_rule(r"capital of Japan", "Tokyo")
    return folder


def test_eval_flow_end_to_end(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    junit = flow_dir / "out" / "eval.xml"
    code = main(["eval", str(flow_dir), "--format", "json", "--junit", str(junit),
                 "--fail-under", "correct.pass_rate=0.5"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    metrics = out["metrics"]
    assert metrics["correct"]["mean"] == pytest.approx(0.75)
    assert metrics["correct"]["pass_rate"] == pytest.approx(0.75)
    assert metrics["fluent"]["errors"] == 1  # Tokyo's judge answer is unreadable: recorded, not zero
    assert metrics["fluent"]["mean"] == pytest.approx((5 + 5 + 2) / 3)
    assert metrics["fluent"]["pass_rate"] == pytest.approx(2 / 4)
    assert metrics["private"]["pass_rate"] == 1.0
    assert metrics["speed"]["count"] == 4 and metrics["speed"]["mean"] > 0
    assert out["summary"]["rows"] == 4 and out["summary"]["latency_p95_ms"] > 0
    assert out["summary"]["eval_cost"] > 0 and out["summary"]["cost_per_row"] > 0
    tokyo = next(r for r in out["rows"] if r["line"] == 3)
    assert tokyo["scores"]["fluent"]["details"]["raw"] == "I cannot rate this."
    assert tokyo["data_line"] == 4

    # stored with the run, in the workspace's one database
    workspace = load_workspace(flow_dir)
    with EvalStore.for_workspace(workspace, readonly=True) as store:
        stored = store.latest_for_run(out["run"])
        assert stored is not None and stored.name == out["evaluation"]
        assert stored.metrics["correct"]["mean"] == pytest.approx(0.75)
        rows = store.scores(stored.name)
        assert len(rows) == 4 and rows[2].scores["correct"].passed is False
    # evaluations live in the run store; traces have their own file (span writes never wait on runs)
    assert sorted(p.name for p in (workspace.state_dir).glob("*.sqlite")) == ["cache.sqlite", "runs.sqlite",
                                                                              "traces.sqlite"]

    # JUnit: one test case per row and evaluator, well-formed
    tree = ET.parse(junit)
    cases = tree.getroot().findall(".//testcase")
    assert len(cases) == 4 * 5
    assert tree.getroot().get("failures") == str(1 + 1)  # Spain: correct, fluent
    assert tree.getroot().get("errors") == "1"  # Tokyo's fluency


def test_eval_existing_run_and_gate_failure(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    assert main(["batch", str(flow_dir), "--data", str(flow_dir / "data.jsonl"), "--name", "capitals1"]) == 0
    capsys.readouterr()
    requests_before = fake_server.stats.requests
    code = main(["eval", "--run", "capitals1", "--fail-under", "correct=0.9", "--fail-over", "speed.p95=600000"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED: correct = 0.75 (required correct >= 0.9)" in out
    assert "ok: speed.p95" in out
    assert fake_server.stats.requests - requests_before == 4  # only the judge calls: the run is reused


def test_missing_column_is_an_error_before_any_call(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    (flow_dir / "eval.yaml").write_text(EVAL.replace("${data.expected}", "${data.expected_city}"), encoding="utf-8")
    code = main(["eval", str(flow_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no column `expected_city`" in err and "its columns are: expected, question" in err
    assert "eval.yaml:5" in err
    assert fake_server.stats.requests == 0


def test_unknown_run_output_is_an_error_before_any_call(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    (flow_dir / "eval.yaml").write_text(EVAL.replace("${run.outputs.answer}", "${run.outputs.city}"), encoding="utf-8")
    assert main(["eval", str(flow_dir)]) == 2
    err = capsys.readouterr().err
    assert "no output `city`; its outputs are: answer" in err
    assert fake_server.stats.requests == 0


def test_missing_column_says_did_you_mean(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    (flow_dir / "eval.yaml").write_text(EVAL.replace("${data.expected}", "${data.expectd}"), encoding="utf-8")
    assert main(["eval", str(flow_dir), "--data", str(flow_dir / "data.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no column `expectd`; did you mean ${data.expected}? its columns are: expected, question" in err
    assert "Traceback" not in err
    assert fake_server.stats.requests == 0


@pytest.mark.parametrize("typo, words", [
    ("${data.expected_city}", ["no column `expected_city`", "did you mean ${data.expected}?",
                               "its columns are: expected, question"]),
    ("${run.outputs.answr}", ["the run has no output `answr`", "did you mean ${run.outputs.answer}?",
                              "its outputs are: answer"]),
])
def test_missing_column_with_a_stored_run_is_an_error_before_any_call(flow_dir, fake_server, capsys, monkeypatch,
                                                                     typo, words):
    monkeypatch.chdir(flow_dir.parent)
    assert main(["batch", str(flow_dir), "--data", str(flow_dir / "data.jsonl"), "--name", "stored1"]) == 0
    capsys.readouterr()
    original = "${data.expected}" if typo.startswith("${data") else "${run.outputs.answer}"
    (flow_dir / "eval.yaml").write_text(EVAL.replace(original, typo), encoding="utf-8")
    requests_before = fake_server.stats.requests
    assert main(["eval", "--run", "stored1"]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert "eval.yaml:5" in err and "Traceback" not in err
    assert fake_server.stats.requests - requests_before == 0  # not one judge call


def test_unknown_run_says_did_you_mean(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    assert main(["batch", str(flow_dir), "--data", str(flow_dir / "data.jsonl"), "--name", "capitals1"]) == 0
    capsys.readouterr()
    before = fake_server.stats.requests
    assert main(["eval", "--run", "capitals2"]) == 2
    err = capsys.readouterr().err
    assert "--run capitals2: no such run" in err and "did you mean `capitals1`? recent runs: capitals1" in err
    assert fake_server.stats.requests == before


def test_gate_on_unknown_metric_lists_metrics(flow_dir, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    assert main(["eval", str(flow_dir), "--fail-under", "accuracy=0.9"]) == 2
    err = capsys.readouterr().err
    assert "names `accuracy`" in err and "correct.pass_rate" in err


def test_bad_gate_syntax_is_a_usage_error(flow_dir, capsys):
    assert main(["eval", str(flow_dir), "--fail-under", "correct"]) == 2
    assert "METRIC=VALUE" in capsys.readouterr().err


async def test_evaluate_for_editor(flow_dir):
    from promptwise.evaluation import evaluate_for_editor

    result = await evaluate_for_editor(flow_dir / "flow.dag.yaml")
    assert result["metrics"]["correct"]["mean"] == pytest.approx(0.75)
    again = await evaluate_for_editor(flow_dir, run=result["run"])
    assert again["run"] == result["run"] and again["evaluation"] == result["run"] + ".eval2"


def test_list_evaluator_types(capsys):
    assert main(["eval", "--list"]) == 0
    out = capsys.readouterr().out
    for kind in ("exact_match", "groundedness", "pii", "prompt_injection", "python", "flow", "classification"):
        assert kind in out


def test_judge_connection_problem_is_an_error_before_any_call(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    monkeypatch.delenv("JUDGE_KEY", raising=False)
    settings = flow_dir.parent / "promptwise.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") +
                        "  judge: {type: openai, api_key: '${env:JUDGE_KEY}'}\n", encoding="utf-8")
    (flow_dir / "eval.yaml").write_text(EVAL.replace("data: data.jsonl\n", "data: data.jsonl\njudge: {connection: judge}\n"),
                                        encoding="utf-8")
    assert main(["eval", str(flow_dir)]) == 2
    err = capsys.readouterr().err
    assert "`fluent`" in err and "JUDGE_KEY" in err and "eval.yaml:" in err
    assert fake_server.stats.requests == 0


def test_rows_that_failed_in_the_run_are_recorded_not_scored(flow_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(flow_dir.parent)
    fake_server.inject("server_error", count=None, match="capital of Italy", status=400)
    assert main(["eval", str(flow_dir), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    italy = next(r for r in out["rows"] if r["line"] == 1)
    assert italy["scores"]["correct"]["value"] is None
    assert italy["scores"]["correct"]["error"].startswith("the flow failed on this row")
    assert out["metrics"]["correct"]["errors"] == 1
    assert out["metrics"]["correct"]["pass_rate"] == pytest.approx(2 / 4)  # an unscored row does not pass
    assert out["summary"]["rows_failed_in_run"] == 1


def test_eval_a_prompty(workspace_dir, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(workspace_dir)
    folder = write_city_prompty(workspace_dir)
    fake_server.add_rule(r"capital of France", "Paris")
    assert main(["batch", str(folder / "city.prompty"), "--data", str(folder / "data.jsonl"), "--name", "p1",
                 "--format", "json"]) == 0
    capsys.readouterr()
    from promptwise.store.run_store import RunStore
    with RunStore.for_workspace(load_workspace(workspace_dir), readonly=True) as store:
        output_names = set(store.get_rows("p1")[0].outputs)
    (folder / "eval.yaml").write_text(
        "evaluators:\n  - name: correct\n    type: contains\n"
        f"    inputs: {{prediction: ${{run.outputs.{sorted(output_names)[0]}}}, reference: ${{data.expected}}}}\n",
        encoding="utf-8")
    assert main(["eval", "--run", "p1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["correct"]["passed"] == 1  # France; the other answers are echoes


def test_prompty_output_typo_is_an_error_before_the_run(workspace_dir, fake_server, capsys, monkeypatch):
    # A prompty's answer is `output` (text): a mapping to any other output cannot be read, and
    # running the prompt over the data first would spend calls for nothing.
    monkeypatch.chdir(workspace_dir)
    folder = write_city_prompty(workspace_dir)
    (folder / "eval.yaml").write_text(
        "evaluators:\n  - name: correct\n    type: contains\n"
        "    inputs: {prediction: ${run.outputs.ouput}, reference: ${data.expected}}\n", encoding="utf-8")
    assert main(["eval", str(folder / "city.prompty"), "--data", str(folder / "data.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "the run has no output `ouput`; did you mean ${run.outputs.output}? its outputs are: output" in err
    assert fake_server.stats.requests == 0
    (folder / "eval.yaml").write_text(
        "evaluators:\n  - name: correct\n    type: contains\n"
        "    inputs: {prediction: ${run.outputs.output}, reference: ${data.expected}}\n", encoding="utf-8")
    assert main(["eval", str(folder / "city.prompty"), "--data", str(folder / "data.jsonl"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["correct"]["count"] == 4
