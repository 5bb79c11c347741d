"""/feedback's ?flatten=true never sets an attribute the OTLP export cannot encode: an int
beyond int64 fails the encoding of the whole batch it is in (other requests' spans with it)."""

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from promptwise.serving.feedback import flattened


class _Kept(SpanExporter):
    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_flatten_leaves_out_ints_otlp_cannot_carry_and_the_span_encodes():
    body = ('{"rating": 4, "huge": 99999999999999999999, "tiny": -99999999999999999999, '
            '"edge": 9223372036854775807, "low": -9223372036854775808, "ok": true, "score": 0.5}')
    attributes = flattened(body)
    assert attributes == {"rating": 4, "edge": 2**63 - 1, "low": -(2**63), "ok": True, "score": 0.5}

    kept = _Kept()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    provider.get_tracer("review").start_span("promptflow-feedback", attributes=attributes).end()
    encoded = encode_spans(kept.spans)  # raised ValueError ("out of range") with the huge ones in
    values = {kv.key: kv.value for kv in encoded.resource_spans[0].scope_spans[0].spans[0].attributes}
    assert values["edge"].int_value == 2**63 - 1 and values["rating"].int_value == 4
