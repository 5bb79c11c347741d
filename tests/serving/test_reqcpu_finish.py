"""A JSON /score (and /v1/chat/completions) answer is sent before its request's bookkeeping (metrics, metering, span, access
log: `ServingApp.finish`), and that bookkeeping happens whether or not the answer could be sent
(serving/score.py `FinishingResponse`). Driven over ASGI as uvicorn drives the app, against the
fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import textwrap

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.app import ServeConfig, create_app
from promptwise.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def fake_server():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def flow(tmp_path, fake_server):
    (tmp_path / ".git").mkdir()
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local, model: gpt-4o-mini}\n"
        f"connections:\n  local: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n", encoding="utf-8")
    folder = tmp_path / "qa"
    folder.mkdir()
    (folder / "flow.dag.yaml").write_text(textwrap.dedent("""
        inputs:
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, is_chat_history: true, default: []}
        outputs:
          answer: {type: string, reference: '${ask.output}', is_chat_output: true}
        nodes:
        - name: ask
          type: llm
          source: {type: code, path: ask.jinja2}
          inputs: {question: '${inputs.question}'}
          api: chat
        """), encoding="utf-8")
    (folder / "ask.jinja2").write_text("system:\nAnswer briefly.\nuser:\n{{ question }}\n", encoding="utf-8")
    return folder


def answered(serving) -> float:
    return sum(sample.value for metric in serving.metrics.requests.collect() for sample in metric.samples
               if sample.name == "promptwise_requests_total")


ROUTES = {"/score": {"question": "Why?"}, "/v1/chat/completions": {"messages": [{"role": "user", "content": "Why?"}]}}


async def post(app, body: dict, on_body, path: str = "/score") -> int:
    """POST `path`; `on_body(message)` is the server's send of the answer's body."""
    raw = json.dumps(body).encode()
    answered_event = asyncio.Event()
    messages = iter([{"type": "http.request", "body": raw, "more_body": False}])
    status = []

    async def receive():
        message = next(messages, None)
        if message is not None:
            return message
        await answered_event.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            try:
                on_body(message)
            finally:
                answered_event.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]}
    await app(scope, receive, send)
    return status[0]


def serve(flow, tmp_path, check):
    app = create_app(ServeConfig(flow, ServeSettings(), trace=False, state_dir=tmp_path / "state"))
    (tmp_path / "state").mkdir(exist_ok=True)

    async def main():
        async with app.router.lifespan_context(app):
            await check(app, app.state.serving)

    asyncio.run(main())


@pytest.mark.parametrize("path", list(ROUTES))
def test_the_answer_is_sent_before_the_request_is_finished(flow, tmp_path, path):
    seen = {}

    async def check(app, serving):
        def on_body(message):
            seen["body"] = json.loads(message["body"])
            seen["in_flight_while_sending"] = serving.in_flight
            seen["counted_while_sending"] = answered(serving)

        assert await post(app, ROUTES[path], on_body, path) == 200
        seen["in_flight_after"] = serving.in_flight
        seen["counted_after"] = answered(serving)

    serve(flow, tmp_path, check)
    assert ("answer" in seen["body"]) if path == "/score" else seen["body"]["object"] == "chat.completion"
    assert seen["in_flight_while_sending"] == 1 and seen["counted_while_sending"] == 0
    assert seen["in_flight_after"] == 0 and seen["counted_after"] == 1


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_request_whose_answer_cannot_be_sent_is_finished_all_the_same(flow, tmp_path, path):
    seen = {}

    async def check(app, serving):
        def on_body(message):
            raise OSError("the client's connection is gone")

        with pytest.raises(OSError):
            await post(app, ROUTES[path], on_body, path)
        seen["in_flight"] = serving.in_flight
        seen["counted"] = answered(serving)

    serve(flow, tmp_path, check)
    assert seen == {"in_flight": 0, "counted": 1}


def test_serving_untraced_switches_the_engines_spans_off_and_back(flow, tmp_path):
    """`serve --no-trace` as `tracing: {enabled: false}`: the engine builds no spans while it serves
    (not even the OTel API's no-op ones), and the process's setting is back after shutdown."""
    from promptwise.engine import spans

    before = spans.enabled_setting()
    seen = {}

    async def check(app, serving):
        seen["while_serving"] = spans.enabled_setting()
        seen["node_span"] = spans.node_span("n", "python", {"a": 1}).span
        assert await post(app, ROUTES["/score"], lambda message: None) == 200

    serve(flow, tmp_path, check)
    from opentelemetry import trace

    assert seen["while_serving"] is False and seen["node_span"] is trace.INVALID_SPAN
    assert spans.enabled_setting() is before
