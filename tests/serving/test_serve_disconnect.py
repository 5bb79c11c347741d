"""A client that disconnects while its (non-streamed) answer is still being made: the flow's run
is cancelled and with it the model call, whose connection to the endpoint is closed; the access
log and the trace say 499 / cancelled; the server goes on answering. Through a real `promptwise
serve` process, real clients (httpx, the `openai` client) and the fake model, which holds the
call open ("hang") until its caller closes the connection."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import httpx
import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace

# A chat flow (served on /score and /v1/chat/completions) with one llm node.
CHAT_DAG = {
    "ask/flow.dag.yaml": """
        inputs:
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, default: [], is_chat_history: true}
        outputs:
          answer: {reference: "${chat.output}", is_chat_output: true}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: open_ai_connection
          api: chat
    """,
    "ask/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
}

# Far longer than the test waits: a model call that ends did so because it was cancelled.
SERVE = "timeout_seconds: 120\n"


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("serve-disconnect"), fake.base_url, CHAT_DAG, SERVE)
    process = ServeProcess(root / "ask")
    yield process
    process.stop()


def wait_until(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


async def leave_mid_call(fake: FakeOpenAI, request) -> None:
    """Send `request` (a real client's coroutine) and, once the fake has its model call in
    flight, give up: the request is cancelled and its client closed (its connection with it)."""
    task = asyncio.ensure_future(request)
    deadline = time.monotonic() + 30
    while fake.stats.in_flight == 0:
        assert not task.done(), f"the request ended before its model call was made: {task.result()!r}"
        assert time.monotonic() < deadline, "the model call was never made"
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def abandoned_model_call(fake: FakeOpenAI, leave) -> None:
    """Make the next model call hang, run `leave` (a client that gives up while it hangs), and
    check the call was abandoned by the server: the fake saw its connection closed (no longer in
    flight, counted as a fault, never completed) long before the flow's timeout."""
    fake.inject("hang", count=1, match="never answers")
    before = fake.stats.as_dict()
    asyncio.run(leave())
    assert fake.stats.requests == before["requests"] + 1  # the model call was made
    assert wait_until(lambda: fake.stats.in_flight == 0 and fake.stats.faulted == before["faulted"] + 1), \
        f"the model call is still in flight: {fake.stats.as_dict()}"
    assert fake.stats.completed == before["completed"]


def request_span(served: ServeProcess, request_id: str) -> dict | None:
    store = served.log.parent / ".promptwise" / "traces.sqlite"
    if not store.exists():
        return None
    with sqlite3.connect(store) as db:
        row = db.execute("SELECT attributes FROM spans WHERE kind = 'request' AND attributes LIKE ?",
                         (f'%"promptwise.request.id": "{request_id}"%',)).fetchone()
    return json.loads(row[0]) if row else None


def said_cancelled(served: ServeProcess, request_id: str, route: str) -> None:
    entries = served.access_log(until=lambda entries: any(e.get("id") == request_id for e in entries))
    entry = next(e for e in entries if e.get("id") == request_id)
    assert (entry["route"], entry["status"]) == (route, 499)
    assert not entry.get("streamed")
    span = wait_until(lambda: request_span(served, request_id))
    assert span is not None, "the request's span never reached the trace store"
    assert span["promptwise.cancelled"] is True
    assert span["http.response.status_code"] == 499


def test_a_score_client_that_leaves_cancels_the_model_call(served, fake):
    async def leave():
        async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
            await leave_mid_call(fake, client.post("/score", json={"question": "this never answers"},
                                                   headers={"x-request-id": "left-score"}))

    abandoned_model_call(fake, leave)
    said_cancelled(served, "left-score", "/score")
    answer = httpx.post(served.url + "/score", json={"question": "still there?"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["answer"]


def test_a_chat_completions_client_that_leaves_cancels_the_model_call(served, fake):
    async def leave():
        async with openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0,
                                      timeout=60) as client:
            await leave_mid_call(fake, client.chat.completions.create(
                model="ask", messages=[{"role": "user", "content": "this never answers"}],
                extra_headers={"x-request-id": "left-chat"}))

    abandoned_model_call(fake, leave)
    said_cancelled(served, "left-chat", "/v1/chat/completions")
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0, timeout=30)
    reply = client.chat.completions.create(model="ask", messages=[{"role": "user", "content": "still there?"}])
    assert reply.choices[0].message.content


def test_a_client_that_stays_gets_its_answer_and_a_200(served, fake):
    """The watch for a disconnect does not end a request whose client waits (nor mark it)."""
    answer = httpx.post(served.url + "/score", json={"question": "I wait"}, headers={"x-request-id": "stayed"},
                        timeout=30)
    assert answer.status_code == 200 and answer.json()["answer"]
    entries = served.access_log(until=lambda entries: any(e.get("id") == "stayed" for e in entries))
    assert next(e for e in entries if e.get("id") == "stayed")["status"] == 200
    span = wait_until(lambda: request_span(served, "stayed"))
    assert span is not None and "promptwise.cancelled" not in span
