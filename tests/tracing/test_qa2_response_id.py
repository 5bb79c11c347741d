"""A model call's span carries the endpoint's id of the completion, `gen_ai.response.id` (a
Recommended attribute of the OTel GenAI conventions): the key to find the call in the
provider's own logs and billing. Before, it was never set. A cached answer has none, as no
completion was made for it. (Streamed replies: tests/serving/test_qa2_response_id_stream.py.)"""

from __future__ import annotations

import asyncio

from promptwise import span_attributes as A
from promptwise import tracing
from promptwise.engine.runner import run_flow
from promptwise.tracing.store import SpanStore
from test_otlp_export import FLOW


def _llm_spans(root) -> list[dict]:
    store = SpanStore.for_workspace(root, readonly=True)
    try:
        return [span["attributes"] for summary in store.list_traces(limit=None)
                for span in store.get_trace(summary["trace_id"])["spans"] if span["kind"] == "llm"]
    finally:
        store.close()


def test_a_model_calls_span_has_the_completions_id_and_a_cached_one_none(traced_workspace):
    root = traced_workspace(FLOW)
    assert tracing.configure(root)
    for _ in range(2):  # the second is answered from the response cache
        result = asyncio.run(run_flow(root / "hello", {"question": "capital of France"}))
        assert result.status == "completed"
    tracing.shutdown()
    calls = sorted(_llm_spans(root), key=lambda attributes: attributes[A.CACHE_HIT])
    assert [c[A.CACHE_HIT] for c in calls] == [False, True]
    assert calls[0][A.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")
    assert A.GEN_AI_RESPONSE_ID not in calls[1]


def test_a_model_calls_span_names_the_endpoints_host_and_port_not_its_credentials(traced_workspace, fake_server):
    root = traced_workspace(FLOW)
    assert tracing.configure(root)
    assert asyncio.run(run_flow(root / "hello", {"question": "capital of France"}, use_cache=False)).status == "completed"
    tracing.shutdown()
    [call] = _llm_spans(root)
    host, port = fake_server.origin.removeprefix("http://").rsplit(":", 1)
    assert (call[A.SERVER_ADDRESS], call[A.SERVER_PORT]) == (host, int(port))


def test_the_server_of_an_endpoint():
    from promptwise.engine.spans import _server_of

    assert _server_of("https://user:sk-secret@example.openai.azure.com/openai") == ("example.openai.azure.com", 443)
    assert _server_of("http://localhost:11434/v1") == ("localhost", 11434)
    assert _server_of("http://[::1]:8000/v1") == ("::1", 8000)
    assert _server_of("http://host:notaport/v1") is None
    assert _server_of(None) is None and _server_of("") is None
