"""Generator outputs stream as Server-Sent Events, as `pf flow serve` streams them: a DAG's python
node and a flex flow's entry returning a generator, through a real `promptwise serve` process.
The outputs that do not stream come first (one event), then one event per item."""

from __future__ import annotations

import json

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace

FLOWS = {
    "dag/flow.dag.yaml": """
        inputs:
          text: {type: string}
        outputs:
          answer: {reference: "${spell.output}"}
          count: {reference: "${count.output}"}
        nodes:
        - name: spell
          type: python
          source: {type: code, path: spell.py}
          inputs: {text: "${inputs.text}"}
        - name: count
          type: python
          source: {type: code, path: count.py}
          inputs: {text: "${inputs.text}"}
    """,
    "dag/spell.py": """
        from promptflow.core import tool

        @tool
        def spell(text: str):
            for word in text.split():
                if word == "boom":
                    raise ValueError("no boom here")
                yield word + " "
    """,
    "dag/count.py": """
        from promptflow.core import tool

        @tool
        def count(text: str) -> int:
            return len(text.split())
    """,
    "flex/flow.flex.yaml": """
        entry: words:answer
        inputs:
          text: {type: string}
    """,
    "flex/words.py": """
        async def _spell(text):
            for word in text.split():
                yield word.upper() + " "

        def answer(text: str):
            return {"answer": _spell(text), "count": len(text.split())}
    """,
}


def events_of(url: str, text: str, request_id: str = "") -> list[dict]:
    headers = {"Accept": "text/event-stream", **({"x-request-id": request_id} if request_id else {})}
    with httpx.stream("POST", url + "/score", json={"text": text}, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]


def logged(served, request_id: str) -> list[dict]:
    """The access log's entries of one request (waited for: a thread writes them)."""
    entries = served.access_log(until=lambda entries: any(entry["id"] == request_id for entry in entries))
    return [entry for entry in entries if entry["id"] == request_id]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    with FakeOpenAI() as fake:
        yield write_workspace(tmp_path_factory.mktemp("serve-generators"), fake.base_url, FLOWS)


@pytest.fixture(scope="module")
def dag(workspace):
    process = ServeProcess(workspace / "dag")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def flex(workspace):
    process = ServeProcess(workspace / "flex")
    yield process
    process.stop()


def test_a_python_node_generator_streams_each_item_after_the_other_outputs(dag):
    assert events_of(dag.url, "alpha beta gamma", "streams-each") == [{"count": 3}, {"answer": "alpha "},
                                                                      {"answer": "beta "}, {"answer": "gamma "}]
    [entry] = logged(dag, "streams-each")
    assert entry["status"] == 200 and entry["streamed"] is True


def test_a_python_node_generator_is_joined_for_a_json_client(dag):
    response = httpx.post(dag.url + "/score", json={"text": "alpha beta"}, timeout=30)
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"answer": "alpha beta ", "count": 2}


def test_a_generator_failing_mid_stream_ends_with_an_error_event(dag):
    events = events_of(dag.url, "one boom two", "fails-mid-stream")
    assert events[:2] == [{"count": 3}, {"answer": "one "}]
    error = events[-1]["error"]
    assert "no boom here" in error["message"] and "Traceback" not in error["message"]
    assert [entry["status"] for entry in logged(dag, "fails-mid-stream")] == [500]
    assert httpx.get(dag.url + "/health").status_code == 200


def test_a_flex_entrys_async_generator_value_streams_after_its_other_outputs(flex):
    assert events_of(flex.url, "red green") == [{"count": 2}, {"answer": "RED "}, {"answer": "GREEN "}]
    response = httpx.post(flex.url + "/score", json={"text": "red green"}, timeout=30)
    assert response.json() == {"answer": "RED GREEN ", "count": 2}
