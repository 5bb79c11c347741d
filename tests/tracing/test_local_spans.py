"""The engine's spans when only the local span store records them (tracing/local.py): OTel API
spans without the SDK's export machinery, that nest with the SDK's spans both ways, behave as the
SDK's spans do for what callers set on them, and give way to the SDK's spans when OTLP exports."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from test_otlp_export import FLOW, OtlpReceiver

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.engine import spans
from promptwise.engine.runner import run_flow
from promptwise.tracing.local import LocalSpan, LocalTracer
from promptwise.tracing.store import SpanStore


def _stored_spans(root) -> dict[str, dict]:
    store = SpanStore.for_workspace(root, readonly=True)
    try:
        [summary] = store.list_traces()
        return {span["name"]: span for span in store.get_trace(summary["trace_id"])["spans"]}
    finally:
        store.close()


def test_engine_spans_are_local_when_only_the_store_records_and_nest_with_sdk_spans_both_ways(traced_workspace):
    root = traced_workspace(FLOW)
    assert tracing.configure(root)
    assert isinstance(spans._tracer, LocalTracer)
    sdk_tracer = tracing.get_tracer("test.serving")

    async def serve_one():
        with sdk_tracer.start_as_current_span("POST /score"):  # an SDK span above the engine's
            with spans.span("node outer", A.SPAN_KIND_NODE, {A.NODE_NAME: "outer"}) as outer:
                assert isinstance(outer, LocalSpan)
                with sdk_tracer.start_as_current_span("user instrumentation"):  # an SDK span below
                    pass
                return await run_flow(root / "hello", {"question": "capital of France"}, use_cache=False)

    result = asyncio.run(serve_one())
    tracing.shutdown()
    assert result.status == "completed"
    stored = _stored_spans(root)
    request, outer, inner = stored["POST /score"], stored["node outer"], stored["user instrumentation"]
    flow = next(span for span in stored.values() if span["kind"] == "flow")
    call = next(span for span in stored.values() if span["kind"] == "llm")
    assert request["parent_id"] is None and outer["parent_id"] == request["span_id"]
    assert inner["parent_id"] == outer["span_id"] and flow["parent_id"] == outer["span_id"]
    assert len({span["trace_id"] for span in stored.values()}) == 1
    assert call["attributes"][A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini" and call["input_tokens"] > 0
    assert "France" in call["attributes"][A.GEN_AI_INPUT_MESSAGES]
    assert json.loads(call["attributes"][A.GEN_AI_OUTPUT_MESSAGES])[0]["role"] == "assistant"
    assert spans._tracer is not None and not isinstance(spans._tracer, LocalTracer)  # off again after shutdown


def test_with_an_otlp_endpoint_the_engine_spans_are_the_sdks_and_reach_the_receiver(traced_workspace, monkeypatch):
    root = traced_workspace(FLOW)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        assert tracing.configure(root)
        assert not isinstance(spans._tracer, LocalTracer)
        assert asyncio.run(run_flow(root / "hello", {"question": "capital of France"}, use_cache=False)).status \
            == "completed"
        tracing.shutdown()
    exported = {span.name for _, span in receiver.spans()}
    assert set(_stored_spans(root)) == exported and any(name.startswith("chat ") for name in exported)


class _Collect:
    def __init__(self) -> None:
        self.ended = []

    def on_end(self, span) -> None:
        self.ended.append(span)


def _exercise(tracer) -> None:
    """What callers do to a current span, on a span of `tracer`."""
    span = tracer.start_span("work", attributes={"given": 1})
    span.set_attribute("text", "x")
    span.set_attribute("list", ["a", "b"])  # sequences become tuples
    span.set_attribute("", "dropped")  # no key: dropped
    span.set_attributes({"a.one": 1, "a.two": 2.5, "a.three": True})  # over the limit of 5: the oldest go
    span.add_event("checkpoint", {"step": 3})
    span.set_status(StatusCode.UNSET)  # ignored
    span.record_exception(ValueError("bad value"))
    span.set_status(StatusCode.ERROR, "it failed")
    span.update_name("work done")
    span.end()
    span.set_attribute("late", 1)  # after the end: ignored
    span.set_status(StatusCode.OK)


def test_a_local_span_keeps_what_an_sdk_span_keeps():
    limits = SpanLimits(max_span_attributes=5)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    collected = _Collect()
    _exercise(provider.get_tracer("test"))
    _exercise(LocalTracer(collected, provider.resource, provider.id_generator, limits))
    [sdk], [local] = exporter.get_finished_spans(), collected.ended
    assert local.name == sdk.name == "work done"
    assert dict(local.attributes) == dict(sdk.attributes) == {"list": ("a", "b"), "a.one": 1, "a.two": 2.5,
                                                               "a.three": True, "text": "x"}
    assert (local.status.status_code, local.status.description) == (sdk.status.status_code, sdk.status.description)
    assert [(e.name, sorted(e.attributes)) for e in local.events] == [(e.name, sorted(e.attributes)) for e in sdk.events]
    assert local.events[1].attributes["exception.type"] == "ValueError"
    assert local.parent is None and local.context.trace_flags.sampled and local.end_time >= local.start_time


def test_an_exception_leaving_a_local_span_used_as_a_context_manager_marks_it_failed():
    collected = _Collect()
    provider = TracerProvider()
    tracer = LocalTracer(collected, provider.resource, provider.id_generator, SpanLimits())
    with pytest.raises(KeyError):
        with tracer.start_as_current_span("outer") as outer:
            assert trace.get_current_span() is outer
            with tracer.start_as_current_span("inner"):
                raise KeyError("missing")
    inner, outer = collected.ended
    assert inner.parent == outer.context and inner.context.trace_id == outer.context.trace_id
    assert inner.status.status_code is StatusCode.ERROR and "KeyError" in inner.status.description
    assert [event.name for event in inner.events] == ["exception"]
