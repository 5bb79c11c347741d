"""The cheaper paths that keep tracing's cost on a batch low (benchmarks/README.md, "Tracing
overhead") record exactly what the checked paths recorded: the engine's own attributes skip the
SDK's per-value checks only where no span limit applies, and the store checks a span's text
for secrets once instead of value by value, finding the same secrets."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from promptwise import span_attributes as A
from promptwise.engine import spans
from promptwise.redaction import register_secret
from promptwise.tracing.processor import StoreSpanProcessor
from promptwise.tracing.store import SpanStore


def _exported(limits: SpanLimits | None = None, processor=None):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
    provider.add_span_processor(processor or SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_engine_attributes_arrive_as_set_and_limits_still_apply():
    values = {A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", A.GEN_AI_USAGE_INPUT_TOKENS: 12, A.CACHE_HIT: False,
              A.COST_USD: 0.25, A.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",)}
    tracer, exporter = _exported()
    with tracer.start_as_current_span("call") as current:
        spans._set_attributes(current, dict(values))
        spans._set_attributes(current, {A.NODE_NAME: "chat"})
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes) == {**values, A.NODE_NAME: "chat"}

    # A value length limit (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT) goes through the SDK's checks.
    tracer, exporter = _exported(SpanLimits(max_span_attribute_length=4))
    with tracer.start_as_current_span("call") as current:
        spans._set_attributes(current, {A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", A.GEN_AI_USAGE_INPUT_TOKENS: 12})
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes) == {A.GEN_AI_REQUEST_MODEL: "gpt-", A.GEN_AI_USAGE_INPUT_TOKENS: 12}

    # So does a count limit the new attributes would pass: the oldest are dropped and counted.
    tracer, exporter = _exported(SpanLimits(max_span_attributes=2))
    with tracer.start_as_current_span("call") as current:
        spans._set_attributes(current, {"a.one": 1, "a.two": 2, "a.three": 3})
    [span] = exporter.get_finished_spans()
    assert dict(span.attributes) == {"a.two": 2, "a.three": 3} and span.dropped_attributes == 1


def test_the_store_finds_secrets_in_the_status_events_and_url_credentials(tmp_path: Path):
    register_secret("sk-overhead-secret-77")
    store_file = tmp_path / "traces.sqlite"
    processor = StoreSpanProcessor(SpanStore(store_file))
    tracer, _ = _exported(processor=processor)
    with tracer.start_as_current_span("clean name") as current:
        current.set_attribute("endpoint", "https://user:hunter22@example.com/v1?api-key=abc123")
        current.set_attribute("plain", "nothing to hide")
        current.add_event("retry", {"detail": "sent sk-overhead-secret-77"})
        current.set_status(StatusCode.ERROR, "provider said: bad key sk-overhead-secret-77")
    with tracer.start_as_current_span("second") as current:  # a clean span stays as it was
        current.set_attribute("plain", "a=b and c@d")
    processor.shutdown()
    text = b"".join(path.read_bytes() for path in tmp_path.glob("traces.sqlite*"))
    assert b"sk-overhead-secret-77" not in text and b"hunter22" not in text and b"abc123" not in text
    reader = SpanStore(store_file)
    by_name = {trace["name"]: reader.get_trace(trace["trace_id"])["spans"][0] for trace in reader.list_traces()}
    first = by_name["clean name"]
    assert first["error_message"] == "provider said: bad key ***"
    assert first["attributes"]["endpoint"] == "https://user:***@example.com/v1?api-key=***"
    assert first["attributes"]["plain"] == "nothing to hide"
    assert first["events"][0]["attributes"] == {"detail": "sent ***"}
    assert by_name["second"]["attributes"]["plain"] == "a=b and c@d"


def test_a_served_request_error_reaches_the_exporter_redacted():
    from promptwise.serving.app import _span_error
    from promptwise.serving.errors import ServeError

    register_secret("sk-serving-secret-91")
    tracer, exporter = _exported()
    with tracer.start_as_current_span("POST /score") as current:
        _span_error(current, ServeError("flow_error", "the model refused key sk-serving-secret-91"))
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert "sk-serving-secret-91" not in span.status.description and "***" in span.status.description
    assert span.attributes[A.ERROR_TYPE] == "flow_error"


def test_the_store_scans_a_spans_content_for_personal_data_once_and_finds_what_the_walk_finds():
    """`to_record` joins a span's content and scans it once, the store's writer a whole batch's;
    only a finding (or text with JSON escapes) sends a span through the policy's walk. Whatever
    the content, the record holds what the walk alone would have made of it."""
    from promptwise.tracing.pii import PiiPolicy
    from promptwise.tracing.processor import _may_hold_pii, govern_content, to_record

    clean_messages = '[{"role": "user", "parts": [{"type": "text", "content": "What is fact number 7?"}]}]'
    cases = [
        {A.GEN_AI_INPUT_MESSAGES: clean_messages, A.FLOW_OUTPUTS: '{"answer": "The sea is 70% of it."}'},
        {A.GEN_AI_INPUT_MESSAGES: '[{"role": "user", "parts": [{"content": "mail jane.doe@example.com"}]}]'},
        {A.FLOW_INPUTS: '{"card": "4111 1111 1111 1111", "n": 3}'},
        {A.FLOW_INPUTS: '{"Name": "x", "q": "Dear Jane Doe, hello"}'},
        {A.NODE_OUTPUT: 'plain text, "quoted", call +44 20 7946 0958'},
        {A.NODE_OUTPUT: '[not json] Name: Jane Doe'},
        {A.FUNCTION_INPUTS: '{"text": "line one\\nmail jane.doe@example.com"}'},  # escapes: the walk
        {A.FUNCTION_OUTPUT: '{"iban": "GB82 WEST 1234 5698 7654 32"}'},
        {A.FUNCTION_OUTPUT: '{"ok": true}', "other.attribute": "jane.doe@example.com"},
    ]
    tracer, exporter = _exported()
    for values in cases:
        with tracer.start_as_current_span("content") as current:
            current.set_attributes(values)
    finished = exporter.get_finished_spans()
    for mode in ("redact", "hash", "drop"):
        policy = PiiPolicy(mode, key=b"k" * 32)
        walked = [policy.attributes(dict(values), A.CONTENT_ATTRIBUTES) for values in cases]
        for span, expected in zip(finished, walked):
            assert to_record(span, pii=policy).attributes == expected, mode
        # The span store's writer: a whole batch's content scanned at once, findings traced to their spans.
        batch = [to_record(span, pii=policy, content_pii=False) for span in (*finished, *reversed(finished))]
        govern_content(batch, policy)
        assert [record.attributes for record in batch] == walked + walked[::-1], mode
    policy = PiiPolicy("redact")
    assert not _may_hold_pii(cases[0], policy)  # the usual case: no walk at all
    assert all(_may_hold_pii(values, policy) for values in cases[1:-1])
    assert not _may_hold_pii(cases[-1], policy)  # attributes that are not content are not the policy's
    assert to_record(finished[-1], pii=policy).attributes["other.attribute"] == "jane.doe@example.com"


def test_the_writer_remembers_clean_content_strings_across_batches_and_stores_what_the_walk_makes():
    """A served flow's system prompt recurs in every request: the writer scans each distinct
    content string once (JSON documents decoded, escapes included) and skips the ones an earlier
    batch found clean. Records are what the policy's walk makes of them, batch after batch, and
    a string with personal data is never remembered as clean."""
    from promptwise.tracing.pii import PiiPolicy
    from promptwise.tracing.processor import CleanTexts, govern_content
    from promptwise.tracing.store import SpanRecord

    system = "You sort log lines.\nCategories: integration_failure, timeout (30000 ms), 2026-03-04 ids. " * 20
    def messages(user: str) -> str:
        return json.dumps([{"role": "system", "parts": [{"type": "text", "content": system}]},
                           {"role": "user", "parts": [{"type": "text", "content": user}]}])
    batches = [
        [{A.GEN_AI_INPUT_MESSAGES: messages("policy MTR-30-558190 timed out")},
         {A.NODE_INPUTS: '{"text": "line one\\nline two", "n": 4111111111111111}'},  # escapes; a number is no text
         {A.NODE_OUTPUT: "plain text with a \\ backslash"}],
        [{A.GEN_AI_INPUT_MESSAGES: messages("call +44 20 7946 0958 about it")},  # same system prompt, PII in user
         {A.NODE_OUTPUT: "plain text with a \\ backslash"},  # known clean now
         {A.FLOW_OUTPUTS: '{"line one\\nmail jane.doe@example.com": 1}'}],  # PII in a key, behind an escape
        [{A.GEN_AI_INPUT_MESSAGES: messages("call +44 20 7946 0958 about it")},  # still governed, not remembered
         {A.FUNCTION_OUTPUT: ["a list, not text", "jane.doe@example.com"]},  # no text: walked
         {A.NODE_OUTPUT: "[not json] Name: Jane Doe"}],
    ]
    for mode in ("redact", "hash", "drop"):
        policy = PiiPolicy(mode, key=b"k" * 32)
        clean = CleanTexts()
        for values in batches:
            records = [SpanRecord("t" * 32, "s" * 16, None, "span", 0, 0, attributes=dict(v)) for v in values]
            govern_content(records, policy, clean)
            assert [r.attributes for r in records] == [policy.attributes(dict(v), A.CONTENT_ATTRIBUTES)
                                                       for v in values], mode
        assert system in clean and "plain text with a \\ backslash" in clean
        assert "call +44 20 7946 0958 about it" not in clean
    assert policy.text(messages("call +44 20 7946 0958 about it")) != messages("call +44 20 7946 0958 about it")
    small = CleanTexts()  # bounded: emptied when full
    small.MAX_CHARS = 10
    small.add("12345678")
    small.add("abcdef")
    assert "abcdef" in small and "12345678" not in small


def test_with_tracing_off_node_and_model_call_spans_record_nothing_even_under_a_recording_tracer():
    """Off means off: the spans skip their attribute work and a tracer that would record gets nothing."""
    tracer, exporter = _exported()
    spans.set_tracer(tracer)
    spans.set_enabled(False)
    try:
        with spans.node_span("classify", "python", {"text": "x"}) as node:
            with spans.model_call_span("chat", "gpt-4o-mini", None, [{"role": "user", "content": "hi"}]) as call:
                assert not node.is_recording() and not call.is_recording()
        spans.set_enabled(True)
        with spans.node_span("classify", "python", {"text": "x"}) as node:
            assert node.is_recording()
    finally:
        spans.set_enabled(None)
        spans.set_tracer(None)
    [recorded] = exporter.get_finished_spans()
    assert recorded.name == "node classify" and recorded.attributes[A.NODE_NAME] == "classify"
