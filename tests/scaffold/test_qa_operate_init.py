"""From `promptwise init` to `promptwise serve`, as the README walks a user: the chat template
is a chat flow an OpenAI client can talk to. Was: its inputs and output lacked the is_chat_*
flags, so POST /v1/chat/completions answered 404 "not a chat flow"."""

from __future__ import annotations

import sys
from pathlib import Path

import openai

from promptwise.devtools.fake_openai import FakeOpenAI, _load_rules
from promptwise.scaffold import scaffold

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))  # the real server helper
from serving_process import ServeProcess  # noqa: E402


def test_the_chat_template_serves_the_openai_chat_route(tmp_path):
    project = tmp_path / "helpdesk"
    scaffold(project, "chat")
    (project / ".git").mkdir()  # the workspace's boundary
    with FakeOpenAI(rules=_load_rules(project / "fake-llm-rules.yaml")) as fake:
        server = ServeProcess(project / "flow.dag.yaml",
                              env={"PROMPTWISE_BASE_URL": fake.base_url, "OPENAI_API_KEY": "local-key"})
        try:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused-on-loopback")
            reply = client.chat.completions.create(model="helpdesk", messages=[
                {"role": "user", "content": "What does a language server do?"},
                {"role": "assistant", "content": "It analyses code for an editor."},
                {"role": "user", "content": "What does a language server do?"}])
            assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content
            assert fake.stats.requests >= 1
        finally:
            server.stop()
