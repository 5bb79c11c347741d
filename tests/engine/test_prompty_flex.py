""".prompty and flow.flex.yaml execution against the fake server."""

from __future__ import annotations

import json

import pytest

from promptwise.engine.errors import FlowError
from promptwise.engine.runner import run_flow

AZURE_PROMPTY = """
---
name: faq
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: prod-mini
    azure_endpoint: ${env:TEST_AZURE_ENDPOINT}
    api_key: ${env:TEST_AZURE_KEY}
    api_version: 2024-06-01
  parameters:
    temperature: 0.2
    response_format: {type: json_object}
inputs:
  question: {type: string}
outputs:
  answer: {type: string}
sample:
  question: How long does it take?
---
system:
Reply with JSON.
user:
{{question}}
"""


async def test_prompty_azure_config_from_env_json_output_and_sample(workspace, monkeypatch):
    server = workspace.server
    monkeypatch.setenv("TEST_AZURE_ENDPOINT", server.azure_endpoint)
    monkeypatch.setenv("TEST_AZURE_KEY", "azure-key-1234")
    server.add_rule("How long", json.dumps({"answer": "Ten days", "extra": 1}))
    root = workspace({"faq.prompty": AZURE_PROMPTY})
    result = await run_flow(root / "faq.prompty", {})
    assert result.status == "completed", result.error
    assert result.outputs == {"answer": "Ten days"}  # declared outputs picked from the JSON reply
    request = server.requests[0]
    assert request.path == "/openai/deployments/prod-mini/chat/completions"
    assert request.headers["api-key"] == "azure-key-1234"
    assert request.body["response_format"] == {"type": "json_object"} and request.body["temperature"] == 0.2


async def test_prompty_missing_env_variable_stops_before_any_call(workspace, monkeypatch):
    monkeypatch.delenv("TEST_AZURE_ENDPOINT", raising=False)
    monkeypatch.setenv("TEST_AZURE_KEY", "azure-key-1234")
    root = workspace({"faq.prompty": AZURE_PROMPTY})
    with pytest.raises(FlowError, match=r"faq.prompty.*TEST_AZURE_ENDPOINT is not set"):
        await run_flow(root / "faq.prompty", {})
    assert workspace.server.stats.requests == 0


async def test_prompty_spec_shape_uses_workspace_default_connection(workspace):
    root = workspace({"check.prompty": """
        ---
        name: check
        model:
          id: gpt-4o-mini
          options: {max_tokens: 20}
        inputs:
          - name: loss
            kind: string
            sample: burst pipe
        ---
        system:
        Check cover.
        user:
        {{loss}}
    """})
    result = await run_flow(root / "check.prompty", {})
    assert result.outputs == {"output": "echo: burst pipe"}
    assert workspace.server.requests[0].body["max_tokens"] == 20


async def test_prompty_template_error_names_the_line(workspace):
    root = workspace({"bad.prompty": "---\nmodel:\n  id: gpt-4o-mini\n---\nsystem:\nhi\nuser:\n{{ q | nosuchfilter }}\n"})
    result = await run_flow(root / "bad.prompty", {"q": "x"})
    assert result.status == "failed"
    assert "bad.prompty:8: Jinja syntax error: No filter named 'nosuchfilter'" in result.error
    assert workspace.server.stats.requests == 0


async def test_flex_function_entry(workspace):
    root = workspace({
        "flex/flow.flex.yaml": "entry: router:route\ninputs:\n  text: {type: string}\n",
        "flex/router.py": "def route(text: str) -> dict:\n    return {'team': 'hail' if 'hail' in text else 'other'}\n",
    })
    result = await run_flow(root / "flex", {"text": "hail damage"})
    assert result.outputs == {"team": "hail"}


async def test_flex_class_entry_init_aggregate_and_llm_from_code(workspace):
    root = workspace({
        "flex/flow.flex.yaml": """
            entry: app:Assistant
            init:
              greeting: {type: string, default: Hello}
            inputs:
              name: {type: string}
        """,
        "flex/app.py": """
            from promptflow.tracing import trace

            class Assistant:
                def __init__(self, greeting: str):
                    self.greeting = greeting
                    self.calls = 0

                @trace
                def __call__(self, name: str) -> str:
                    self.calls += 1
                    return f"{self.greeting}, {name}"

                def __aggregate__(self, line_results: list) -> dict:
                    return {"rows": len(line_results), "calls": self.calls}
        """,
    })
    result = await run_flow(root / "flex", {"name": "Ann"}, init={"greeting": "Hi"})
    assert result.outputs == {"output": "Hi, Ann"}
    assert result.metrics == {"rows": 1, "calls": 1}


async def test_flex_missing_entry_explained(workspace):
    root = workspace({"flex/flow.flex.yaml": "entry: nowhere:run\n"})
    with pytest.raises(FlowError, match="entry module 'nowhere' not found"):
        await run_flow(root / "flex", {})


async def test_flex_code_calling_prompty_goes_through_the_engine(workspace):
    root = workspace({
        "flex/flow.flex.yaml": """
            entry: chat:ChatFlow
            init:
              model_config: {type: OpenAIModelConfiguration}
            inputs:
              question: {type: string}
        """,
        "flex/chat.py": """
            from pathlib import Path
            from promptflow.core import OpenAIModelConfiguration, Prompty

            class ChatFlow:
                def __init__(self, model_config: OpenAIModelConfiguration):
                    self.model_config = model_config

                def __call__(self, question: str) -> dict:
                    prompty = Prompty.load(source=Path(__file__).parent / "chat.prompty",
                                           model={"configuration": self.model_config})
                    first = prompty(question=question)
                    return {"answer": first, "again": prompty(question=question + "?")}
        """,
        "flex/chat.prompty": "---\nmodel:\n  api: chat\n  configuration: {type: openai, model: gpt-4o}\n"
                             "inputs: {question: {type: string}}\n---\nsystem:\nBe brief.\nuser:\n{{question}}\n",
    })
    result = await run_flow(root / "flex", {"question": "hi"}, init={"model_config": {"model": "gpt-4o-mini"}})
    assert result.status == "completed", result.error
    assert result.outputs == {"answer": "echo: hi", "again": "echo: hi?"}
    assert [r.body["model"] for r in workspace.server.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert [n.node for n in result.nodes] == ["ChatFlow", "chat", "chat#2"]
    assert result.tokens["total"] == sum(n.total_tokens for n in result.nodes) > 0


async def test_flex_class_without_call_explained(workspace):
    root = workspace({"flex/flow.flex.yaml": "entry: app:NoCall\n", "flex/app.py": "class NoCall:\n    pass\n"})
    with pytest.raises(FlowError, match="class NoCall has no `__call__`"):
        await run_flow(root / "flex", {})
