"""A streamed request whose client leaves while a node of the flow ignores the cancel (user code
that swallows CancelledError): the server waits a bounded grace
(serving/streaming.CANCELLED_FLOW_GRACE_S) for the flow to stop and count what its calls spent,
then finishes the request anyway (499 in the access log) and goes on answering. Before the bound,
such a request (and a SIGTERM drain after it) waited for that node for ever. Through a real
`promptwise serve` process, the fake model and a real streaming client."""

from __future__ import annotations

import httpx
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.streaming import CANCELLED_FLOW_GRACE_S
from serving_process import ServeProcess, write_workspace

# `answer` streams from the llm node while `stubborn` (no output needs it, but a DAG runs every
# node) runs on, swallowing every cancel; it ends by itself only after 90 s, past the test's wait.
FLOWS = {
    "ask/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
        - name: stubborn
          type: python
          source: {type: code, path: stubborn.py}
          inputs: {question: "${inputs.question}"}
    """,
    "ask/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
    "ask/stubborn.py": """
        import asyncio
        import time

        from promptflow.core import tool


        @tool
        async def stubborn(question: str) -> str:
            until = time.monotonic() + 90
            while time.monotonic() < until:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    pass  # user code that swallows the cancel
            return "done"
    """,
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("stubborn"), fake.base_url, FLOWS)
    process = ServeProcess(root / "ask")
    yield process
    process.stop()


def test_a_cut_stream_whose_flow_ignores_the_cancel_still_finishes(served):
    with httpx.Client(base_url=served.url, timeout=30) as client:
        with client.stream("POST", "/score", json={"question": "q"},
                           headers={"accept": "text/event-stream", "x-request-id": "stubborn-1"}) as answer:
            assert answer.status_code == 200
            first = next(line for line in answer.iter_lines() if line.startswith("data:"))
            assert "answer" in first
        # leaving the `with` closes the connection mid-stream, the stubborn node still running
    entries = served.access_log(until=lambda entries: any(e.get("id") == "stubborn-1" for e in entries),
                                seconds=CANCELLED_FLOW_GRACE_S + 20)
    assert next(e for e in entries if e.get("id") == "stubborn-1")["status"] == 499
    assert httpx.get(served.url + "/health", timeout=10).status_code == 200
