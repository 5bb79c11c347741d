"""The cheaper paths that cut tracing's CPU per served request (benchmarks/README.md, "Served
requests: tracing's CPU") record what the slower paths recorded: content JSON is encoded once
unless JSON's escapes could hide a secret, and the span writer does not scan the content the
engine already masked, while it still masks what anyone else put on a span."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from promptwise import span_attributes as A
from promptwise.engine import spans
from promptwise.redaction import redact, redact_value, register_secret
from promptwise.tracing.processor import StoreSpanProcessor, to_record
from promptwise.tracing.store import SpanStore


def _walked(value) -> str:
    """What `_json` made of every value before: encoded from masked values, then checked."""
    return redact(spans._encode(redact_value(value)))


@pytest.mark.parametrize("value", [
    {"llm_output": '{"category": "integration_failure", "key": "sk-cost-path-secret-1"}'},  # escaped quotes
    [{"role": "user", "parts": [{"content": "C:\\temp\\sk-cost-path-secret-1\\log.txt"}]}],  # backslashes
    {"text": "line one\nline two: sk-cost-path-secret-1"},  # a line break
    {"url": "https://user:pa\\ss@example.com/v1?api-key=abc\"123", "n": 3},  # URL credentials by shape
    {"url": "https://example.com/v1?sig=ab\x01cd&x=1"},  # a control character inside a credential: the walk
    {"quoted": 'a "tricky" sk-cost-"quoted"-secret value'},  # a secret holding a quote: found escaped
    {"plain": "nothing to hide", "nested": [1, 2.5, True, None, {"k": "v"}]},
])
def test_content_json_is_masked_as_the_walk_masks_it(value):
    register_secret("sk-cost-path-secret-1")
    register_secret('sk-cost-"quoted"-secret')
    text = spans._json(value)
    assert text == _walked(value)
    assert "sk-cost-path-secret-1" not in text and "quoted\\\"-secret" not in text
    assert "abc\\\"123" not in text and "ab\\u0001cd" not in text
    assert type(text) is spans.RedactedText


def test_the_writer_masks_content_it_did_not_build_and_keeps_what_the_engine_masked(tmp_path: Path):
    """A content attribute set by other code (a user's instrumentation, a plain str) is still
    checked for secrets by the writer; the engine's own (RedactedText) is stored as it is."""
    register_secret("sk-writer-secret-42")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("mixed") as current:
        spans._set_attributes(current, {A.GEN_AI_INPUT_MESSAGES: spans._json([{"content": "key sk-writer-secret-42"}])})
        current.set_attribute(A.FLOW_OUTPUTS, '{"answer": "the key is sk-writer-secret-42"}')
        current.set_attribute("endpoint", "https://u:hunter22@example.com")
    [span] = exporter.get_finished_spans()
    record = to_record(span)
    assert record.attributes[A.GEN_AI_INPUT_MESSAGES] == '[{"content": "key ***"}]'
    assert record.attributes[A.FLOW_OUTPUTS] == '{"answer": "the key is ***"}'
    assert record.attributes["endpoint"] == "https://u:***@example.com"

    store_file = tmp_path / "traces.sqlite"
    processor = StoreSpanProcessor(SpanStore(store_file))
    processor.on_end(span)
    processor.shutdown()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("traces.sqlite*"))
    assert b"sk-writer-secret-42" not in stored and b"hunter22" not in stored


def test_serving_starts_its_request_span_from_the_engines_tracer(tmp_path: Path):
    """`spans.current_tracer()`: the tracer the engine's spans start from, which serving's request
    span uses too (a LocalTracer while the local store alone records)."""
    from promptwise import tracing
    from promptwise.tracing.local import LocalTracer

    (tmp_path / ".git").mkdir()
    try:
        assert tracing.configure(tmp_path)
        assert isinstance(spans.current_tracer(), LocalTracer)
    finally:
        tracing.shutdown()
    assert not isinstance(spans.current_tracer(), LocalTracer)
