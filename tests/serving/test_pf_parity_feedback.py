"""`POST /feedback`, Prompt flow's route (was a 404 with us), through a real server process: the
body is recorded as a `promptflow-feedback` span in the answer's trace, which `promptwise traces
show` prints; pf's `traceparent` and `?flatten=true`, our `?request_id=`; the server's keys and
body limit; 503 when the server keeps no traces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, show_trace, write_workspace

KEY = "feedback-key-0123456789"
FILES = {
    "plain/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {type: string, reference: "${echo.output}"}
        nodes:
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {question: "${inputs.question}"}
    """,
    "plain/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(question: str) -> str:
            return question
    """,
}
SERVE = """
keys:
  - {consumer: portal, key: "${env:FEEDBACK_KEY}"}
max_body_bytes: 4000
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    with FakeOpenAI() as fake:  # the workspace names it; this flow makes no model call
        return write_workspace(tmp_path_factory.mktemp("pf-parity-feedback"), fake.base_url, FILES, SERVE)


@pytest.fixture(scope="module")
def served(root):
    process = ServeProcess(root / "plain", env={"FEEDBACK_KEY": KEY})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(served):
    with httpx.Client(base_url=served.url, timeout=30, headers={"api-key": KEY}) as client:
        yield client


def _feedback_spans(span: dict) -> list[dict]:
    found = [span] if span["kind"] == "feedback" else []
    return found + [f for child in span["children"] for f in _feedback_spans(child)]


def test_feedback_named_by_request_id_lands_under_that_request_in_its_trace(root, client):
    answer = client.post("/score", json={"question": "rate me"}, headers={"x-request-id": "fb-answer-1"})
    assert answer.status_code == 200
    body = {"rating": 2, "comment": "too short"}
    given = client.post("/feedback", params={"request_id": "fb-answer-1"}, json=body)
    assert given.status_code == 200 and given.json() == {"status": "Feedback received."}  # pf's answer
    trace = show_trace(root, "fb-answer-1", until=lambda t: _feedback_spans(t["spans"][0]))
    assert trace["name"] == "POST /score" and trace["kind"] == "request"  # the feedback took nothing over
    [request] = trace["spans"]
    [feedback] = _feedback_spans(request)
    assert feedback["name"] == "promptflow-feedback" and feedback["parent_id"] == request["span_id"]
    assert json.loads(feedback["attributes"]["feedback"]) == body
    assert feedback["attributes"]["promptwise.consumer"] == "portal"
    assert feedback["attributes"]["promptwise.feedback.request_id"] == "fb-answer-1"
    assert "rating" not in feedback["attributes"]  # flattened only when asked
    text = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", "fb-answer-1"], cwd=root,
                          capture_output=True, text=True, timeout=60).stdout
    assert "promptflow-feedback" in text and "feedback: " in text and "too short" in text


def test_pf_clients_traceparent_and_flatten(root, client):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    assert client.post("/score", json={"question": "pf style"}, headers={"traceparent": traceparent}).status_code == 200
    show_trace(root, trace_id)  # the request's trace is stored before the feedback arrives, as a user's would be
    body = {"rating": 5, "liked": True, "comment": "great", "promptwise.consumer": "spoofed", "http.route": 1}
    given = client.post("/feedback", params={"flatten": "true"}, json=body, headers={"traceparent": traceparent})
    assert given.status_code == 200
    trace = show_trace(root, trace_id, until=lambda t: _feedback_spans(t["spans"][0]))
    [request] = trace["spans"]  # one root: the feedback is a child of the request's span
    [feedback] = _feedback_spans(request)
    values = feedback["attributes"]
    assert values["rating"] == 5 and values["liked"] is True  # what a dashboard charts
    assert "comment" not in values  # text stays in `feedback`, where the PII policy governs it
    assert values["promptwise.consumer"] == "portal" and "http.route" not in values  # no schema name from a body
    assert json.loads(values["feedback"]) == body


def test_feedback_on_a_trace_the_store_does_not_know_is_a_trace_of_its_own(root, client):
    trace_id = "5bf92f3577b34da6a3ce929d0e0e4736"
    given = client.post("/feedback", content=b"not json at all", headers={
        "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert given.status_code == 200  # any text, as pf takes it
    trace = show_trace(root, trace_id)
    assert trace["name"] == "promptflow-feedback" and trace["kind"] == "feedback"
    assert trace["spans"][0]["attributes"]["feedback"] == "not json at all"


def test_feedback_for_an_unknown_request_id_is_404_not_recorded_nowhere(client):
    given = client.post("/feedback", params={"request_id": "never-answered-1"}, json={"rating": 1})
    assert given.status_code == 404
    error = given.json()["error"]
    assert error["innerError"]["code"] == "NotFound" and "never-answered-1" in error["message"]
    assert error["id"] == given.headers["x-request-id"]


def test_feedback_needs_the_servers_key_and_keeps_to_its_body_limit(served):
    refused = httpx.post(served.url + "/feedback", json={"rating": 1}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["innerError"]["code"] == "Unauthorized"
    large = httpx.post(served.url + "/feedback", content=b"x" * 5000, headers={"api-key": KEY}, timeout=30)
    assert large.status_code == 413


def test_feedback_is_in_the_openapi_document(client):
    from openapi_spec_validator import validate

    document = client.get("/openapi.json").json()
    validate(document)
    feedback = document["paths"]["/feedback"]["post"]
    assert {parameter["name"] for parameter in feedback["parameters"]} == {"flatten", "request_id"}
    assert "406" in document["paths"]["/score"]["post"]["responses"]


def test_a_server_without_traces_answers_feedback_503(root):
    served = ServeProcess(root / "plain", args=("--no-trace",), env={"FEEDBACK_KEY": KEY})
    try:
        given = httpx.post(served.url + "/feedback", json={"rating": 3}, headers={"api-key": KEY}, timeout=30)
    finally:
        served.stop()
    assert given.status_code == 503
    assert "--no-trace" in given.json()["error"]["message"]


def test_feedback_is_exported_over_otlp_in_the_callers_trace(root):
    # pf's users read feedback where its exporters send it (App Insights, any OTLP backend): ours
    # goes out with the request's spans, the body governed as content (the PII policy applies).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracing"))
    from test_otlp_export import OtlpReceiver, attributes

    trace_id = "6bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    with OtlpReceiver() as receiver:
        served = ServeProcess(root / "plain", env={"FEEDBACK_KEY": KEY, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
        try:
            headers = {"api-key": KEY, "traceparent": traceparent}
            assert httpx.post(served.url + "/score", json={"question": "exported"}, headers=headers,
                              timeout=30).status_code == 200
            assert httpx.post(served.url + "/feedback", params={"flatten": "true"}, json={"rating": 4},
                              headers=headers, timeout=30).status_code == 200
        finally:
            served.stop()  # SIGTERM flushes the exporter
        spans = [span for _, span in receiver.spans() if span.trace_id.hex() == trace_id]
    [feedback] = [span for span in spans if span.name == "promptflow-feedback"]
    [request] = [span for span in spans if span.name == "POST /score"]
    values = attributes(feedback)
    assert json.loads(values["feedback"]) == {"rating": 4} and values["rating"] == 4
    assert values["promptwise.span.kind"] == "feedback"
    # Under the request when the store already had it, else beside it under the caller's span (as pf).
    assert feedback.parent_span_id.hex() in (request.span_id.hex(), "00f067aa0ba902b7")
