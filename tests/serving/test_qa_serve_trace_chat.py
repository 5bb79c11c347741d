"""A Prompt flow user's chat prompty behind /v1/chat/completions, through the real openai client:
the history reaches the template in the prompty's own convention ({role, content} messages, as
Prompt flow's prompty samples and tests/corpus/broker_chat.prompty loop over it), a prompty with
a defaulted input beside its question is a chat flow, `is_chat_input` picks the question, and an
input no chat message can give is named with where to send it."""

from __future__ import annotations

import shutil
from pathlib import Path

import openai
import pytest

from promptwise.devtools.fake_openai import FakeOpenAI
from serving_process import ServeProcess, write_workspace

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "prompty_promptflow_connection"

CUSTOMER_CHAT = {
    "customer_chat.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        inputs:
          customer: {type: string}
          question: {type: string, is_chat_input: true}
          chat_history: {type: list, default: [], is_chat_history: true}
        ---
        system:
        You help {{customer}}.
        {% for item in chat_history %}
        {{item.role}}:
        {{item.content}}
        {% endfor %}
        user:
        {{question}}
    """,
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory, fake):
    root = write_workspace(tmp_path_factory.mktemp("qa-chat-prompty"), fake.base_url, CUSTOMER_CHAT)
    for name in ("broker_chat.prompty", "sample.json"):
        shutil.copy(CORPUS / name, root / name)
    settings = root / "promptwise.yaml"  # the corpus file names its connection as a pf user's would
    settings.write_text(settings.read_text(encoding="utf-8").replace("open_ai_connection", "azure_open_ai_connection"),
                        encoding="utf-8")
    return root


def _client(served: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


def test_a_pf_chat_prompty_gets_its_history_as_role_and_content_messages(root, fake):
    # Was: 404 "not a chat flow" (a defaulted `broker_name` beside `question`), and once a chat
    # flow, its history came as [{"inputs": ..., "outputs": ...}], which `{{item.role}}` renders
    # empty: the model got ":" lines instead of the conversation.
    served = ServeProcess(root / "broker_chat.prompty")
    try:
        reply = _client(served).chat.completions.create(model="broker_chat", messages=[
            {"role": "system", "content": "the prompty has its own"},
            {"role": "user", "content": "Can I quote a fleet of 40 vans?"},
            {"role": "assistant", "content": "Up to 25 vehicles; above that, a referral."},
            {"role": "user", "content": "And 20 vans?"}])
    finally:
        served.stop()
    assert reply.choices[0].message.content == "echo: And 20 vans?"
    sent = fake.requests[-1].body["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "user"]
    assert "Harbour Brokers" in sent[0]["content"]  # the other input took its default
    assert [message["content"].strip() for message in sent[1:]] == [
        "Can I quote a fleet of 40 vans?", "Up to 25 vehicles; above that, a referral.", "And 20 vans?"]


def test_is_chat_input_picks_the_question_and_an_input_no_message_gives_is_named(root, fake):
    served = ServeProcess(root / "customer_chat.prompty")
    client = _client(served)
    try:
        with pytest.raises(openai.UnprocessableEntityError) as caught:
            client.chat.completions.create(model="customer_chat", messages=[{"role": "user", "content": "hi"}])
        reply = client.chat.completions.create(model="customer_chat", extra_body={"inputs": {"customer": "ACME"}},
                                               messages=[{"role": "user", "content": "hi"}])
    finally:
        served.stop()
    message = caught.value.body["message"]
    assert "`customer`" in message and "`inputs`" in message and "extra_body" in message
    assert reply.choices[0].message.content == "echo: hi"
    assert fake.requests[-1].body["messages"][0]["content"].strip() == "You help ACME."



# Prompt flow's chat-basic flex sample, as its users have it: a class entry whose init takes a
# model configuration, a prompty inside, and nothing marked is_chat_*.
CHAT_BASIC = {
    "chat-basic/flow.flex.yaml": "entry: flow:ChatFlow\n",
    "chat-basic/flow.py": """
        from pathlib import Path

        from promptflow.core import OpenAIModelConfiguration, Prompty
        from promptflow.tracing import trace

        BASE_DIR = Path(__file__).absolute().parent


        class ChatFlow:
            def __init__(self, model_config: OpenAIModelConfiguration):
                self.model_config = model_config

            @trace
            def __call__(self, question: str = "What is ChatGPT?", chat_history: list = None) -> str:
                prompty = Prompty.load(source=BASE_DIR / "chat.prompty", model={"configuration": self.model_config})
                return prompty(question=question, chat_history=chat_history or [])
    """,
    "chat-basic/chat.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, model: gpt-4o-mini}
        inputs:
          question: {type: string}
          chat_history: {type: list}
        ---
        system:
        You are a helpful assistant.
        {% for item in chat_history %}
        {{item.role}}:
        {{item.content}}
        {% endfor %}
        user:
        {{question}}
    """,
}


def test_pfs_chat_basic_flex_flow_is_a_chat_flow_with_its_history_as_openai_messages(tmp_path, fake):
    # Was: 404 "not a chat flow" (nothing marked is_chat_*); and a flex flow's history came as
    # DAG turns, where Prompt flow's chat test gives prompty and flex flows {role, content}.
    root = write_workspace(tmp_path, fake.base_url, CHAT_BASIC)
    served = ServeProcess(root / "chat-basic", args=(
        "--init", 'model_config={"connection": "open_ai_connection", "model": "gpt-4o-mini"}'))
    client = _client(served)
    try:
        reply = client.chat.completions.create(model="chat-basic", messages=[
            {"role": "user", "content": "one"}, {"role": "assistant", "content": "1"}, {"role": "user", "content": "two"}])
        sent = fake.requests[-1].body["messages"]
        pieces = [chunk.choices[0].delta.content or "" for chunk in client.chat.completions.create(
            model="chat-basic", stream=True, messages=[{"role": "user", "content": "three"}]) if chunk.choices]
    finally:
        served.stop()
    assert reply.choices[0].message.content == "echo: two"
    assert [(message["role"], message["content"].strip()) for message in sent[1:]] == [
        ("user", "one"), ("assistant", "1"), ("user", "two")]
    assert "".join(pieces) == "echo: three"
