"""A client moving from `pf flow serve` (promptflow 1.18) to `promptwise serve`, and an OpenAI
client pointed at the flow: what pf does that we did not, pinned through a real server process.

- an incoming W3C `traceparent` continues the caller's trace (pf extracts it too), in the local
  store and over OTLP, with the current GenAI attribute names;
- `evaluation_only` outputs are left out of the answer (pf's response_fields_to_remove);
- the OpenAI route refuses what one run of a flow cannot answer (n > 1, tools, logprobs) with
  a 400 naming the field, and lists the flow at GET /v1/models;
- a browser page (CORS) may send the headers we read and read the ones we answer with.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracing"))
from test_otlp_export import OtlpReceiver, attributes  # noqa: E402  (the real OTLP/HTTP receiver)

KEY = "parity-key-0123456789"
ORIGIN = "https://portal.example"
SERVE = f"""
keys:
  - {{consumer: portal, key: "${{env:PARITY_KEY}}"}}
cors: {{allow_origins: ["{ORIGIN}"]}}
"""

FILES = {
    "parity/flow.dag.yaml": """
        inputs:
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, default: [], is_chat_history: true}
        outputs:
          answer: {type: string, reference: "${chat.output}", is_chat_output: true}
          judge_notes: {type: string, reference: "${notes.output}", evaluation_only: true}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
        - name: notes
          type: python
          source: {type: code, path: notes.py}
          inputs: {question: "${inputs.question}"}
    """,
    "parity/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
    "parity/notes.py": """
        from promptflow.core import tool

        @tool
        def notes(question: str) -> str:
            return "internal: " + question
    """,
}

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"

# GenAI attribute names the conventions replaced (gen_ai.system -> gen_ai.provider.name, the
# prompt/completion token counts -> input/output): none of them may reach an exporter.
REPLACED = {"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.prompt",
            "gen_ai.completion", "gen_ai.openai.request.seed", "gen_ai.openai.request.response_format",
            "gen_ai.openai.response.system_fingerprint", "gen_ai.openai.request.service_tier"}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def root(tmp_path_factory, fake):
    return write_workspace(tmp_path_factory.mktemp("qa-parity"), fake.base_url, FILES, SERVE)


@pytest.fixture(scope="module")
def served(root):
    process = ServeProcess(root / "parity", env={"PARITY_KEY": KEY})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served.url, timeout=60, headers={"api-key": KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def openai_client(served):
    return openai.OpenAI(base_url=served.url + "/v1", api_key=KEY, max_retries=0)


# --- W3C trace context ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def traced_from_a_caller(root, receiver):
    """A request sent with the caller's traceparent and one with a malformed one to a server that
    exports over OTLP; then the server stopped (SIGTERM flushes the store and the exporter)."""
    traced = ServeProcess(root / "parity", env={"PARITY_KEY": KEY, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    try:
        with httpx.Client(base_url=traced.url, timeout=60, headers={"api-key": KEY}) as client:
            joined = client.post("/score", json={"question": "joined trace"}, headers={
                "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "x-request-id": "caller-joined-1"})
            malformed = client.post("/score", json={"question": "own trace"}, headers={
                "traceparent": "00-not-a-trace-01", "x-request-id": "caller-malformed-1"})
    finally:
        traced.stop()
    assert joined.status_code == 200 and malformed.status_code == 200
    return root


def _show(root: Path, ident: str) -> dict:
    shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", ident, "--format", "json"],
                           cwd=root, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _names(spans: list[dict]) -> set[str]:
    return {span["name"] for span in spans} | {name for span in spans for name in _names(span["children"])}


def test_a_callers_traceparent_makes_the_request_part_of_its_trace(traced_from_a_caller):
    # Was: every request started a trace of its own, so the caller's trace (its web app, its
    # gateway) stopped at our door; pf flow serve continues it (try_extract_trace_context).
    trace = _show(traced_from_a_caller, CALLER_TRACE)
    request = trace["spans"][0]
    assert request["attributes"]["promptwise.request.id"] == "caller-joined-1"
    assert request["parent_id"] == CALLER_SPAN
    assert {"invoke_workflow parity", "node chat", "chat gpt-4o-mini"} <= _names(request["children"])
    # A malformed traceparent is ignored: the request has a trace of its own, and answers 200.
    own = _show(traced_from_a_caller, "caller-malformed-1")
    assert own["trace_id"] != CALLER_TRACE and own["spans"][0]["attributes"]["promptwise.request.id"] == \
        "caller-malformed-1"


def test_the_exported_request_span_is_a_child_of_the_callers_span_with_current_genai_names(traced_from_a_caller,
                                                                                          receiver):
    received = [span for _, span in receiver.spans()]
    joined = [span for span in received if span.trace_id.hex() == CALLER_TRACE]
    [request] = [span for span in joined if span.name == "POST /score"]
    assert request.parent_span_id.hex() == CALLER_SPAN
    [call] = [span for span in joined if span.name == "chat gpt-4o-mini"]
    values = attributes(call)
    assert values["gen_ai.operation.name"] == "chat" and values["gen_ai.provider.name"]
    assert values["gen_ai.usage.input_tokens"] > 0 and values["gen_ai.usage.output_tokens"] > 0
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes

    known = {value for name, value in vars(gen_ai_attributes).items() if name.startswith("GEN_AI_")}
    sent = {key for span in received for key in attributes(span) if key.startswith("gen_ai.")}
    assert sent and sent <= known, sent - known  # every GenAI name we export is one the conventions define
    assert not sent & REPLACED


def test_without_an_otlp_endpoint_the_local_store_joins_the_callers_trace_even_unsampled(served, client):
    # The default install records spans with tracing/local.py's tracer, not the SDK's; a caller's
    # "not sampled" flag (-00) must not drop the request from the store monitoring reads.
    trace_id = "1af7651916cd43dd8448eb211c80319c"
    answer = client.post("/score", json={"question": "local joined"}, headers={
        "traceparent": f"00-{trace_id}-c7ad6b7169203331-00", "x-request-id": "caller-local-1"})
    assert answer.status_code == 200
    deadline = time.monotonic() + 20  # the span writer stores in batches
    while True:
        shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", trace_id, "--format", "json"],
                               cwd=served.log.parent, capture_output=True, text=True, timeout=60)
        if shown.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown.returncode == 0, shown.stderr
    [request] = json.loads(shown.stdout)["spans"]
    assert request["parent_id"] == "c7ad6b7169203331"
    assert request["attributes"]["promptwise.request.id"] == "caller-local-1"


# --- evaluation_only outputs --------------------------------------------------------------------
def test_evaluation_only_outputs_are_left_out_of_the_answer(client):
    # Was: {"answer": ..., "judge_notes": "internal: ..."}: an output the flow's author marked for
    # evaluation reached every caller; pf flow serve removes it.
    answer = client.post("/score", json={"question": "what is hidden?"})
    assert answer.status_code == 200 and set(answer.json()) == {"answer"}
    events = client.post("/score", json={"question": "stream it"}, headers={"Accept": "text/event-stream"})
    assert events.headers["content-type"].startswith("text/event-stream")
    sent = [json.loads(line[6:]) for line in events.text.splitlines() if line.startswith("data: ")]
    assert sent and all(set(event) == {"answer"} for event in sent)
    outputs = client.get("/openapi.json").json()["paths"]["/score"]["post"]["responses"]["200"]["content"]
    assert set(outputs["application/json"]["schema"]["properties"]) == {"answer"}


# --- the OpenAI route ------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, param", [
    ({"n": 2}, "n"),
    ({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}, "tools"),
    ({"logprobs": True}, "logprobs"),
    ({"n": 3, "stream": True}, "n"),
])
def test_what_one_run_cannot_answer_is_a_400_naming_the_field(openai_client, extra, param):
    # Was: 200 with one choice and no tool calls: a client asking n=2 read choices[1] and failed,
    # one offering tools waited for a tool call that never came.
    with pytest.raises(openai.BadRequestError) as caught:
        answer = openai_client.chat.completions.create(model="parity", **extra,
                                                       messages=[{"role": "user", "content": "hello"}])
        for _ in answer if extra.get("stream") else ():
            pass
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == param and caught.value.body["type"] == "invalid_request_error"
    assert f"`{param}`" in caught.value.body["message"]


def test_settings_the_flow_owns_are_accepted_and_the_flow_is_listed_as_a_model(openai_client):
    reply = openai_client.chat.completions.create(model="parity", temperature=0.1, stop=["\n\n"], max_tokens=5, n=1,
                                                  tool_choice="none", messages=[{"role": "user", "content": "hello"}])
    assert len(reply.choices) == 1 and reply.choices[0].message.content
    [model] = openai_client.models.list().data
    assert model.id == "parity"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=openai_client.base_url, api_key="wrong", max_retries=0).models.list()


# --- CORS ------------------------------------------------------------------------------------------
def test_a_page_may_send_the_headers_the_server_reads_and_read_the_ones_it_answers(served, client):
    # Was: a preflight naming x-api-key (a header authenticate() reads) or traceparent was refused,
    # and a page could not read a 429's Retry-After nor the request id an error asks to quote.
    preflight = httpx.options(served.url + "/score", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, traceparent, x-ms-client-request-id, content-type"})
    assert preflight.status_code == 200, preflight.text
    answer = client.post("/score", json={"question": [3]}, headers={"Origin": ORIGIN})
    assert answer.status_code == 422
    exposed = {name.strip().lower() for name in answer.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-request-id"} <= exposed


# --- OpenAPI documents: valid OpenAPI 3 for every kind of flow ---------------------------------------
FLEX = {
    "flex/flow.flex.yaml": "entry: app:shout\n",
    "flex/app.py": "def shout(text: str, times: int = 1) -> str:\n    return text.upper() * times\n",
    "sample.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        sample: {question: What is the capital of France?, chat_history: []}
        ---
        user:
        {{question}}
    """,
}


