"""`eval --models` walked as a demanding user would (issue 13 §3), through the real openai client
against the fake server.

- `--node NAME` naming no llm node (a python node, a typo, or any node of a prompty) is refused
  once, before the estimate; it used to print the estimate, then the same error once per model."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptwise.cli import main

from capitals_project import write_capitals_flow, write_city_prompty

from test_model_compare import EVAL, FLOW as ONE_NODE_FLOW

# One llm node, then a python node tidying its answer (a node --node cannot name).
FLOW = ONE_NODE_FLOW.replace('"${answer.output}"}\nnodes:', '"${tidy.output}"}\nnodes:') + """\
- name: tidy
  type: python
  source: {type: code, path: tidy.py}
  inputs: {text: "${answer.output}"}
"""
TIDY = "from promptflow.core import tool\n\n\n@tool\ndef tidy(text: str) -> str:\n    return text.strip()\n"


@pytest.fixture
def two_node_flow(workspace_dir: Path) -> Path:
    folder = write_capitals_flow(workspace_dir, FLOW, EVAL)
    (folder / "tidy.py").write_text(TIDY, encoding="utf-8")
    return folder


@pytest.mark.parametrize("node", ["tidy", "answr"])
def test_node_that_is_not_an_llm_node_is_refused_once_before_the_estimate(two_node_flow, fake_server, capsys,
                                                                          monkeypatch, node):
    monkeypatch.chdir(two_node_flow.parent)
    assert main(["eval", str(two_node_flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--node", node]) == 2
    out, err = capsys.readouterr()
    assert "Estimate over" not in out + err  # refused before pricing anything
    assert err.count(f"--node {node}: no llm node of that name") == 1
    assert "llm nodes: answer" in err
    assert fake_server.stats.requests == 0


def test_node_on_a_prompty_is_refused_once(workspace_dir, fake_server, capsys, monkeypatch):
    folder = write_city_prompty(workspace_dir)
    (folder / "eval.yaml").write_text(EVAL.replace("data: data.jsonl\n", "").replace("run.outputs.answer",
                                                                                      "run.outputs.output"))
    monkeypatch.chdir(workspace_dir)
    assert main(["compare", "--flow", str(folder / "city.prompty"), "--data", str(folder / "data.jsonl"),
                 "--models", "gpt-4o-mini,gpt-4.1-mini", "--node", "city"]) == 2
    out, err = capsys.readouterr()
    assert "Estimate over" not in out + err
    assert err.count("a .prompty has one model") == 1
    assert fake_server.stats.requests == 0


def test_node_naming_the_llm_node_still_runs(two_node_flow, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(two_node_flow.parent)
    assert main(["eval", str(two_node_flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--node", "answer",
                 "--no-cache"]) == 0
    assert {r.body["model"] for r in fake_server.requests} == {"gpt-4o-mini", "gpt-4.1-mini"}


def test_a_fine_tuned_model_is_compared_with_its_base_at_its_own_prices(two_node_flow, fake_server, capsys,
                                                                        monkeypatch):
    """What `finetune status` suggests (`eval FLOW --models BASE,ft:BASE:ORG:SUFFIX:ID`) runs; before,
    the fine-tuned name was refused as not in the catalog."""
    import json

    tuned = "ft:gpt-4o-mini-2024-07-18:acme:capitals:AbC123"
    monkeypatch.chdir(two_node_flow.parent)
    assert main(["eval", str(two_node_flow), "--models", f"gpt-4o-mini-2024-07-18,{tuned}", "--format", "json",
                 "--no-cache"]) == 0
    base, fine_tuned = json.loads(capsys.readouterr().out)["models"]
    assert fine_tuned["model"] == tuned and fine_tuned["error"] is None
    assert {r.body["model"] for r in fake_server.requests} == {"gpt-4o-mini-2024-07-18", tuned}
    # the same replies (the fake echoes), at the fine-tuned prices: twice the base's for gpt-4o-mini
    assert fine_tuned["cost_per_row"] == pytest.approx(2 * base["cost_per_row"], rel=1e-6)
    assert fine_tuned["estimate"]["cost_upper"] == pytest.approx(2 * base["estimate"]["cost_upper"], rel=1e-6)


def test_flow_warnings_once_and_classification_by_its_accuracy(workspace_dir, fake_server, capsys, monkeypatch):
    """A warning about the flow and data (an input no column feeds) was printed once per model;
    a classification evaluator's column read `.pass_rate` (its default threshold) for its accuracy."""
    import json

    flow = FLOW.replace("  question: {type: string}\n", "  question: {type: string}\n  tone: {type: string, default: plain}\n")
    evaluation = EVAL + ("  - name: cities\n    type: classification\n"
                         "    inputs: {prediction: ${run.outputs.answer}, label: ${data.expected}}\n")
    folder = write_capitals_flow(workspace_dir, flow, evaluation)
    (folder / "tidy.py").write_text(TIDY, encoding="utf-8")
    monkeypatch.chdir(workspace_dir)
    assert main(["eval", str(folder), "--models", "gpt-4o-mini,gpt-4.1-mini,gpt-4.1-nano", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("no column `tone`") == 1
    data = json.loads(out)
    assert data["primary_metric"] == "correct.pass_rate"
    assert all(set(m["metrics"]) == {"correct.pass_rate", "cities.accuracy"} for m in data["models"])


def test_compare_models_writes_the_html_report_it_is_asked_for(two_node_flow, fake_server, capsys, monkeypatch,
                                                              tmp_path):
    """`compare --models ... --html FILE` ran every model and silently wrote no report."""
    import json

    report = tmp_path / "models.html"
    monkeypatch.chdir(two_node_flow.parent)
    assert main(["compare", "--flow", str(two_node_flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--html",
                 str(report), "--format", "json"]) == 0
    runs = [m["run"] for m in json.loads(capsys.readouterr().out)["models"]]
    text = report.read_text(encoding="utf-8")
    assert all(run in text for run in runs)


def test_a_flex_flow_is_refused_once_saying_why(workspace_dir, fake_server, capsys, monkeypatch):
    """It was refused twice (once per model) as "cannot be estimated before a run"."""
    folder = workspace_dir / "flex"
    folder.mkdir()
    (folder / "flow.flex.yaml").write_text("entry: answer:answer\n", encoding="utf-8")
    (folder / "answer.py").write_text("def answer(question: str) -> str:\n    return question\n", encoding="utf-8")
    (folder / "eval.yaml").write_text(EVAL, encoding="utf-8")
    (folder / "data.jsonl").write_text('{"question": "q", "expected": "q"}\n', encoding="utf-8")
    monkeypatch.chdir(workspace_dir)
    assert main(["eval", str(folder), "--models", "gpt-4o-mini,gpt-4.1-mini"]) == 2
    err = capsys.readouterr().err
    assert err.count("flex flow calls its models from Python") == 1 and "promptwise compare RUN RUN" in err
    assert fake_server.stats.requests == 0


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_margin_must_be_a_finite_number_of_zero_or_more(two_node_flow, fake_server, capsys, monkeypatch, value):
    """`--margin nan` ran every model, then ended in an IndexError traceback (no model within nan)."""
    monkeypatch.chdir(two_node_flow.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(two_node_flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--margin", value])
    assert exit_info.value.code == 2 and "must be a number of 0 or more" in capsys.readouterr().err
    assert fake_server.stats.requests == 0


def test_an_unknown_model_is_named_under_the_option_given(two_node_flow, fake_server, capsys, monkeypatch):
    """The refusal said `--model gpt-4o-mimi: ...`, an option `eval --models` does not have."""
    monkeypatch.chdir(two_node_flow.parent)
    assert main(["eval", str(two_node_flow), "--models", "gpt-4o-mini,gpt-4o-mimi"]) == 2
    err = capsys.readouterr().err
    assert "--models: gpt-4o-mimi: not in the model catalog" in err and "--model gpt-4o-mimi" not in err
