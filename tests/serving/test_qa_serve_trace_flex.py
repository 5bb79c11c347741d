"""A flex flow whose entry is a `@trace` generator (from promptflow.tracing), served: its function
spans belong to the request's trace, streamed or joined for a JSON client."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from serving_process import ServeProcess, write_workspace

FLEX = {
    "words/flow.flex.yaml": "entry: app:answer\n",
    "words/app.py": """
        from promptflow.tracing import trace

        @trace
        def shout(text: str) -> str:
            return text.upper()

        @trace
        def answer(question: str, times: int = 2):
            loud = shout(question)
            for index in range(times):
                yield f"{loud}-{index} "
    """,
}


def _trace_of(root, request_id: str) -> dict:
    shown = subprocess.run([sys.executable, "-m", "promptwise", "traces", "show", request_id, "--format", "json"],
                           cwd=root, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _names(span: dict) -> list:
    return [span["name"], [_names(child) for child in span["children"]]]


def test_a_traced_generator_entrys_spans_are_in_the_request_trace(tmp_path):
    # Was: the request's trace held the request and flow spans only; `answer` and `shout` went to
    # a trace of their own (no flow, version or consumer), and each streamed request logged
    # "Failed to detach context" with a traceback on the server's stderr.
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", FLEX)
    served = ServeProcess(root / "words")
    try:
        streamed = httpx.post(served.url + "/score", json={"question": "hey"}, timeout=30,
                              headers={"Accept": "text/event-stream", "x-request-id": "streamed-1"})
        joined = httpx.post(served.url + "/score", json={"question": "json"}, timeout=30,
                            headers={"x-request-id": "joined-1"})
    finally:
        served.stop()
    assert [line for line in streamed.text.splitlines() if line] == ['data: {"output": "HEY-0 "}',
                                                                    'data: {"output": "HEY-1 "}']
    assert joined.json() == "JSON-0 JSON-1 "
    for request_id, output in (("streamed-1", "HEY-0 HEY-1 "), ("joined-1", "JSON-0 JSON-1 ")):
        document = _trace_of(root, request_id)
        [request] = document["spans"]
        assert _names(request) == ["POST /score", [["invoke_workflow words", [["answer", [["shout", []]]]]]]]
        answer = request["children"][0]["children"][0]
        assert answer["kind"] == "function" and answer["content"]["output"] == output
    listed = subprocess.run([sys.executable, "-m", "promptwise", "traces", "list", "--format", "json"], cwd=root,
                            capture_output=True, text=True, timeout=60)
    assert [trace["name"] for trace in json.loads(listed.stdout)] == ["POST /score", "POST /score"]  # no orphans
    assert "Failed to detach context" not in served.stderr() and "Traceback" not in served.stderr()