@pytest.mark.parametrize("flow, keys", [("parity", True), ("flex", False), ("sample.prompty", False)])
def test_the_openapi_document_is_valid_openapi(tmp_path, fake, flow, keys):
    from openapi_spec_validator import validate

    from promptwise.serving.flow import ServedFlow
    from promptwise.serving.openapi import openapi_document

    root = write_workspace(tmp_path, fake.base_url, {**FILES, **FLEX})

    async def document() -> dict:
        served = ServedFlow(root / flow)
        await served.open()
        try:
            return openapi_document(served, requires_keys=keys, chat=served.chat_shape() is not None)
        finally:
            await served.close()

    spec = asyncio.run(document())
    validate(spec)  # raises naming the first violation
    body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    if flow == "sample.prompty":  # inputs known only from `sample:`: typed from it, and it is the example
        # Was: properties {"question": {}, "chat_history": {}} and no example.
        assert body["schema"]["properties"] == {"question": {"type": "string"}, "chat_history": {"type": "array"}}
        assert body["example"] == {"question": "What is the capital of France?", "chat_history": []}
        answered = spec["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answered["type"] == "string"  # a prompty answers its reply as a JSON string, as pf flow serve does
    if flow == "flex":
        assert body["example"] == {"times": 1}  # the defaults a caller may leave out
