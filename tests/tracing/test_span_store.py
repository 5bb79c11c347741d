"""The span store, the store's span processor, the settings and the trace documents, as units."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from promptwise import span_attributes as A
from promptwise.config import ConfigError, load_workspace
from promptwise.redaction import register_secret
from promptwise.tracing.processor import DROPPED_COUNTER, StoreSpanProcessor
from promptwise.tracing.settings import TracingSettings, tracing_settings
from promptwise.tracing.store import SpanRecord, SpanStore
from promptwise.tracing.view import trace_document

SECOND = 1_000_000_000
T0 = 1_800_000_000 * SECOND  # an arbitrary moment (2027)


def record(span_id: str, parent: str | None, kind: str, start: float, end: float, trace: str = "a" * 32,
           **attributes) -> SpanRecord:
    return SpanRecord(trace_id=trace, span_id=span_id.ljust(16, "0"), parent_id=parent.ljust(16, "0") if parent else None,
                      name=f"{kind} {span_id}", start_ns=T0 + int(start * SECOND), end_ns=T0 + int(end * SECOND),
                      attributes={A.SPAN_KIND: kind, **attributes}, is_root=parent is None, service="test")


def llm(span_id: str, parent: str, start: float, end: float, tokens=(10, 5), cost=0.001, cached=False, **extra):
    return record(span_id, parent, "llm", start, end, **{
        A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", A.GEN_AI_USAGE_INPUT_TOKENS: tokens[0],
        A.GEN_AI_USAGE_OUTPUT_TOKENS: tokens[1], A.CACHE_HIT: cached,
        **({A.COST_USD: cost} if cost is not None else {}), **extra})


@pytest.fixture
def store(tmp_path: Path):
    store = SpanStore(tmp_path / "traces.sqlite")
    yield store
    store.close()


def flow_trace(trace: str = "a" * 32, run: str = "run1", row: int = 0, start: float = 0.0) -> list[SpanRecord]:
    return [
        llm("3", "2", start + 0.1, start + 0.5, trace=trace),
        record("2", "1", "node", start + 0.05, start + 0.6, trace=trace, **{A.NODE_NAME: "chat"}),
        llm("4", "1", start + 0.6, start + 0.9, tokens=(7, 3), cost=None, cached=True, trace=trace),
        record("1", None, "flow", start, start + 1.0, trace=trace, **{A.FLOW_NAME: "capitals", A.RUN_ID: run,
                                                                      A.ROW_INDEX: row}),
    ]


def test_the_trace_summary_adds_up_model_calls_whatever_order_spans_arrive_in(store):
    store.write(flow_trace())  # in finishing order: children first
    [summary] = store.list_traces()
    assert summary["root_span_id"] == "1".ljust(16, "0") and summary["name"] == "flow 1"
    assert (summary["flow"], summary["run_id"], summary["row_index"]) == ("capitals", "run1", 0)
    assert (summary["span_count"], summary["llm_calls"], summary["cache_hits"]) == (4, 2, 1)
    assert (summary["input_tokens"], summary["output_tokens"]) == (17, 8)
    assert summary["cost_usd"] == pytest.approx(0.001)  # the call without a known price adds nothing
    assert summary["duration_ms"] == pytest.approx(1000.0)

    # root first, children later (a served stream can end its request span before a child is stored)
    other = flow_trace(trace="b" * 32, run="run2")
    store.write([other[3]])
    store.write(other[:3])
    second = store.list_traces(run="run2")[0]
    assert (second["llm_calls"], second["input_tokens"], second["span_count"]) == (2, 17, 4)
    assert second["start_ns"] == T0 and second["duration_ms"] == pytest.approx(1000.0)


def test_lists_filter_by_run_flow_time_version_and_consumer(store):
    store.write(flow_trace("a" * 32, run="r1", row=0, start=0))
    store.write(flow_trace("b" * 32, run="r1", row=1, start=10))
    store.write(flow_trace("c" * 32, run="r2", row=0, start=20))
    store.write([record("9", None, "request", 30, 31, trace="d" * 32, **{
        A.CONSUMER: "alice", A.VERSION_ID: "v7", A.FLOW_NAME: "capitals", A.FLOW_PATH: "/w/capitals/flow.dag.yaml"})])
    assert [t["trace_id"][0] for t in store.list_traces()] == ["d", "c", "b", "a"]  # newest first
    assert [t["row_index"] for t in store.list_traces(run="r1")] == [1, 0]
    assert [t["trace_id"][0] for t in store.list_traces(since_ns=T0 + 10 * SECOND, until_ns=T0 + 30 * SECOND)] \
        == ["c", "b"]
    assert [t["trace_id"][0] for t in store.list_traces(flow="/w/capitals/flow.dag.yaml")] == ["d"]
    assert len(store.list_traces(flow="capitals")) == 4
    assert [t["trace_id"][0] for t in store.list_traces(consumer="alice", version="v7")] == ["d"]
    assert len(store.list_traces(limit=2)) == 2


def test_a_trace_is_found_by_a_unique_prefix_only(store):
    store.write(flow_trace("abc123" + "0" * 26))
    store.write(flow_trace("abc124" + "0" * 26))
    assert store.get_trace("abc123")["trace_id"] == "abc123" + "0" * 26
    assert store.ambiguous("abc12") and store.get_trace("abc12") is None
    assert store.get_trace("abc") is None  # too short to mean anything
    assert store.get_trace("ffffff") is None


def test_retention_deletes_old_traces_with_their_spans(store):
    store.write(flow_trace("a" * 32, start=0))
    store.write(flow_trace("b" * 32, start=5 * 86400))
    now = (T0 + 12 * 86400 * SECOND) / SECOND
    assert store.delete_older_than(10, now=now, chunk=1) == 1
    assert [t["trace_id"][0] for t in store.list_traces()] == ["b"]
    assert store.get_trace("a" * 32) is None
    assert store.delete_older_than(10, now=now) == 0


def test_the_document_is_a_tree_with_offsets_subtree_totals_and_decoded_content(store):
    spans = flow_trace()
    spans[0].attributes[A.GEN_AI_INPUT_MESSAGES] = json.dumps([{"role": "user", "parts": [
        {"type": "text", "content": "capital of France?"}]}])
    store.write(spans)
    document = trace_document(store.get_trace("a" * 32))
    [root] = document["spans"]
    assert root["kind"] == "flow" and [c["kind"] for c in root["children"]] == ["node", "llm"]
    node, cached_call = root["children"]
    assert node["children"][0]["offset_ms"] == pytest.approx(100.0)
    assert node["children"][0]["duration_ms"] == pytest.approx(400.0)
    assert node["children"][0]["content"]["input_messages"][0]["parts"][0]["content"] == "capital of France?"
    assert A.GEN_AI_INPUT_MESSAGES not in node["children"][0]["attributes"]
    assert node["subtree"] == {"llm_calls": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.001}
    assert root["subtree"]["llm_calls"] == 2 and root["subtree"]["input_tokens"] == 17
    assert cached_call["cache_hit"] is True
    assert document["totals"]["spans"] == 4 and document["start"].endswith("Z")


def test_a_counter_adds_up(store):
    store.add_counter(DROPPED_COUNTER, 3)
    store.add_counter(DROPPED_COUNTER, 4)
    assert store.counter(DROPPED_COUNTER) == 7 and store.counter("nothing") == 0


def _provider_with(processor) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


def test_the_processor_redacts_secrets_and_drops_content_when_capture_is_off(tmp_path):
    register_secret("sk-unit-test-secret-42")
    for capture in (True, False):
        store = SpanStore(tmp_path / f"capture-{capture}.sqlite")
        processor = StoreSpanProcessor(store, capture_content=capture)
        tracer = _provider_with(processor).get_tracer("test")
        with tracer.start_as_current_span("call sk-unit-test-secret-42", attributes={
                A.SPAN_KIND: "llm", A.GEN_AI_INPUT_MESSAGES: '[{"role": "user", "parts": [{"type": "text", '
                                                             '"content": "key sk-unit-test-secret-42"}]}]',
                A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", "other": ("a", "sk-unit-test-secret-42")}):
            pass
        assert processor.force_flush(5000)
        processor.shutdown()
        text = (tmp_path / f"capture-{capture}.sqlite").read_bytes() + b"".join(
            p.read_bytes() for p in tmp_path.glob(f"capture-{capture}.sqlite-*"))
        assert b"sk-unit-test-secret-42" not in text
        trace = SpanStore(tmp_path / f"capture-{capture}.sqlite").list_traces()[0]
        [span] = SpanStore(tmp_path / f"capture-{capture}.sqlite").get_trace(trace["trace_id"])["spans"]
        assert span["attributes"][A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
        assert (A.GEN_AI_INPUT_MESSAGES in span["attributes"]) is capture
        assert span["name"] == "call ***" and span["attributes"]["other"] == ["a", "***"]


class _StuckStore(SpanStore):
    """A store whose writes wait until released: the queue in front of it fills up."""

    def __init__(self, path):
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, records):
        self.entered.set()
        self.release.wait(10)
        return super().write(records)


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    store = _StuckStore(tmp_path / "traces.sqlite")
    processor = StoreSpanProcessor(store, queue_size=2)
    tracer = _provider_with(processor).get_tracer("test")
    with tracer.start_as_current_span("first", attributes={A.SPAN_KIND: "function"}):
        pass
    assert store.entered.wait(10)  # the writer is busy with the first span
    for index in range(20):
        with tracer.start_as_current_span(f"span {index}", attributes={A.SPAN_KIND: "function"}):
            pass
    assert processor.dropped == 18  # two fit in the queue; the rest were dropped without waiting
    store.release.set()
    assert processor.force_flush(5000)
    assert processor.written == 3
    processor.shutdown()
    assert SpanStore(tmp_path / "traces.sqlite").counter(DROPPED_COUNTER) == 18


def test_settings_default_and_bad_values_name_the_file_and_line(tmp_path):
    assert tracing_settings(tmp_path) == TracingSettings()
    (tmp_path / "promptwise.yaml").write_text("defaults: {}\ntracing:\n  capture_content: false\n  retention_days: 7\n")
    settings = tracing_settings(load_workspace(tmp_path))
    assert settings.capture_content is False and settings.retention_days == 7 and settings.enabled
    for text, field in (("tracing:\n  retention_days: -1\n", "retention_days"),
                        ("tracing:\n  capture_contents: false\n", "capture_contents"),
                        ("tracing: [1]\n", "tracing")):
        (tmp_path / "promptwise.yaml").write_text("defaults: {}\n" + text)
        with pytest.raises(ConfigError) as raised:
            tracing_settings(tmp_path)
        assert f"promptwise.yaml:2" in str(raised.value) and field in str(raised.value)


def test_content_json_masks_secrets_even_behind_json_escapes():
    from promptwise.engine.spans import _json

    register_secret('pa"ss\\word-unit-7')
    register_secret("plain-unit-secret-8")
    text = _json({"prompt": 'say pa"ss\\word-unit-7 and plain-unit-secret-8\nthen stop'})
    assert "word-unit-7" not in text and "plain-unit-secret-8" not in text
    assert json.loads(text) == {"prompt": "say *** and ***\nthen stop"}


def test_values_that_cannot_be_shown_never_fail_the_traced_code(tmp_path):
    from promptwise.engine import spans

    processor = StoreSpanProcessor(SpanStore(tmp_path / "traces.sqlite"))
    tracer = _provider_with(processor).get_tracer("test")
    circular: dict = {}
    circular["self"] = circular
    spans.set_capture_content(True)
    try:
        with tracer.start_as_current_span("node") as current:
            spans.set_content(current, A.NODE_INPUTS, circular)  # json cannot encode it
            spans.record_score(current, type("Score", (), {"value": "high", "passed": None, "cost": 0,
                                                           "reason": "", "error": None})())
    finally:
        spans.set_capture_content(False)
    processor.shutdown()
    [trace] = SpanStore(tmp_path / "traces.sqlite").list_traces()
    [span] = SpanStore(tmp_path / "traces.sqlite").get_trace(trace["trace_id"])["spans"]
    assert A.NODE_INPUTS not in span["attributes"] and span["status"] != "error"
