"""The editor's request panel chats with a served chat flow through /v1/chat/completions and keeps
the conversation itself; it learns which input takes the message (and which output answers) from
the OpenAPI document's `x-promptwise-chat`, for a DAG chat flow, a chat prompty and none for a
flow that is not a chat flow."""

from __future__ import annotations

import asyncio

import pytest

from serving_process import write_workspace

FILES = {
    "dag/flow.dag.yaml": """
        inputs:
          question: {type: string, is_chat_input: true}
          history: {type: list, is_chat_history: true, default: []}
          tone: {type: string, default: plain}
        outputs:
          answer: {type: string, reference: "${echo.output}", is_chat_output: true}
        nodes:
          - name: echo
            type: python
            source: {type: code, path: echo.py}
            inputs: {text: "${inputs.question}"}
    """,
    "dag/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(text: str) -> str:
            return text
    """,
    "chat.prompty": """
        ---
        model:
          api: chat
          configuration: {type: openai, connection: local}
        inputs:
          question: {type: string}
          chat_history: {type: list, default: []}
        ---
        user:
        {{question}}
    """,
    "plain/flow.flex.yaml": "entry: app:shout\n",
    "plain/app.py": "def shout(text: str) -> str:\n    return text.upper()\n",
}


def _document(root, flow: str) -> dict:
    from promptwise.serving.flow import ServedFlow
    from promptwise.serving.openapi import openapi_document

    async def build() -> dict:
        served = ServedFlow(root / flow)
        await served.open()
        try:
            return openapi_document(served, requires_keys=False, chat=served.chat_shape() is not None)
        finally:
            await served.close()

    return asyncio.run(build())


@pytest.mark.parametrize("flow, expected", [
    ("dag", {"input": "question", "history": "history", "output": "answer"}),
    ("chat.prompty", {"input": "question", "history": "chat_history", "output": "output"}),
    ("plain", None),
])
def test_the_chat_operation_names_the_message_input(tmp_path, flow, expected):
    root = write_workspace(tmp_path, "http://127.0.0.1:9/v1", FILES)
    document = _document(root, flow)
    chat = document["paths"].get("/v1/chat/completions", {}).get("post", {}).get("x-promptwise-chat")
    assert chat == expected
