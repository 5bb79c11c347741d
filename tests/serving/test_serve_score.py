"""POST /score and the server's other routes, through a real `promptwise serve` process and httpx,
with the fake model behind it: Prompt flow's contract, streaming, and every kind of bad input."""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace

DAG_FLOW = {
    "triage/flow.dag.yaml": """
        inputs:
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, default: [], is_chat_history: true}
          times: {type: int, default: 2}
          ratio: {type: double, default: 0.5}
        outputs:
          answer: {reference: "${chat.output}", is_chat_output: true}
          length: {reference: "${measure.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
        - name: measure
          type: python
          source: {type: code, path: measure.py}
          inputs: {text: "${chat.output}", times: "${inputs.times}"}
    """,
    "triage/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
    "triage/measure.py": """
        import sys

        from promptflow.core import tool

        @tool
        def measure(text: str, times: int) -> float:
            if text.endswith("exit please"):
                sys.exit(2)  # user code asking the process to stop: fails the request only
            if text.endswith("not a number"):
                return float("nan")
            return len(text) * times
    """,
}

SERVE = """
max_body_bytes: 8192
timeout_seconds: 3
"""


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(rules=[(r"capital of France", "Paris is the capital of France.")]) as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("serve-score"), fake.base_url, DAG_FLOW, SERVE)
    process = ServeProcess(root / "triage")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client


