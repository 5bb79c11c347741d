"""`promptwise estimate`: per node and total figures over a dataset, bad rows named and skipped."""

from __future__ import annotations

import json

import pytest

from promptwise.cli import main
from promptwise.costing.catalog import CATALOG_PATH
from promptwise.costing.counting import count_chat
from promptwise.costing.estimate import clear_cache
from promptwise.documents.render import render_messages
from promptwise.store.run_store import NodeResult, RowResult, RunStore

from costing_samples import CLASSIFY, PROMPTY, make_flow

CATALOG = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
CATEGORIES = ["billing", "bug", "other"]


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def write_data(folder, lines):
    path = folder / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def classify_tokens(ticket: str) -> int:
    return count_chat(render_messages(CLASSIFY, {"categories": CATEGORIES, "ticket": ticket}), "o200k_base").total


def run_json(capsys, *args):
    code = main(["estimate", *args, "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


def test_every_row_is_counted_and_a_bad_row_is_named(tmp_path, capsys):
    flow = make_flow(tmp_path)
    tickets = ["short", "a much longer ticket about a refund " * 20, "emoji 🎉 and 中文"]
    data = write_data(tmp_path, [json.dumps({"ticket": tickets[0]}), '{"ticket": oops', "[1, 2]",
                                 json.dumps({"ticket": tickets[1]}), "", json.dumps({"ticket": tickets[2]})])
    report, stderr = run_json(capsys, str(flow), "--data", str(data))
    assert report["rows"] == 3
    assert report["skippedRows"] == [
        f"{data}:2: invalid JSON (Expecting value at column 12); fix or remove this row",
        f"{data}:3: a row must be a JSON object of input values, got list",
    ]
    assert f"{data}:2: invalid JSON" in stderr
    classify = report["nodes"][0]
    assert classify["node"] == "classify" and classify["rows"] == 3
    expected_input = sum(classify_tokens(ticket) for ticket in tickets)
    assert classify["inputTokens"] == expected_input
    assert classify["outputTokens"] == {"upperBound": 150, "expected": None, "observedMeanPerCall": None,
                                        "observedWithModel": None}
    entry = CATALOG["models"]["gpt-4o-mini"]
    assert classify["cost"]["upperBound"] == pytest.approx(
        (expected_input * entry["input_per_1m"] + 150 * entry["output_per_1m"]) / 1e6)
    assert classify["cost"]["expected"] is None
    closest = classify["closestToContextWindow"]
    assert closest[0]["row"] == f"{data}:4" and closest[0]["inputTokens"] == classify_tokens(tickets[1])
    assert [row["row"] for row in closest] == [f"{data}:4", f"{data}:6", f"{data}:1"]
    total = report["total"]
    assert total["inputTokens"] == sum(node["inputTokens"] for node in report["nodes"])
    assert total["cost"]["upperBound"] == pytest.approx(sum(n["cost"]["upperBound"] for n in report["nodes"]))


def test_text_report(tmp_path, capsys):
    flow = make_flow(tmp_path)
    data = write_data(tmp_path, [json.dumps({"ticket": "hello"}), "not json"])
    assert main(["estimate", str(flow), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"prices from the model catalog as of {CATALOG['as_of']}" in out
    assert "classify" in out and "summarise" in out and "total" in out
    assert "1 malformed row skipped" in out
    assert "known only at run time" in out and "details (from classify)" in out


def test_expected_output_comes_from_stored_runs(tmp_path, capsys):
    flow = make_flow(tmp_path)
    with RunStore(tmp_path / ".promptwise") as store:
        store.create_run("r1", str(flow.resolve()))
        for line, completion in enumerate([10, 20, 30]):
            store.record_row("r1", RowResult(line, "completed", {"ticket": "x"}, {"answer": "y"}, nodes=[
                NodeResult("classify", "completed", "bug", model="gpt-4o-mini", prompt_tokens=40,
                           completion_tokens=completion, total_tokens=40 + completion)]))
        store.finish_run("r1", "completed")
    data = write_data(tmp_path, [json.dumps({"ticket": "a"}), json.dumps({"ticket": "b"})])
    report, _ = run_json(capsys, str(flow), "--data", str(data))
    classify = report["nodes"][0]
    assert classify["outputTokens"]["observedMeanPerCall"] == pytest.approx(20)
    assert classify["outputTokens"]["expected"] == pytest.approx(40)
    entry = CATALOG["models"]["gpt-4o-mini"]
    input_tokens = classify["inputTokens"]
    assert classify["cost"]["expected"] == pytest.approx(
        (input_tokens * entry["input_per_1m"] + 40 * entry["output_per_1m"]) / 1e6)
    assert report["total"]["cost"]["expected"] is None  # the other node has never run


def store_classify_run(flow, run: str = "r1", model: str = "gpt-4o-mini", completions=(10, 20, 30)) -> None:
    with RunStore(flow.parent / ".promptwise") as store:
        store.create_run(run, str(flow.resolve()))
        for line, completion in enumerate(completions):
            store.record_row(run, RowResult(line, "completed", {"ticket": "x"}, {"answer": "y"}, nodes=[
                NodeResult("classify", "completed", "bug", model=model, prompt_tokens=40,
                           completion_tokens=completion, total_tokens=40 + completion)]))
        store.finish_run(run, "completed")


def test_another_model_is_expected_from_the_runs_of_the_flows_own_model(tmp_path, capsys):
    """`estimate --model M` (and `eval --models`, which estimates each model so) read the output
    lengths of earlier runs with another model instead of giving no expected cost, and say so."""
    flow = make_flow(tmp_path)
    store_classify_run(flow)
    data = write_data(tmp_path, [json.dumps({"ticket": "a"}), json.dumps({"ticket": "b"})])
    report, _ = run_json(capsys, str(flow), "--data", str(data), "--model", "gpt-4.1")
    classify = report["nodes"][0]
    assert classify["outputTokens"]["observedMeanPerCall"] == pytest.approx(20)
    assert classify["outputTokens"]["observedWithModel"] == "gpt-4o-mini"
    assert classify["outputTokens"]["expected"] == pytest.approx(40)
    entry = CATALOG["models"]["gpt-4.1"]  # priced as the model asked for
    assert classify["cost"]["expected"] == pytest.approx(
        (classify["inputTokens"] * entry["input_per_1m"] + 40 * entry["output_per_1m"]) / 1e6)
    assert classify["cost"]["upperBound"] > classify["cost"]["expected"]  # the bound is kept
    assert any("observed in earlier runs with gpt-4o-mini, not gpt-4.1" in w for w in classify["warnings"])
    # A reasoning model also bills its reasoning as output: the note says to expect more.
    report, _ = run_json(capsys, str(flow), "--data", str(data), "--model", "o4-mini")
    assert any("o4-mini is a reasoning model" in w for w in report["nodes"][0]["warnings"])
    # and classify's max_tokens (50) bounds its reasoning too: a reply may have no text.
    assert any("max_tokens 50 also bounds o4-mini's reasoning" in w for w in report["nodes"][0]["warnings"])
    # Runs of the model priced (a snapshot of it too) need no note.
    report, _ = run_json(capsys, str(flow), "--data", str(data), "--model", "gpt-4o-mini-2024-07-18")
    assert report["nodes"][0]["outputTokens"]["observedWithModel"] is None
    assert not any("observed in earlier runs" in w for w in report["nodes"][0]["warnings"])


def test_runs_of_several_models_the_priced_models_own_come_first(tmp_path, capsys):
    """After `eval --models gpt-4o-mini,o4-mini` the store holds both: o4-mini's estimate reads
    o4-mini's runs (its reasoning tokens included), another model the most called one's."""
    flow = make_flow(tmp_path)
    store_classify_run(flow, "r1", "gpt-4o-mini", (10, 20, 30, 20))
    store_classify_run(flow, "r2", "o4-mini", (300, 500))
    data = write_data(tmp_path, [json.dumps({"ticket": "a"})])
    outputs = {}
    for model in ("o4-mini", "gpt-4.1"):
        report, _ = run_json(capsys, str(flow), "--data", str(data), "--model", model)
        tokens = report["nodes"][0]["outputTokens"]
        outputs[model] = (tokens["observedMeanPerCall"], tokens["observedWithModel"])
    assert outputs == {"o4-mini": (400, None), "gpt-4.1": (20, "gpt-4o-mini")}
    # Without --model, classify's own model (gpt-4o-mini): its runs, not the mean of both models'.
    report, _ = run_json(capsys, str(flow), "--data", str(data))
    tokens = report["nodes"][0]["outputTokens"]
    assert (tokens["observedMeanPerCall"], tokens["observedWithModel"]) == (20, None)


def test_model_override_and_prompty(tmp_path, capsys):
    path = tmp_path / "reply.prompty"
    path.write_text(PROMPTY, encoding="utf-8")
    report, _ = run_json(capsys, str(path), "--model", "gpt-4.1")
    [node] = report["nodes"]
    assert (node["node"], node["model"], node["catalogEntry"], node["rows"]) == ("reply", "gpt-4.1", "gpt-4.1", 1)
    data = tmp_path / "rows.csv"
    data.write_text('question\n"Where is order 1?"\n"a,b",extra\n"Order 2?"\n', encoding="utf-8")
    report, _ = run_json(capsys, str(path), "--data", str(data))
    assert report["rows"] == 2
    assert report["skippedRows"] == [f"{data}:3: 2 fields where the header has 1; fix the quoting or commas"]


@pytest.mark.parametrize("args, message", [
    (["missing/flow.dag.yaml"], "no such file"),
    (["FLOW", "--variant", "classify"], "write it as NODE=VARIANT_ID"),
    (["FLOW", "--variant", "classify=v2"], "the flow has no variants for node 'classify'"),
    (["FLOW", "--model", "gpt-9-ultra"], "--model gpt-9-ultra: not in the model catalog"),
    (["FLOW", "--data", "DATA.txt"], "unknown data format .txt"),
    (["FLOW", "--data", "absent.jsonl"], "cannot read the data file"),
])
def test_user_errors_are_one_clear_line(tmp_path, capsys, args, message):
    flow = make_flow(tmp_path)
    (tmp_path / "DATA.txt").write_text("x", encoding="utf-8")
    args = [str(flow) if a == "FLOW" else str(tmp_path / a) if a in ("DATA.txt", "absent.jsonl") else a for a in args]
    assert main(["estimate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptwise: error: ") and message in err and "Traceback" not in err


def test_malformed_settings_are_reported_with_file_and_line(tmp_path, capsys):
    flow = make_flow(tmp_path, settings="models:\n  gpt-4o: {price: 1}\n")
    assert main(["estimate", str(flow)]) == 2
    assert f"{tmp_path / 'promptwise.yaml'}:2:" in capsys.readouterr().err


def test_editor_command_gets_the_cli_json(tmp_path, capsys):
    from promptwise.costing.preflight import EstimateError, estimate_target

    flow = make_flow(tmp_path)
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{"ticket": "one"}, "not an object", {"ticket": "two"}]), encoding="utf-8")
    report, _ = run_json(capsys, str(tmp_path), "--data", str(data))  # a flow folder works too
    assert estimate_target(tmp_path, data=data).to_json() == report
    assert report["rows"] == 2
    assert report["skippedRows"] == [f"{data} item 2: must be a JSON object of input values, got str"]
    with pytest.raises(EstimateError, match="no such file"):
        estimate_target(tmp_path / "nope.prompty")


PY_FLOW = """\
inputs:
  ticket: {type: string, default: hello}
outputs:
  answer: {type: string, reference: "${classify.output}"}
nodes:
- name: lookup
  type: python
  source: {type: code, path: lookup.py}
  inputs: {ticket: "${inputs.ticket}"}
- name: classify
  type: llm
  source: {type: code, path: classify.jinja2}
  inputs:
    model: gpt-4o-mini
    max_tokens: 10
    categories: "${lookup.output.categories}"
    ticket: "${inputs.ticket}"
  api: chat
- name: after
  type: python
  source: {type: code, path: after.py}
  inputs: {text: "${classify.output}"}
"""

LOOKUP = '''\
from promptflow.core import tool

CALLS = []

@tool
def lookup(ticket: str) -> dict:
    if ticket == "boom":
        raise ValueError("lookup service refused the ticket")
    return {"categories": ["billing", "bug", "other"]}
'''


def test_run_python_counts_what_python_nodes_produce(tmp_path, capsys):
    flow = make_flow(tmp_path, PY_FLOW)
    (tmp_path / "lookup.py").write_text(LOOKUP, encoding="utf-8")
    (tmp_path / "after.py").write_text("raise SystemExit('must never be imported')\n", encoding="utf-8")
    data = write_data(tmp_path, [json.dumps({"ticket": "short"}), json.dumps({"ticket": "boom"})])
    static, _ = run_json(capsys, str(flow), "--data", str(data))
    assert static["nodes"][0]["unknownInputs"] == ["categories (from lookup)"]
    ran, _ = run_json(capsys, str(flow), "--data", str(data), "--run-python")
    classify = ran["nodes"][0]
    expected = classify_tokens("short") + count_chat(
        render_messages(CLASSIFY, {"categories": "", "ticket": "boom"}), "o200k_base").total
    assert classify["inputTokens"] == expected
    assert classify["unknownInputs"] == ["categories (from lookup)"]  # the failing row
    assert ran["ranPythonNodes"] is True
    [error] = ran["pythonNodeErrors"]
    assert error.startswith(f"{data}:2: lookup: ") and "lookup service refused the ticket" in error
