"""Runs and batches against the fake model, traced into the workspace's span store: the span
tree, the GenAI and promptwise attributes, a caller's parent span, capture off, secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.cli import main
from promptwise.documents.content_hash import flow_content_hash
from promptwise.engine.batch import run_batch
from promptwise.engine.providers import RetryPolicy
from promptwise.engine.runner import run_flow
from promptwise.tracing.store import SpanStore, store_path

FLOW = {
    "capitals/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${shout.output}"}
        nodes:
        - name: ask
          type: llm
          source: {type: code, path: ask.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", temperature: 0.2, max_tokens: 50}
          api: chat
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {text: "${ask.output}"}
    """,
    "capitals/ask.jinja2": "system:\nAnswer in one word.\nuser:\n{{question}}\n",
    "capitals/shout.py": """
        from promptflow.core import tool
        from promptflow.tracing import trace


        @trace
        def louder(text: str) -> str:
            if "boom" in text:
                raise ValueError("the tool refuses boom")
            return text.upper()


        @tool
        def shout(text: str) -> str:
            return louder(text) + "!"
    """,
}
NO_RETRY_WAIT = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)


def spans_of(root: Path, trace_id: str) -> list[dict]:
    with_store = SpanStore.for_workspace(root, readonly=True)
    try:
        return with_store.get_trace(trace_id)["spans"]
    finally:
        with_store.close()


def traces_of(root: Path, **filters) -> list[dict]:
    with_store = SpanStore.for_workspace(root, readonly=True)
    try:
        return with_store.list_traces(limit=None, **filters)
    finally:
        with_store.close()


def run_traced(root: Path, inputs: dict, **kwargs):
    assert tracing.configure(root)
    try:
        return asyncio.run(run_flow(root / "capitals", inputs, use_cache=False, retry=NO_RETRY_WAIT, **kwargs))
    finally:
        tracing.shutdown()


