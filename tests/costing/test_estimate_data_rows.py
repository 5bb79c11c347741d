"""`estimate --data`: rows become inputs exactly as in a batch run (the engine's column
mapping and input binding), rows a run would reject are listed, and an empty file is an error."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.costing.counting import count_chat
from promptwise.costing.estimate import clear_cache
from promptwise.documents.render import render_messages

from costing_samples import CLASSIFY, make_flow

FLOW = """\
inputs:
  ticket: {type: string}
  retries: {type: int, default: 0}
outputs:
  answer: {type: string, reference: "${classify.output}"}
nodes:
- name: classify
  type: llm
  source: {type: code, path: classify.jinja2}
  inputs:
    model: gpt-4o-mini
    max_tokens: 20
    categories: [billing, bug, other]
    ticket: "${inputs.ticket}"
  connection: local
  api: chat
"""


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def tokens(ticket: str) -> int:
    messages = render_messages(CLASSIFY, {"categories": ["billing", "bug", "other"], "ticket": ticket})
    return count_chat(messages, "o200k_base").total


def estimate_json(capsys, *args, expect: int = 0) -> dict:
    code = main(["estimate", *args, "--format", "json"])
    captured = capsys.readouterr()
    assert code == expect, captured.err
    return json.loads(captured.out)


def test_column_mapping_is_applied_as_in_a_batch_run(tmp_path, capsys):
    flow = make_flow(tmp_path, FLOW)
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(row) for row in [
        {"body": "refund please", "ticket": "ignored: the mapping reads body"},
        {"body": "app crashes on start"},
    ]) + "\n", encoding="utf-8")
    report = estimate_json(capsys, str(flow), "--data", str(data), "--column-mapping", "ticket=${data.body}")
    [classify] = report["nodes"]
    assert report["rows"] == 2 and report["failingRows"] == []
    assert report["columnMapping"] == {"ticket": "${data.body}"}
    assert classify["inputTokens"] == tokens("refund please") + tokens("app crashes on start")


def test_rows_a_run_would_reject_are_listed_with_line_and_reason(tmp_path, capsys):
    flow = make_flow(tmp_path, FLOW)
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join([
        json.dumps({"ticket": "fine", "retries": "2"}),     # text for an int: coerced, as the engine does
        json.dumps({"subject": "no ticket column"}),        # required input missing
        json.dumps({"ticket": "bad", "retries": "many"}),   # not an int
        json.dumps({"ticket": "also fine"}),
    ]) + "\n", encoding="utf-8")
    report = estimate_json(capsys, str(flow), "--data", str(data))
    assert report["rows"] == 2
    first, second = report["failingRows"]
    assert first.startswith(f"{data}:2: input `ticket` has no value and no default")
    assert second.startswith(f"{data}:3: input `retries` is declared as int")
    assert report["nodes"][0]["inputTokens"] == tokens("fine") + tokens("also fine")
    # the text report lists them too, and says they are not priced
    assert main(["estimate", str(flow), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"would fail in a run: {data}:2: input `ticket`" in out
    assert "2 rows would fail in a run and are not priced" in out


def test_a_mapped_column_missing_from_a_row_is_named(tmp_path, capsys):
    flow = make_flow(tmp_path, FLOW)
    data = tmp_path / "rows.csv"
    data.write_text("body,other\nhello,x\n", encoding="utf-8")
    report = estimate_json(capsys, str(flow), "--data", str(data), "--column-mapping", "ticket=${data.text}",
                           expect=1)
    [failing] = report["failingRows"]
    assert failing.startswith(f"{data}:2: ") and "'text'" in failing and "ticket" in failing
    assert report["errors"] == [f"{data}: no row can run (0 malformed, 1 rejected by the flow's inputs); "
                                "fix the rows listed above"]


@pytest.mark.parametrize("mapping, message", [
    ("ticket=${run.outputs.answer}", "an estimate reads only the data file"),
    ("ticket", "write NAME=${data.COLUMN}"),
])
def test_mappings_an_estimate_cannot_apply_are_user_errors(tmp_path, capsys, mapping, message):
    flow = make_flow(tmp_path, FLOW)
    data = tmp_path / "rows.jsonl"
    data.write_text('{"ticket": "x"}\n', encoding="utf-8")
    assert main(["estimate", str(flow), "--data", str(data), "--column-mapping", mapping]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptwise: error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("content", ["", "\n\n", "ticket\n"], ids=["empty", "blank-lines", "csv-header-only"])
def test_empty_data_file_is_an_error(tmp_path, capsys, content):
    flow = make_flow(tmp_path, FLOW)
    data = tmp_path / ("rows.csv" if content.startswith("ticket") else "rows.jsonl")
    data.write_text(content, encoding="utf-8")
    assert main(["estimate", str(flow), "--data", str(data)]) != 0
    err = capsys.readouterr().err
    assert f"0 rows in {data}" in err and "Traceback" not in err


def test_prompty_rows_do_not_borrow_the_sample(tmp_path, capsys):
    # A batch run binds a prompty's declared inputs from the row (and defaults), not its sample.
    path = tmp_path / "ask.prompty"
    path.write_text("---\nmodel:\n  api: chat\n  configuration: {type: openai, model: gpt-4o-mini}\n"
                    "inputs:\n  question: {type: string}\nsample:\n  question: sample question\n---\n"
                    "user:\n{{ question }}\n", encoding="utf-8")
    data = tmp_path / "rows.jsonl"
    data.write_text('{"question": "real one"}\n{"other": 1}\n', encoding="utf-8")
    report = estimate_json(capsys, str(path), "--data", str(data))
    assert report["rows"] == 1
    [failing] = report["failingRows"]
    assert failing.startswith(f"{data}:2: input `question` has no value and no default")
