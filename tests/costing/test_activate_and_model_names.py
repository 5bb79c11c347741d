"""Nodes with `activate` conditions are priced only where they run (or marked as an upper
bound), and a model name not in the catalog gets a did-you-mean."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.costing import checker
from promptwise.costing.catalog import load_catalog
from promptwise.costing.counting import count_chat
from promptwise.costing.estimate import clear_cache, estimate_document
from promptwise.documents.load import load_document
from promptwise.documents.render import render_messages

from costing_samples import CLASSIFY, FLOW, make_flow

ESCALATE = """\
- name: escalate
  type: llm
  source: {type: code, path: classify.jinja2}
  inputs:
    model: gpt-4o
    max_tokens: 100
    categories: [urgent]
    ticket: "${inputs.ticket}"
  activate:
    when: WHEN
    is: IS
  connection: local
  api: chat
"""


def flow_with_escalate(when: str, is_value: str) -> str:
    flow = FLOW.replace("  audience:\n", "  urgent:\n    type: bool\n    default: false\n  audience:\n")
    return flow + ESCALATE.replace("WHEN", when).replace("IS", is_value)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def estimate_json(capsys, *args) -> dict:
    code = main(["estimate", *args, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def node(report: dict, name: str) -> dict:
    return next(entry for entry in report["nodes"] if entry["node"] == name)


def test_condition_on_a_flow_input_is_evaluated_per_row(tmp_path, capsys):
    path = make_flow(tmp_path, flow_with_escalate("${inputs.urgent}", "true"))
    data = tmp_path / "rows.csv"
    # CSV cells are text: "true" becomes True through the declared bool type, as in a run
    data.write_text("ticket,urgent\nsite is down,true\ninvoice typo,false\nall good,false\n", encoding="utf-8")
    report = estimate_json(capsys, str(path), "--data", str(data))
    escalate = node(report, "escalate")
    assert escalate["rows"] == 1 and escalate["bypassedRows"] == 2 and escalate["upperBound"] is None
    expected = count_chat(render_messages(CLASSIFY, {"categories": ["urgent"], "ticket": "site is down"}),
                          "o200k_base").total
    assert escalate["inputTokens"] == expected
    assert node(report, "classify")["rows"] == 3
    assert main(["estimate", str(path), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "note, escalate: not run on 2 rows (its activate condition ${inputs.urgent} is True is false there)" in out


def test_condition_on_a_node_output_is_an_upper_bound(tmp_path, capsys):
    path = make_flow(tmp_path, flow_with_escalate("${classify.output}", "bug"))
    data = tmp_path / "rows.jsonl"
    data.write_text('{"ticket": "a"}\n{"ticket": "b"}\n', encoding="utf-8")
    report = estimate_json(capsys, str(path), "--data", str(data))
    escalate = node(report, "escalate")
    assert escalate["rows"] == 2 and escalate["bypassedRows"] == 0
    assert escalate["upperBound"] == {"condition": "${classify.output} is 'bug'", "rows": 2}
    assert main(["estimate", str(path), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "upper bound, escalate: node runs only when ${classify.output} is 'bug'" in out
    # the editor says so too
    item = estimate_document(load_document(path), load_workspace(path)).items[-1]
    assert item.condition == "${classify.output} is 'bug'"
    assert "only when ${classify.output} is 'bug'" in item.lens_text
    assert "Upper bound: the node runs only when" in item.hover_text


def test_suggestions_come_from_catalog_names_and_deployments(tmp_path):
    catalog = load_catalog()
    assert catalog.suggest("gpt-4o-mimi")[0] == "gpt-4o-mini"
    assert catalog.suggest("o3mini")[0] == "o3-mini"
    assert catalog.suggest("completely-unrelated-name") == []
    path = make_flow(tmp_path, settings="deployments:\n  prod-chat-east: gpt-4o\n")
    workspace_catalog = load_catalog().with_workspace(load_workspace(path))
    assert workspace_catalog.suggest("prod-chat-eats")[0] == "prod-chat-east"


def test_unknown_model_gets_a_did_you_mean_everywhere(tmp_path, capsys):
    path = make_flow(tmp_path, FLOW.replace("model: gpt-4o-mini", "model: gpt-4o-mimi"))
    [problem] = [p for p in checker.check(load_document(path)) if p.code == "PW702"]
    assert "; did you mean gpt-4o-mini" in problem.message and problem.message.endswith("?")
    report = estimate_json(capsys, str(path))
    assert any("did you mean gpt-4o-mini" in warning for warning in node(report, "classify")["warnings"])
    assert main(["estimate", str(path), "--model", "gpt-4o-mimi"]) == 2
    assert "did you mean gpt-4o-mini" in capsys.readouterr().err
