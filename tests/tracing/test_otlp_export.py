"""OTLP/HTTP export through the SDK's exporter, received by a real OTLP/HTTP endpoint on
127.0.0.1 that decodes each ExportTraceServiceRequest with opentelemetry-proto."""

from __future__ import annotations

import asyncio
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.engine.runner import run_flow
from promptwise.tracing.store import SpanStore

FLOW = {
    "hello/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${ask.output}"}
        nodes:
        - name: ask
          type: llm
          source: {type: code, path: ask.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          api: chat
    """,
    "hello/ask.jinja2": "user:\n{{question}}\n",
}


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OtlpReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) for every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(span) -> dict:
    return {kv.key: _value(kv.value) for kv in span.attributes}


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_spans_are_exported_over_otlp_http_when_the_standard_variable_is_set(traced_workspace, monkeypatch, variable):
    root = traced_workspace(FLOW)
    with OtlpReceiver() as receiver:
        endpoint = receiver.url if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else receiver.url + "/v1/traces"
        monkeypatch.setenv(variable, endpoint)
        assert tracing.configure(root, service_name="promptwise-test")
        result = asyncio.run(run_flow(root / "hello", {"question": "capital of France"}, use_cache=False))
        tracing.shutdown()  # flushes the BatchSpanProcessor
    assert result.status == "completed"
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    received = receiver.spans()
    by_name = {span.name: (resource, span) for resource, span in received}
    assert set(by_name) == {"invoke_workflow hello", "node ask", "chat gpt-4o-mini"}
    resource, call = by_name["chat gpt-4o-mini"]
    # The SDK provider is installed once per process and the first configure() names the
    # service; tests that ran earlier in this process may have named it already.
    from opentelemetry import trace as otel_trace

    provider_resource = otel_trace.get_tracer_provider().resource.attributes
    assert resource["service.name"] == provider_resource["service.name"]
    assert resource["service.name"].startswith("promptwise")
    _, node = by_name["node ask"]
    _, flow = by_name["invoke_workflow hello"]
    assert call.parent_span_id == node.span_id and node.parent_span_id == flow.span_id and not flow.parent_span_id
    assert len({span.trace_id for _, span in received}) == 1
    values = attributes(call)
    assert values[A.GEN_AI_OPERATION_NAME] == "chat" and values[A.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert values[A.GEN_AI_USAGE_INPUT_TOKENS] > 0 and values[A.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert "Paris" in values[A.GEN_AI_OUTPUT_MESSAGES]
    assert attributes(flow)[A.RUN_ID] == result.run

    # the same trace is in the local store, with the same ids
    store = SpanStore.for_workspace(root, readonly=True)
    [summary] = store.list_traces()
    store.close()
    assert summary["trace_id"] == flow.trace_id.hex()


def test_an_unreachable_collector_does_not_fail_the_run_or_the_local_store(traced_workspace, monkeypatch):
    root = traced_workspace(FLOW)
    with OtlpReceiver() as closed:
        url = closed.url
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)  # nothing listens there any more
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    assert tracing.configure(root)
    result = asyncio.run(run_flow(root / "hello", {"question": "capital of France"}, use_cache=False))
    tracing.shutdown(timeout_s=2.0)
    assert result.status == "completed"
    store = SpanStore.for_workspace(root, readonly=True)
    assert len(store.list_traces()) == 1
    store.close()
