"""`eval FLOW --models A,B` / `compare --models A,B --flow FLOW`: one run per model through the real
openai client against the fake server (whose rules answer per model), one table, and a
recommendation; unknown models refused before any request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptwise.cli import main

from capitals_project import DATA, write_capitals_flow, write_city_prompty

FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: "${answer.output}"}
nodes:
- name: answer
  type: llm
  source: {type: code, path: answer.jinja2}
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
"""
SLOW = 0.05  # seconds the fake server waits before answering gpt-4.1-mini


@pytest.fixture
def model_flow(workspace_dir: Path, fake_server) -> Path:
    folder = write_capitals_flow(workspace_dir, FLOW, EVAL)
    # gpt-4o-mini (the cheaper) gets Japan wrong; gpt-4.1-mini answers all four, more slowly.
    fake_server.add_rule(r"capital of Japan", "Kyoto", model="gpt-4o-mini")
    for row in DATA:
        country = row["question"].split("capital of ")[1].rstrip("?")
        fake_server.add_rule(rf"capital of {country}", row["expected"], model="gpt-4o-mini")
        fake_server.add_rule(rf"capital of {country}", row["expected"], latency=SLOW, model="gpt-4.1-mini")
    return folder


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_models_table_metrics_and_recommendation(model_flow, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(model_flow.parent)
    assert main(["eval", str(model_flow), "--models", "gpt-4o-mini,gpt-4.1-mini", "--format", "json",
                 "--no-cache"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert "gpt-4.1-mini" in out.err and "at most $" in out.err  # the estimate, printed before the runs
    by_model = {m["model"]: m for m in data["models"]}
    assert data["primary_metric"] == "correct.pass_rate"
    assert by_model["gpt-4o-mini"]["primary"] == 0.75
    assert by_model["gpt-4.1-mini"]["primary"] == 1.0
    assert by_model["gpt-4.1-mini"]["latency_p50_ms"] >= SLOW * 1000  # the server waited that long
    assert by_model["gpt-4o-mini"]["cost_per_row"] < by_model["gpt-4.1-mini"]["cost_per_row"]
    assert by_model["gpt-4o-mini"]["estimate"]["cost_upper"] < by_model["gpt-4.1-mini"]["estimate"]["cost_upper"]
    assert all(m["rows_failed"] == 0 for m in data["models"])
    # 0.75 is not within 0.02 of 1.0: the best model, though dearer.
    assert data["recommendation"]["model"] == "gpt-4.1-mini"
    # Each model's calls named that model: 4 rows x 2 models, each answered by its own rules.
    models_called = [r.body["model"] for r in fake_server.requests if r.path.endswith("/chat/completions")]
    assert sorted(models_called) == ["gpt-4.1-mini"] * 4 + ["gpt-4o-mini"] * 4
    # Each model's run is a normal stored run: `compare` reads them, labelled with the model.
    runs = [m["run"] for m in data["models"]]
    assert main(["compare", *runs, "--format", "json"]) == 0
    compared = _json(capsys)
    assert [r["label"].split(" [")[1] for r in compared["runs"]] == ["model=gpt-4o-mini]", "model=gpt-4.1-mini]"]
    assert main(["runs", "show", runs[1]]) == 0
    assert "models:     gpt-4.1-mini" in capsys.readouterr().out


def test_wider_margin_recommends_the_cheaper_model_and_compare_alias(model_flow, capsys, monkeypatch):
    monkeypatch.chdir(model_flow.parent)
    assert main(["compare", "--flow", str(model_flow), "--models", "gpt-4.1-mini,gpt-4o-mini", "--margin", "0.3",
                 "--node", "answer"]) == 0
    text = capsys.readouterr().out
    assert "recommended: gpt-4o-mini" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("gpt-")}
    assert lines["gpt-4o-mini"].split()[1] == "0.75" and lines["gpt-4.1-mini"].split()[1] == "1"


def test_unknown_model_refused_before_any_request(model_flow, fake_server, capsys, monkeypatch):
    monkeypatch.chdir(model_flow.parent)
    assert main(["eval", str(model_flow), "--models", "gpt-4o-mini,gpt-4.1-mimi"]) == 2
    err = capsys.readouterr().err
    assert "gpt-4.1-mimi" in err and "gpt-4.1-mini" in err and "nothing was run" in err
    assert fake_server.stats.requests == 0


@pytest.mark.parametrize("argv, expected", [
    (["--models", "gpt-4o-mini"], "at least two models"),
    (["--models", "gpt-4o-mini,gpt-4o-mini"], "named more than once"),
    (["--models", "gpt-4o-mini,gpt-4.1-mini", "--node", "nope"], "--node nope: no llm node of that name"),
    (["--node", "answer"], "pass --models too"),
    (["--models", "gpt-4o-mini,gpt-4.1-mini", "--fail-under", "correct.pass_rate=0.9"], "cannot be used with --models"),
])
def test_usage_errors(model_flow, fake_server, capsys, monkeypatch, argv, expected):
    monkeypatch.chdir(model_flow.parent)
    assert main(["eval", str(model_flow), *argv]) == 2
    assert expected in capsys.readouterr().err
    assert fake_server.stats.requests == 0


def test_prompty_model_replaced(workspace_dir, fake_server, capsys, monkeypatch):
    folder = write_city_prompty(workspace_dir)
    (folder / "eval.yaml").write_text(EVAL.replace("data: data.jsonl\n", "").replace("run.outputs.answer", "run.outputs.output"),
                                      encoding="utf-8")
    fake_server.add_rule("France", "Paris", model="gpt-4.1-mini")
    fake_server.add_rule("Italy", "Rome", model="gpt-4.1-mini")
    fake_server.add_rule(None, "Rome", model="gpt-4o-mini")
    monkeypatch.chdir(workspace_dir)
    assert main(["eval", str(folder / "city.prompty"), "--data", str(folder / "data.jsonl"),
                 "--models", "gpt-4o-mini,gpt-4.1-mini", "--format", "json"]) == 0
    by_model = {m["model"]: m["primary"] for m in _json(capsys)["models"]}
    assert by_model == {"gpt-4o-mini": 0.25, "gpt-4.1-mini": 0.5}
    assert {r.body["model"] for r in fake_server.requests} == {"gpt-4o-mini", "gpt-4.1-mini"}


def test_a_model_the_endpoint_refuses_is_reported_and_the_others_compared(model_flow, fake_server, capsys,
                                                                          monkeypatch):
    monkeypatch.chdir(model_flow.parent)
    fake_server.inject("server_error", count=None, status=400, model="gpt-4.1-mini")
    assert main(["eval", str(model_flow), "--models", "gpt-4.1-mini,gpt-4o-mini", "--format", "json"]) == 1
    data = _json(capsys)
    refused, served = data["models"]
    assert refused["model"] == "gpt-4.1-mini" and refused["run"] is None and refused["error"]
    assert served["primary"] == 0.75 and served["error"] is None
    assert data["recommendation"]["model"] == "gpt-4o-mini"


def test_fake_server_rules_file_answers_per_model(tmp_path):
    import openai

    from promptwise.devtools.fake_openai import FakeOpenAI, _load_rules

    rules = tmp_path / "rules.yaml"
    rules.write_text("- {pattern: capital, reply: Kyoto, model: gpt-4o-mini}\n- {pattern: capital, reply: Tokyo}\n",
                     encoding="utf-8")
    with FakeOpenAI(rules=_load_rules(rules)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        answers = {model: client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "capital of Japan?"}]).choices[0].message.content
                   for model in ("gpt-4o-mini", "gpt-4.1-mini")}
        client.close()
    assert answers == {"gpt-4o-mini": "Kyoto", "gpt-4.1-mini": "Tokyo"}
