"""The results panel's JSON for an evaluation: metrics, and the first rows with inputs,
outputs and every evaluator's score; bounded, and saying so when it is."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.config import load_workspace
from promptwise.evaluation.view import MAX_TEXT, bounded, evaluation_view
from test_eval_end_to_end import flow_dir  # noqa: F401  (fixture)


def test_view_of_an_evaluated_run(flow_dir, capsys, monkeypatch):  # noqa: F811
    monkeypatch.chdir(flow_dir.parent)
    assert main(["eval", str(flow_dir), "--name", "cities", "--format", "json"]) == 0
    capsys.readouterr()
    workspace = load_workspace(flow_dir)
    view = evaluation_view(workspace, "cities")
    assert view["evaluation"] == "cities.eval1" and view["run"] == "cities"
    assert view["metrics"]["correct"]["mean"] == pytest.approx(0.75)
    assert (view["rows_total"], view["rows_shown"], view["rows_truncated"]) == (4, 4, False)
    spain = view["rows"][2]
    assert spain["line"] == 2 and spain["data_line"] == 3
    assert spain["inputs"] == {"question": "What is the capital of Spain?"}
    assert spain["data"] == {"expected": "Madrid"}  # the data column the evaluators compared with
    assert spain["outputs"] == {"answer": "Barcelona"}
    assert spain["passed"] is False
    assert spain["scores"]["correct"]["passed"] is False and spain["scores"]["fluent"]["reason"]
    tokyo = view["rows"][3]  # the judge's answer was unreadable: an error fails the row
    assert tokyo["passed"] is False and tokyo["scores"]["fluent"]["error"]
    assert tokyo["scores"]["fluent"]["details"]["raw"] == "I cannot rate this."
    assert view["rows"][0]["passed"] is True
    assert evaluation_view(workspace, "cities.eval1")["rows"] == view["rows"]  # by evaluation name
    assert evaluation_view(workspace, "nope") is None
    json.dumps(view)  # plain JSON all the way down

    first_two = evaluation_view(workspace, "cities", max_rows=2)
    assert [r["line"] for r in first_two["rows"]] == [0, 1]
    assert (first_two["rows_total"], first_two["rows_shown"], first_two["rows_truncated"]) == (4, 2, True)


def test_no_store_no_view(tmp_path):
    assert evaluation_view(load_workspace(tmp_path), "anything") is None


def test_bounded_cuts_long_values_and_says_so():
    long = "x" * (MAX_TEXT + 10)
    cut = bounded({"answer": long, "docs": list(range(60)), "n": 3})
    assert cut["answer"].startswith("x" * MAX_TEXT) and cut["answer"].endswith("(10 more characters)")
    assert cut["docs"][:50] == list(range(50)) and cut["docs"][-1] == "… (10 more items)"
    assert cut["n"] == 3
