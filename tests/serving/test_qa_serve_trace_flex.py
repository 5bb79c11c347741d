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


# --- a class entry with init values: pf flow serve --init -------------------------------------------
CLASS_ENTRY = {
    "bot/flow.flex.yaml": """
        entry: app:Bot
        init:
          greeting: {type: string}
          times: {type: int, default: 1}
        inputs:
          name: {type: string}
    """,
    "bot/app.py": """
        class Bot:
            def __init__(self, greeting: str, times: int = 1):
                self.greeting, self.times = greeting, times

            def __call__(self, name: str) -> dict:
                return {"text": (self.greeting + " " + name + "! ") * self.times}
    """,
}


def test_a_class_entry_is_served_with_init_values_given_as_pf_flow_serve_takes_them(tmp_path):
    # Was: no --init on serve, and a class entry whose init value has no default could not be
    # served at all; the error called it an input and said "pass it (--inputs greeting=...)".
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", CLASS_ENTRY)
    refused = subprocess.run([sys.executable, "-m", "promptwise", "serve", str(root / "bot")], cwd=root,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "init value `greeting`" in refused.stderr and "--init greeting=" in refused.stderr
    assert "--inputs" not in refused.stderr and "Traceback" not in refused.stderr
    served = ServeProcess(root / "bot", args=("--init", "greeting=Hello", "times=2"))
    try:  # the worker (uvicorn's factory, from PROMPTWISE_SERVE_CONFIG) builds the instance with them
        answers = [httpx.post(served.url + "/score", json={"name": f"Ada{i}"}, timeout=30) for i in range(2)]
    finally:
        served.stop()
    assert [answer.json() for answer in answers] == [{"text": f"Hello Ada{i}! Hello Ada{i}! "} for i in range(2)]


# --- SIGTERM while a stream is being sent --------------------------------------------------------------
SLOW_WORDS = {
    "slow/flow.flex.yaml": "entry: app:words\n",
    "slow/app.py": """
        import asyncio

        async def words(count: int = 8):
            for index in range(count):
                await asyncio.sleep(0.2)
                yield f"w{index} "
    """,
}


def test_sigterm_lets_a_stream_in_flight_finish_and_keeps_its_trace_and_log_line(tmp_path):
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", SLOW_WORDS)
    served = ServeProcess(root / "slow")
    events = []
    try:
        with httpx.stream("POST", served.url + "/score", json={"count": 8}, timeout=30,
                          headers={"Accept": "text/event-stream", "x-request-id": "draining-stream"}) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if len(events) == 1:
                        served.terminate()  # SIGTERM after the first event, seven still to come
    finally:
        served.stop()
    assert events == [{"output": f"w{index} "} for index in range(8)]
    [logged] = [entry for entry in served.access_log() if entry.get("id") == "draining-stream"]
    assert logged["status"] == 200 and logged["streamed"] is True
    document = _trace_of(root, "draining-stream")
    assert document["spans"][0]["attributes"]["http.response.status_code"] == 200
    assert "promptwise.cancelled" not in document["spans"][0]["attributes"]
