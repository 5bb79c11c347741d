"""The editor's request panel opens a served request's trace by the id it was answered with
(`promptwise.showTrace {uri, request_id}`), also for a request refused before its flow ran (a
422 has only its request span, no flow span naming the flow): it said "no trace of request"."""

from __future__ import annotations

import time

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.lsp.traces import TraceNotFound, find_trace
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path_factory.mktemp("request-trace"), fake.base_url, ECHO_PROMPTY)
        process = ServeProcess(root / "echo.prompty")
        yield root, process
        process.stop()


def _trace(root, request_id: str, seconds: float = 10) -> dict:
    """The trace the panel's "Open the trace" shows (spans reach the store in timed batches)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return find_trace(root, {"uri": (root / "echo.prompty").as_uri(), "request_id": request_id})
        except TraceNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("body, status", [({"question": "hello"}, 200), ({}, 422), ({"question": [5]}, 422)])
def test_the_request_panels_trace_link_finds_the_request(served, body, status):
    root, process = served
    request_id = f"panel{status}{len(body)}{int(time.time() * 1000) % 100000}"
    response = httpx.post(process.url + "/score", json=body, headers={"x-request-id": request_id}, timeout=30)
    assert response.status_code == status
    document = _trace(root, request_id)
    request_spans = [span for span in document["spans"] if span["kind"] == "request"]
    assert [span["attributes"]["promptwise.request.id"] for span in request_spans] == [request_id]
    assert document["status"] == ("error" if status != 200 else document["status"])
