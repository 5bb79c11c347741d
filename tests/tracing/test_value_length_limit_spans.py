"""A value length limit on our own span types, in-process: which attributes are kept whole
(tracing/limits.py), and the two places that cut as a span ends, LocalTracer's spans (also the
provider without the SDK) and CuttingPipeline (the SDK's spans), events included. The
processes that read the OTEL_* variables: tests/serving/test_value_length_limit.py."""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from promptwise import span_attributes as A
from promptwise.tracing.limits import kept_whole
from promptwise.tracing.local import LocalProvider
from promptwise.tracing.pipeline import CuttingPipeline, PipelineSampler

LONG = "x" * 40


class _Collect:
    def __init__(self) -> None:
        self.ended = []

    def on_start(self, span, parent_context=None) -> None:
        pass

    def on_end(self, span) -> None:
        self.ended.append(span)


class LongNamedFailure(Exception):
    pass


def _record(tracer) -> None:
    with tracer.start_as_current_span("flow") as span:
        span.set_attributes({A.RUN_ID: "chat-bot_20261207_154352_ac5e", A.FLOW_PATH: "/" + LONG,
                             A.FLOW_INPUTS: '{"question": "' + LONG + '"}', "custom.note": LONG,
                             A.GEN_AI_RESPONSE_FINISH_REASONS: ("stop", LONG), A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini-2024-07-18",
                             A.ROW_INDEX: 3})
        span.record_exception(LongNamedFailure(LONG))


def _check(span, limit: int) -> None:
    values = dict(span.attributes)
    assert values[A.RUN_ID] == "chat-bot_20261207_154352_ac5e" and values[A.FLOW_PATH] == "/" + LONG
    assert values[A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini-2024-07-18" and values[A.ROW_INDEX] == 3
    assert len(values[A.FLOW_INPUTS]) == limit and values["custom.note"] == LONG[:limit]  # content and unknown: cut
    assert values[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", LONG)
    [event] = span.events
    assert event.attributes["exception.type"].endswith("LongNamedFailure")  # longer than the limit, whole
    assert event.attributes["exception.message"] == LONG[:limit]


def test_which_attributes_are_kept_whole():
    for key in (A.RUN_ID, A.FLOW_CONTENT_HASH, A.FLOW_PATH, A.VERSION_ID, "promptwise.request.id", A.ERROR_TYPE,
                A.GEN_AI_REQUEST_MODEL, A.GEN_AI_RESPONSE_MODEL, A.GEN_AI_RESPONSE_ID, A.HTTP_ROUTE, A.URL_PATH):
        assert kept_whole(key), key
    for key in (*A.CONTENT_ATTRIBUTES, A.USER_AGENT_ORIGINAL, "custom.note", "exception.message"):
        assert not kept_whole(key), key


def test_local_spans_cut_content_as_they_end(monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "12")  # span and event values alike
    provider = LocalProvider("svc")
    collected = _Collect()
    provider.replace((collected,))
    _record(provider.get_tracer("test"))
    [span] = collected.ended
    _check(span, 12)


def test_the_sdks_spans_are_cut_by_the_pipeline_before_any_processor():
    pipeline = CuttingPipeline(10, 10)
    provider = TracerProvider(sampler=PipelineSampler(pipeline), shutdown_on_exit=False,
                              span_limits=SpanLimits(max_attribute_length=SpanLimits.UNSET,
                                                     max_span_attribute_length=SpanLimits.UNSET))
    provider.add_span_processor(pipeline)
    collected = _Collect()
    pipeline.replace((collected,))
    _record(provider.get_tracer("test"))
    [span] = collected.ended
    _check(span, 10)
