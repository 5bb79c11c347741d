"""POST /v1/chat/completions on a flow that is not a chat flow says what would make it one, in
the terms of its kind: a prompty or a flex flow needs a `chat_history` input beside the message
(ServedFlow.chat_shape), a DAG marks `is_chat_input` / `is_chat_history`. Before, a prompty was
told to mark `is_chat_input: true`, the DAG way. Through a real server and the openai client."""

from __future__ import annotations

from types import SimpleNamespace

import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.serving.chat import _how_to_chat
from serving_process import ECHO_PROMPTY, ServeProcess, write_workspace


def test_a_prompty_without_chat_history_is_told_to_add_it(tmp_path):
    with FakeOpenAI() as fake:
        root = write_workspace(tmp_path, fake.base_url, ECHO_PROMPTY)
        process = ServeProcess(root / "echo.prompty")
        try:
            client = openai.OpenAI(base_url=process.url + "/v1", api_key="unused", max_retries=0, timeout=30)
            with pytest.raises(openai.NotFoundError) as refused:
                client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        finally:
            process.stop()
    message = refused.value.body["message"]
    assert "POST /score" in message
    assert "give the prompty a `chat_history` input" in message


@pytest.mark.parametrize(("kind", "expected"), [
    ("flow_dag", "mark the input that takes the user's message `is_chat_input: true`"),
    ("prompty", "give the prompty a `chat_history` input"),
    ("flex_flow", "give the flex flow's entry a `chat_history` input"),
])
def test_each_kind_of_flow_is_told_its_own_way(kind, expected):
    assert _how_to_chat(SimpleNamespace(executable=SimpleNamespace(kind=kind))).startswith(expected)