def test_score_answers_the_flows_outputs_as_json(client, fake):
    response = client.post("/score", json={"question": "What is the capital of France?"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"answer": "Paris is the capital of France.",
                               "length": 2 * len("Paris is the capital of France.")}
    assert len(response.headers["x-request-id"]) == 16
    assert response.headers["x-promptwise-version"].startswith("sha256:")


def test_score_keeps_a_callers_request_id(client):
    response = client.post("/score", json={"question": "hi"}, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_score_streams_server_sent_events_when_asked(client):
    with client.stream("POST", "/score", json={"question": "What is the capital of France?"},
                       headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    # Prompt flow's order: the outputs that do not stream first, then the streamed one's chunks.
    assert events[0] == {"length": 2 * len("Paris is the capital of France.")}
    pieces = [event["answer"] for event in events[1:]]
    assert "".join(pieces) == "Paris is the capital of France."
    assert len(pieces) > 1  # in the pieces the model wrote, not in one


def request_spans(served, request_id: str) -> tuple[dict, list[tuple]]:
    """The request span's attributes and start (ns), and its children's (kind, end ns)."""
    store = served.log.parent / ".promptwise" / "traces.sqlite"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if store.exists():
            with sqlite3.connect(store) as db:
                request = db.execute("SELECT span_id, start_ns, attributes FROM spans WHERE attributes LIKE ?",
                                     (f'%"promptwise.request.id": "{request_id}"%',)).fetchone()
                children = request and db.execute("SELECT kind, end_ns FROM spans WHERE parent_id = ?",
                                                  (request[0],)).fetchall()
            if request and children:
                return {**json.loads(request[2]), "start_ns": request[1]}, children
        time.sleep(0.2)
    raise AssertionError(f"no trace of request {request_id}")


def test_time_to_first_token_is_when_the_client_got_it_not_when_the_model_wrote_it(served, client):
    # `answer` (the llm node) must follow `length`, known only when the flow ends: the model's
    # tokens are held until then, and that is when this client gets its first one.
    with client.stream("POST", "/score", json={"question": "What is the capital of France?"},
                       headers={"Accept": "text/event-stream", "x-request-id": "ttft-held"}) as response:
        assert len([line for line in response.iter_lines() if line.startswith("data: ")]) > 2
    request, children = request_spans(served, "ttft-held")
    [flow_end] = [end for kind, end in children if kind == "flow"]
    flow_ms = (flow_end - request["start_ns"]) / 1e6  # from the request's start to the flow's end
    client_ms = request["promptwise.time_to_first_token_ms"]
    model_ms = request["promptwise.model_time_to_first_token_ms"]
    assert model_ms < flow_ms - 0.5 and client_ms > flow_ms - 0.5  # 0.5: the span clock and the server's
    metrics = client.get("/metrics").text
    assert 'promptwise_time_to_first_token_seconds_count{consumer="local",route="/score"' in metrics


def test_malformed_json_is_400_naming_the_problem(client):
    response = client.post("/score", content=b'{"question": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "UserError"
    assert error["innerError"]["code"] == "BadRequest"
    assert "not valid JSON" in error["message"] and "line 1, column 14" in error["message"]
    assert len(error["id"]) == 16


def test_a_json_body_that_is_not_an_object_is_422(client):
    response = client.post("/score", json=["question"])
    assert response.status_code == 422
    assert "JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize("body, words", [
    ({}, ["`question`", "string", "missing"]),
    ({"question": {"text": 42}}, ["`question`", "string", "an object"]),  # a number is "42", as pf
    ({"question": None}, ["`question`", "string", "null"]),
    ({"question": "hi", "times": "two"}, ["`times`", "integer", "a string"]),
    ({"question": "hi", "times": True}, ["`times`", "integer", "a boolean"]),
    ({"question": "hi", "chat_history": {"a": 1}}, ["`chat_history`", "array", "an object"]),
])
def test_missing_or_mistyped_inputs_are_422_naming_the_input_and_type(client, body, words):
    response = client.post("/score", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["innerError"]["code"] == "InputMismatch"
    for word in words:
        assert word in error["message"]


def test_numbers_fit_their_declared_types(client):
    response = client.post("/score", json={"question": "hi", "times": 3.0, "ratio": 1})
    assert response.status_code == 200
    assert response.json()["length"] == 3 * len("echo: hi")


def test_unknown_route_is_404_json_and_wrong_method_405(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["innerError"]["code"] == "NotFound"
    response = client.get("/score")
    assert response.status_code == 405
    assert response.json()["error"]["innerError"]["code"] == "MethodNotAllowed"


def test_a_body_over_the_limit_is_413(client):
    response = client.post("/score", json={"question": "x" * 9000})
    assert response.status_code == 413
    assert "8192" in response.json()["error"]["message"]


def test_a_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    response = client.post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_health_ready_and_openapi(client):
    assert client.get("/health").json()["status"] == "Healthy"
    ready = client.get("/ready").json()
    assert ready["status"] == "Ready" and ready["version"].startswith("sha256:")
    assert client.get("/version").json()["build_info"] == ready["version"]
    document = client.get("/openapi.json").json()
    schema = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["question"]
    assert schema["properties"]["times"] == {"type": "integer", "default": 2}
    assert schema["properties"]["chat_history"]["type"] == "array"
    outputs = document["paths"]["/score"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(outputs["properties"]) == {"answer", "length"}
    assert "/v1/chat/completions" in document["paths"]  # a chat flow
    assert client.get("/swagger.json").json() == document  # Prompt flow's name for it


def test_metrics_count_requests_tokens_and_errors_by_version_and_consumer(client):
    client.post("/score", json={"question": "metrics please"})
    client.post("/score", json={})
    text = client.get("/metrics").text
    version = client.get("/ready").json()["version"][:19]
    assert f'promptwise_requests_total{{consumer="local",route="/score",status="200",version="{version}"}}' in text
    assert 'status="422"' in text
    assert 'promptwise_errors_total{consumer="local",kind="invalid_input"' in text
    assert 'promptwise_tokens_total{consumer="local",kind="input"' in text
    assert "promptwise_request_latency_seconds_bucket" in text


def test_a_flow_slower_than_the_timeout_is_504(client, fake):
    fake.inject("hang", count=1, match="never answers")
    response = client.post("/score", json={"question": "this never answers"})
    assert response.status_code == 504
    assert "timeout_seconds" in response.json()["error"]["message"]
    assert client.post("/score", json={"question": "still alive?"}).status_code == 200


def test_a_failing_endpoint_is_503_with_retry_after(served, client, fake):
    fake.inject("server_error", count=3, match="server trouble", status=503)
    response = client.post("/score", json={"question": "server trouble"})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "SystemError"
    assert "Traceback" not in response.text
    assert str(served.log.parent) not in response.text  # no server paths reach the caller


def test_access_log_is_json_without_inputs(served, client):
    client.post("/score", json={"question": "a secret question"}, headers={"x-request-id": "secret-question"})
    entries = [entry for entry in served.access_log(until=lambda entries: any(e["id"] == "secret-question" for e in entries))
               if entry.get("route") == "/score"]
    assert entries and all({"id", "status", "ms", "consumer", "version", "tokens"} <= set(entry) for entry in entries)
    assert "a secret question" not in served.stderr()


def test_every_request_is_traced_with_its_consumer_and_content_hash(served, client):
    client.post("/score", json={"question": "trace me"}, headers={"x-request-id": "trace-me-1"})
    version = client.get("/ready").json()["version"]
    store = served.log.parent / ".promptwise" / "traces.sqlite"
    deadline = time.monotonic() + 10
    request = children = trace = None
    while time.monotonic() < deadline:
        if store.exists():
            with sqlite3.connect(store) as db:
                request = db.execute("SELECT trace_id, span_id, kind FROM spans WHERE attributes LIKE ?",
                                     ('%"promptwise.request.id": "trace-me-1"%',)).fetchone()
                if request:
                    children = db.execute("SELECT kind FROM spans WHERE parent_id = ?", (request[1],)).fetchall()
                    trace = db.execute("SELECT consumer, content_hash FROM traces WHERE trace_id = ?",
                                       (request[0],)).fetchone()
        if request and children and trace:
            break
        time.sleep(0.2)
    assert request is not None and request[2] == "request"
    assert ("flow",) in children  # the engine's flow span nests under the request's
    assert trace == ("local", version)


def test_no_cors_headers_unless_configured(client):
    response = client.options("/score", headers={"Origin": "https://portal.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


def test_a_single_input_flow_takes_a_plain_text_body(tmp_path_factory, fake):
    """Prompt flow's rule: a body that is not JSON is the value of a flow's only input."""
    root = write_workspace(tmp_path_factory.mktemp("serve-text"), fake.base_url, ECHO_PROMPTY)
    process = ServeProcess(root / "echo.prompty")
    try:
        response = httpx.post(process.url + "/score", content="plain words", headers={"content-type": "text/plain"})
        assert response.json() == "echo: plain words"  # a prompty's reply as itself, as pf flow serve answers it
        declared_json = httpx.post(process.url + "/score", content="plain words",
                                   headers={"content-type": "application/json"})
        assert declared_json.status_code == 400
    finally:
        process.stop()


def test_user_code_calling_sys_exit_fails_the_request_not_the_server(client):
    response = client.post("/score", json={"question": "exit please"})
    assert response.status_code == 400
    assert "sys.exit(2)" in response.json()["error"]["message"]
    assert client.get("/health").status_code == 200
    assert client.post("/score", json={"question": "and now?"}).status_code == 200


def test_outputs_that_are_not_json_numbers_are_null(client):
    response = client.post("/score", json={"question": "not a number"})
    assert response.status_code == 200
    assert response.json()["length"] is None  # NaN is not JSON: strict clients could not read it


@pytest.mark.parametrize("body, words", [
    (b"[" * 4000 + b"]" * 4000, ["nests JSON too deeply"]),
    (b'{"question": ' + b"9" * 5000 + b"}", ["not usable JSON"]),
    (b'{"question": "\xff"}', ["not UTF-8"]),
])
def test_hostile_json_is_400_not_a_crash(client, body, words):
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    for word in words:
        assert word in response.json()["error"]["message"]


def test_a_body_that_never_finishes_is_408(served):
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"question\": ")
        sock.settimeout(20)
        answer = b""
        while b"RequestTimeout" not in answer:  # headers and body may come in separate reads
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"RequestTimeout" in answer


def test_the_flows_run_time_its_model_calls_and_the_answers_are_in_server_timing(client):
    response = client.post("/score", json={"question": "how long?"})
    timing = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
    flow, model, app = float(timing["flow"]), float(timing["model"]), float(timing["app"])
    assert 0 < model < flow <= app  # one model call inside the flow's run, inside the answer's time
