"""The editor's trace view and "last run" lenses (issue 10): a run from the editor is traced,
`promptwise.showTrace` answers with the same document as `promptwise traces show --format json`
(found by trace id, by run, or as the flow's latest), and code lenses over the flow and its
nodes show the latest trace's time and tokens; through the real engine against the fake model."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI

from lsp_support import TIMEOUT, open_document


async def _execute(client: LanguageClient, command: str, argument: dict):
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[argument])),
        TIMEOUT * 3,
    )


def _walk(spans: list[dict]):
    stack = list(spans)
    while stack:
        span = stack.pop()
        yield span
        stack.extend(span["children"])


async def test_a_run_has_a_trace_with_node_and_model_call_spans(run_client: LanguageClient, run_workspace: Path,
                                                               fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    run = await _execute(run_client, "promptwise.runFlow", {"uri": uri, "inputs": {"log_text": "Disk quota exceeded"}})
    assert run["status"] == "completed", run

    trace = await _execute(run_client, "promptwise.showTrace", {"run": run["run"], "uri": uri})
    assert trace.get("status") != "error", trace
    assert trace["run_id"] == run["run"]
    spans = list(_walk(trace["spans"]))
    nodes = {span["attributes"].get("promptwise.node.name") for span in spans if span["kind"] == "node"}
    assert nodes == {"lookup", "classify", "summarize"}
    calls = [span for span in spans if span["kind"] == "llm"]
    assert len(calls) == 2
    for call in calls:
        assert call["input_tokens"] > 0 and call["output_tokens"] > 0
        assert call["content"]["input_messages"][-1]["role"] == "user"
        assert "Disk quota exceeded" in str(call["content"]["output_messages"])  # the fake model echoes
    assert trace["totals"]["llm_calls"] == 2

    # the same trace by its id (a prefix too), and as the flow's latest
    by_id = await _execute(run_client, "promptwise.showTrace", {"trace_id": trace["trace_id"][:10]})
    latest = await _execute(run_client, "promptwise.showTrace", {"uri": uri})
    assert by_id["trace_id"] == latest["trace_id"] == trace["trace_id"]

    # lenses: the flow's last run at the top, and one over each node that ran
    open_document(run_client, run_workspace / "flow.dag.yaml")
    lenses = await asyncio.wait_for(
        run_client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))),
        TIMEOUT,
    )
    traced = [lens for lens in lenses if lens.command and lens.command.command == "promptwise.showTrace"]
    lines = (run_workspace / "flow.dag.yaml").read_text().splitlines()
    by_line = {lines[lens.range.start.line].strip(): lens for lens in traced}
    assert set(by_line) >= {"- name: lookup", "- name: classify", "- name: summarize"}
    classify = by_line["- name: classify"]
    assert classify.command.title.startswith("last run: ") and " tok" in classify.command.title
    assert classify.command.arguments[0]["trace_id"] == trace["trace_id"]
    assert "tok" not in by_line["- name: lookup"].command.title  # a python node calls no model
    assert any(lens.range.start.line == 0 for lens in traced)


async def test_show_trace_errors_are_answered(run_client: LanguageClient, run_workspace: Path):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    models = await _execute(run_client, "promptwise.replayModels", {"uri": uri})
    names = [model["name"] for model in models]
    assert "gpt-4o-mini" in names and "gpt-4o" in names  # the catalog's chat models, to replay a call with
    assert not any("embedding" in name for name in names)
    nothing = await _execute(run_client, "promptwise.showTrace", {"uri": uri})
    assert nothing["status"] == "error" and "no trace" in nothing["error"]
    unknown = await _execute(run_client, "promptwise.showTrace", {"run": "never-ran", "uri": uri})
    assert unknown["status"] == "error"


async def test_replay_a_model_call_with_the_edited_template_and_another_model(
        run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    run = await _execute(run_client, "promptwise.runFlow", {"uri": uri, "inputs": {"log_text": "Disk quota exceeded"}})
    trace = await _execute(run_client, "promptwise.showTrace", {"run": run["run"], "uri": uri})
    classify = next(span for span in _walk(trace["spans"])
                    if span["kind"] == "node" and span["attributes"]["promptwise.node.name"] == "classify")
    call = classify["children"][0]
    template = run_workspace / "classify.jinja2"
    template.write_text(template.read_text() + "\nAnswer with REPLAYED-MARKER only.\n")
    requests_before = fake_llm.stats.requests

    replay = await _execute(run_client, "promptwise.replayCall",
                            {"trace_id": trace["trace_id"], "span_id": call["span_id"], "model": "gpt-4o", "uri": uri})
    assert replay["status"] == "ok", replay
    assert fake_llm.stats.requests == requests_before + 1  # that one call, not the flow
    assert replay["node"] == "classify"
    assert replay["original"]["model"] == "gpt-4o-mini" and replay["replay"]["model"] == "gpt-4o"
    assert "REPLAYED-MARKER" in str(replay["replay"]["messages"])
    assert "REPLAYED-MARKER" not in str(replay["original"]["messages"])
    assert "Disk quota exceeded" in str(replay["replay"]["messages"])  # rendered with the recorded inputs
    assert replay["replay"]["reply"] and replay["replay"]["input_tokens"] > replay["original"]["input_tokens"] - 1
    # the replay is a trace of its own, not a run of the flow: the flow's latest trace is still the run's
    assert replay["trace_id"] != trace["trace_id"]
    latest = await _execute(run_client, "promptwise.showTrace", {"uri": uri})
    assert latest["trace_id"] == trace["trace_id"]

    not_a_call = await _execute(run_client, "promptwise.replayCall",
                                {"trace_id": trace["trace_id"], "span_id": classify["span_id"]})
    assert not_a_call["status"] == "error" and "not a model call" in not_a_call["error"]


async def test_a_batch_row_and_a_prompty_call(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    batch = await _execute(run_client, "promptwise.batchRun", {"uri": uri, "data": "data.jsonl", "concurrency": 8})
    assert batch["status"] == "completed", batch
    # a results row's drill-down: the run (then, for an evaluation, the evaluation) and the row's index
    row = await _execute(run_client, "promptwise.showTrace", {"run": ["no-such-evaluation", batch["run"]], "row": 3})
    assert row["run_id"] == batch["run"] and row["row_index"] == 3
    assert "#3" in str(row["spans"][0]["content"]["inputs"])  # data.jsonl's fourth row

    # a prompty's one call, replayed with another model: the prompty's own model is replaced
    prompty = run_workspace / "answer.prompty"
    run = await _execute(run_client, "promptwise.runFlow", {"uri": prompty.as_uri()})
    assert run["status"] == "completed", run
    trace = await _execute(run_client, "promptwise.showTrace", {"run": run["run"]})
    call = next(span for span in _walk(trace["spans"]) if span["kind"] == "llm")
    prompty.write_text(prompty.read_text().replace("in two sentences", "in one sentence"))
    replay = await _execute(run_client, "promptwise.replayCall",
                            {"trace_id": trace["trace_id"], "span_id": call["span_id"], "model": "gpt-4o"})
    assert replay["status"] == "ok", replay
    assert replay["node"] is None and replay["replay"]["model"] == "gpt-4o"
    assert "in one sentence" in str(replay["replay"]["messages"]) and "in two sentences" in str(replay["original"]["messages"])
    assert "burst pipe" in str(replay["replay"]["messages"])  # the recorded (sample) inputs
