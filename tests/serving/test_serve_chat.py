"""/v1/chat/completions through the real `openai` client, and streaming (prompty tokens, flex
generators, a client that goes away mid-stream), against a real `promptwise serve` process."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace

CHAT_PROMPTY = {
    "chat.prompty": """
        ---
        name: chat
        model:
          api: chat
          configuration: {type: openai, connection: local}
          parameters: {max_tokens: 60}
        inputs:
          question: {type: string}
          chat_history: {type: list, default: []}
        ---
        system:
        You answer briefly.
        {% for turn in chat_history %}
        {{turn.role}}:
        {{turn.content}}
        {% endfor %}
        user:
        {{question}}
    """,
}

FLEX_FLOW = {
    "words/flow.flex.yaml": """
        entry: words:spell
        inputs:
          text: {type: string}
    """,
    "words/words.py": """
        import sys

        def spell(text: str):
            for word in text.split():
                if word == "exit":
                    sys.exit(1)
                yield word + " "
    """,
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        server.add_rule(r"slow answer", "This one takes its time.", latency=2.0)
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("serve-chat"), fake.base_url, {**CHAT_PROMPTY, **FLEX_FLOW})
    process = ServeProcess(root / "chat.prompty")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


def test_openai_client_gets_the_flows_answer(client, fake):
    completion = client.chat.completions.create(model="chat", messages=[
        {"role": "system", "content": "ignored: the prompty has its own"},
        {"role": "user", "content": "What is 2+2?"}])
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "echo: What is 2+2?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


def test_earlier_turns_become_the_chat_history(client, fake):
    fake.reset()
    client.chat.completions.create(model="chat", messages=[
        {"role": "user", "content": "first question"}, {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"}])
    sent = fake.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert [m["content"].strip() for m in sent[1:]] == ["first question", "first answer", "second question"]


def test_openai_client_streams_the_reply(client):
    stream = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "stream these words"}],
                                            stream=True, stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    assert "".join(pieces) == "echo: stream these words"
    assert len(pieces) > 1
    assert usage is not None and usage.completion_tokens > 0


def test_bad_chat_requests_raise_the_openai_clients_errors(client):
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.chat.completions.create(model="chat", messages=[{"role": "assistant", "content": "hi"}])
    assert "user message" in caught.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="chat", messages=[])


def test_score_streams_a_prompty_as_prompt_flow_events(served):
    with httpx.stream("POST", served.url + "/score", json={"question": "one two three"},
                      headers={"Accept": "text/event-stream"}, timeout=30) as response:
        lines = [line for line in response.iter_lines() if line]
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    assert all(line.startswith("data: ") for line in lines)
    assert "".join(e["output"] for e in events) == "echo: one two three"


def test_a_client_that_goes_away_mid_stream_cancels_the_model_call(served, fake):
    before = fake.stats.requests
    # The status line waits for the first event (a failure before it has its own status), so the
    # client leaves while the model call is in flight, before any answer: its read times out.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(served.url + "/score", json={"question": "a slow answer please"},
                   headers={"Accept": "text/event-stream"}, timeout=httpx.Timeout(30, read=0.5))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = [e for e in served.access_log() if e.get("status") == 499]
        if entries:
            break
        time.sleep(0.1)
    assert entries and entries[-1]["streamed"] is True
    assert fake.stats.requests == before + 1
    # The server lives on.
    assert httpx.post(served.url + "/score", json={"question": "still there?"}, timeout=30).status_code == 200
    # The trace says so: the request span is marked cancelled.
    traces = served.log.parent / ".promptwise" / "traces.sqlite"
    deadline = time.monotonic() + 10
    found = False
    while time.monotonic() < deadline and not found:
        if traces.exists():
            with sqlite3.connect(traces) as db:
                found = any("promptwise.cancelled" in (row[0] or "") for row in db.execute("SELECT attributes FROM spans"))
        time.sleep(0.2)
    assert found


@pytest.fixture(scope="module")
def served_flex(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("serve-flex"), fake.base_url, FLEX_FLOW)
    process = ServeProcess(root / "words")
    yield process
    process.stop()


def test_a_flex_generator_streams_its_items_as_events(served_flex):
    with httpx.stream("POST", served_flex.url + "/score", json={"text": "alpha beta gamma"},
                      headers={"Accept": "text/event-stream"}, timeout=30) as response:
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    assert events == [{"output": "alpha "}, {"output": "beta "}, {"output": "gamma "}]


def test_a_flex_generator_is_joined_for_a_json_client(served_flex):
    response = httpx.post(served_flex.url + "/score", json={"text": "alpha beta"}, timeout=30)
    assert response.status_code == 200
    assert response.json() == "alpha beta "  # Prompt flow answers a flex entry's non-dict value as itself


def test_a_flow_that_is_not_a_chat_flow_is_404_on_chat_completions(served_flex):
    client = openai.OpenAI(base_url=served_flex.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="words", messages=[{"role": "user", "content": "hi"}])
    assert "not a chat flow" in caught.value.body["message"]


def test_a_generator_calling_sys_exit_ends_its_stream_with_an_error_event(served_flex):
    with httpx.stream("POST", served_flex.url + "/score", json={"text": "one exit two"},
                      headers={"Accept": "text/event-stream"}, timeout=30) as response:
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    assert events[0] == {"output": "one "}
    assert "sys.exit(1)" in events[-1]["error"]["message"]
    assert httpx.get(served_flex.url + "/health").status_code == 200