def test_a_run_is_one_trace_flow_node_model_call_and_traced_function(traced_workspace):
    root = traced_workspace(FLOW)
    result = run_traced(root, {"question": "What is the capital of France?"})
    assert result.status == "completed" and result.outputs == {"answer": "PARIS!"}

    [summary] = traces_of(root)
    assert summary["run_id"] == result.run and summary["row_index"] == 0
    assert summary["flow"] == "capitals" and summary["kind"] == "flow" and summary["status"] != "error"
    assert summary["content_hash"] == flow_content_hash(root / "capitals")
    assert summary["llm_calls"] == 1 and summary["input_tokens"] > 0 and summary["output_tokens"] > 0
    assert summary["cost_usd"] == pytest.approx(result.cost)

    spans = {span["name"]: span for span in spans_of(root, summary["trace_id"])}
    assert set(spans) == {"invoke_workflow capitals", "node ask", "chat gpt-4o-mini", "node shout", "louder"}
    flow, ask, call = spans["invoke_workflow capitals"], spans["node ask"], spans["chat gpt-4o-mini"]
    shout, louder = spans["node shout"], spans["louder"]
    assert flow["parent_id"] is None
    assert ask["parent_id"] == flow["span_id"] and shout["parent_id"] == flow["span_id"]
    assert call["parent_id"] == ask["span_id"] and louder["parent_id"] == shout["span_id"]
    assert flow["start_ns"] <= ask["start_ns"] <= call["start_ns"] and call["end_ns"] <= ask["end_ns"] <= flow["end_ns"]

    attributes = call["attributes"]
    assert attributes[A.GEN_AI_OPERATION_NAME] == "chat" and attributes[A.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini" and attributes[A.GEN_AI_RESPONSE_MODEL]
    assert attributes[A.GEN_AI_REQUEST_TEMPERATURE] == 0.2 and attributes[A.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attributes[A.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == result.nodes[0].prompt_tokens
    assert attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] == result.nodes[0].completion_tokens
    assert attributes[A.COST_USD] == pytest.approx(result.nodes[0].cost)
    assert attributes[A.CACHE_HIT] is False and attributes[A.ATTEMPTS] == 1
    assert json.loads(attributes[A.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Answer in one word."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
    assert json.loads(attributes[A.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris"}], "finish_reason": "stop"}]
    assert call["model"] and call["input_tokens"] == attributes[A.GEN_AI_USAGE_INPUT_TOKENS]

    assert flow["attributes"][A.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert json.loads(flow["attributes"][A.FLOW_INPUTS]) == {"question": "What is the capital of France?"}
    assert json.loads(flow["attributes"][A.FLOW_OUTPUTS]) == {"answer": "PARIS!"}
    assert shout["attributes"][A.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert json.loads(shout["attributes"][A.NODE_OUTPUT]) == "PARIS!"
    assert louder["kind"] == "function" and louder["attributes"][A.FUNCTION_NAME] == "shout.louder"
    assert json.loads(louder["attributes"][A.FUNCTION_INPUTS]) == {"text": "Paris"}
    assert json.loads(louder["attributes"][A.FUNCTION_OUTPUT]) == "PARIS"


def test_failures_carry_error_type_on_the_failing_spans(traced_workspace, fake_server):
    root = traced_workspace(FLOW)
    result = run_traced(root, {"question": "say boom"})  # the fake echoes it; the traced function raises
    assert result.status == "failed"
    [summary] = traces_of(root)
    assert summary["status"] == "error" and summary["error_type"]
    spans = {span["name"]: span for span in spans_of(root, summary["trace_id"])}
    assert spans["louder"]["status"] == "error" and spans["louder"]["error_type"] == "ValueError"
    assert "refuses boom" in spans["louder"]["error_message"]
    assert spans["node shout"]["status"] == "error"

    fake_server.inject("server_error", count=2, match="Lisbon")
    failed = run_traced(root, {"question": "Lisbon?"})
    assert failed.status == "failed"
    summary = traces_of(root, run=failed.run)[0]
    call = next(s for s in spans_of(root, summary["trace_id"]) if s["kind"] == "llm")
    assert call["status"] == "error" and call["error_type"] == "server_error"
    assert call["attributes"][A.ATTEMPTS] == 2


def test_each_batch_row_is_a_trace_of_its_own(traced_workspace):
    root = traced_workspace({**FLOW, "rows.jsonl": "".join(
        json.dumps({"question": q}) + "\n" for q in ("capital of France", "hello", "boom"))})
    assert tracing.configure(root)
    try:
        batch = asyncio.run(run_batch(root / "capitals", root / "rows.jsonl", use_cache=False, concurrency=2,
                                      retry=NO_RETRY_WAIT))
    finally:
        tracing.shutdown()
    rows = sorted(traces_of(root, run=batch.run), key=lambda t: t["row_index"])
    assert [t["row_index"] for t in rows] == [0, 1, 2]
    assert len({t["trace_id"] for t in rows}) == 3
    assert [t["status"] == "error" for t in rows] == [False, False, True]
    assert all(t["llm_calls"] == 1 and t["span_count"] == 5 for t in rows)


def test_a_callers_span_is_the_parent_and_its_attributes_reach_the_summary(traced_workspace):
    root = traced_workspace(FLOW)
    assert tracing.configure(root)
    tracer = tracing.get_tracer("test.serving")

    async def serve_one():
        with tracer.start_as_current_span("POST /score", attributes={
                A.SPAN_KIND: A.SPAN_KIND_REQUEST, A.CONSUMER: "alice", A.VERSION_ID: "v7"}):
            return await run_flow(root / "capitals", {"question": "capital of France"}, use_cache=False)

    try:
        asyncio.run(serve_one())
    finally:
        tracing.shutdown()
    [summary] = traces_of(root)
    assert summary["name"] == "POST /score" and summary["kind"] == "request"
    assert (summary["consumer"], summary["version"], summary["flow"]) == ("alice", "v7", "capitals")
    spans = spans_of(root, summary["trace_id"])
    request = next(s for s in spans if s["name"] == "POST /score")
    flow = next(s for s in spans if s["kind"] == "flow")
    assert flow["parent_id"] == request["span_id"] and request["parent_id"] is None


def test_capture_off_keeps_figures_but_no_prompt_reply_or_values(traced_workspace):
    root = traced_workspace(FLOW, settings="tracing:\n  capture_content: false\n")
    result = run_traced(root, {"question": "What is the capital of France? zebra-marker"})
    assert result.status == "completed"
    [summary] = traces_of(root)
    assert summary["input_tokens"] > 0 and summary["llm_calls"] == 1
    for span in spans_of(root, summary["trace_id"]):
        assert not set(span["attributes"]) & A.CONTENT_ATTRIBUTES, span["name"]
    stored = b"".join(path.read_bytes() for path in store_path(root).parent.glob("traces.sqlite*"))
    assert b"zebra-marker" not in stored and b"Paris" not in stored and b"PARIS" not in stored


def test_secrets_never_reach_the_span_store(traced_workspace, fake_server, monkeypatch):
    secret = "sk-trace-test-9f8e7d6c5b4a"
    monkeypatch.setenv("PW_TRACE_TEST_KEY", secret)
    root = traced_workspace(FLOW)
    (root / "promptwise.yaml").write_text(
        "defaults: {connection: keyed, model: gpt-4o-mini}\n"
        f"connections:\n  keyed: {{type: openai_compatible, base_url: '{fake_server.base_url}', "
        "api_key: '${env:PW_TRACE_TEST_KEY}'}\n", encoding="utf-8")
    result = run_traced(root, {"question": f"my key is {secret}"})  # echoed back by the fake model
    assert result.status == "completed"
    stored = b"".join(path.read_bytes() for path in store_path(root).parent.glob("traces.sqlite*"))
    assert secret.encode() not in stored
    [summary] = traces_of(root)
    call = next(s for s in spans_of(root, summary["trace_id"]) if s["kind"] == "llm")
    assert "my key is ***" in call["attributes"][A.GEN_AI_INPUT_MESSAGES]


def test_tracing_disabled_records_nothing(traced_workspace):
    root = traced_workspace(FLOW, settings="tracing:\n  enabled: false\n")
    assert tracing.configure(root) is False
    asyncio.run(run_flow(root / "capitals", {"question": "capital of France"}, use_cache=False))
    tracing.shutdown()
    assert not store_path(root).exists()


def test_the_cli_records_and_shows_traces(traced_workspace, capsys, monkeypatch):
    root = traced_workspace(FLOW)
    monkeypatch.chdir(root)
    assert main(["run", "capitals", "--inputs", "question=capital of France", "--name", "cli-run"]) == 0
    capsys.readouterr()
    assert main(["traces", "list", "--run", "cli-run", "--format", "json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["run_id"] == "cli-run" and listed["totals"]["llm_calls"] == 1
    assert main(["traces", "show", "--run", "cli-run", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    [flow] = document["spans"]
    assert [child["name"] for child in flow["children"]] == ["node ask", "node shout"]
    call = flow["children"][0]["children"][0]
    assert call["kind"] == "llm" and call["content"]["output_messages"][0]["parts"][0]["content"] == "Paris"
    assert call["input_tokens"] > 0 and flow["subtree"]["llm_calls"] == 1
    assert main(["traces", "show", listed["trace_id"][:10]]) == 0
    text = capsys.readouterr().out
    assert "chat gpt-4o-mini" in text and "< assistant: Paris" in text and "louder" in text
    assert main(["traces", "list", "--flow", "capitals"]) == 0 and "cli-run" in capsys.readouterr().out
    assert main(["traces", "list", "--since", "next week"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["traces", "show", "zz"]) == 2


def test_bad_settings_and_a_damaged_store_are_clear_errors_not_tracebacks(traced_workspace, capsys, monkeypatch,
                                                                          caplog):
    root = traced_workspace(FLOW, settings="tracing:\n  retention_days: -3\n")
    monkeypatch.chdir(root)
    assert main(["run", "capitals", "--inputs", "question=hi"]) == 2
    error = capsys.readouterr().err
    assert "promptwise.yaml:4" in error and "tracing.retention_days" in error

    root = traced_workspace(FLOW)
    store_path(root).parent.mkdir(exist_ok=True)
    store_path(root).write_bytes(b"not a database at all" * 100)
    assert main(["traces", "list"]) == 2
    assert "traces.sqlite" in capsys.readouterr().err
    # a run still runs: its spans just cannot be stored locally (and the log says why)
    assert main(["run", "capitals", "--inputs", "question=capital of France"]) == 0
    assert "spans will not be stored locally" in caplog.text and "traces.sqlite" in caplog.text


def test_aggregation_nodes_are_one_trace_of_the_run(traced_workspace):
    flow = {**FLOW, "capitals/flow.dag.yaml": FLOW["capitals/flow.dag.yaml"] + """
        - name: count
          type: python
          source: {type: code, path: count.py}
          inputs: {answers: "${shout.output}"}
          aggregation: true
    """, "capitals/count.py": """
        from promptflow.core import tool


        @tool
        def count(answers: list) -> dict:
            return {"answers": len(answers)}
    """, "rows.jsonl": '{"question": "capital of France"}\n{"question": "hello"}\n'}
    root = traced_workspace(flow)
    assert tracing.configure(root)
    try:
        batch = asyncio.run(run_batch(root / "capitals", root / "rows.jsonl", use_cache=False, retry=NO_RETRY_WAIT))
    finally:
        tracing.shutdown()
    assert batch.status == "completed"
    traces = traces_of(root, run=batch.run)
    aggregate = [t for t in traces if t["row_index"] is None]
    assert len(traces) == 3 and len(aggregate) == 1
    assert aggregate[0]["name"] == "aggregate capitals" and aggregate[0]["flow"] == "capitals"
    spans = spans_of(root, aggregate[0]["trace_id"])
    node = next(s for s in spans if s["name"] == "node count")
    assert node["parent_id"] == aggregate[0]["root_span_id"]
    assert json.loads(node["attributes"][A.NODE_OUTPUT]) == {"answers": 2}
