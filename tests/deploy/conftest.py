"""Fixtures for versions, registry, audit and deploy tests: a workspace with a small DAG flow
(an llm node answered by the fake OpenAI server, a python node) that check finds clean."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from promptwise.devtools.fake_openai import FakeOpenAI

FLOW = {
    "triage/flow.dag.yaml": """
        inputs:
          question: {type: string, default: "What is the capital of France?"}
        outputs:
          answer: {type: string, reference: "${chat.output}"}
          length: {type: int, reference: "${measure.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: local
          api: chat
        - name: measure
          type: python
          source: {type: code, path: measure.py}
          inputs: {text: "${chat.output}"}
    """,
    "triage/chat.jinja2": "system:\nAnswer briefly.\nuser:\n{{question}}\n",
    "triage/measure.py": """
        from promptflow.core import tool

        @tool
        def measure(text: str) -> int:
            return len(text)
    """,
    "triage/README.md": "Not behaviour: documentation.\n",
    "triage/data.jsonl": '{"question": "What is the capital of France?"}\n{"question": "And of Spain?"}\n',
}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def fake_server():
    with FakeOpenAI(rules=[(r"capital of France", "Paris.")]) as server:
        yield server


@pytest.fixture
def workspace(tmp_path, fake_server, monkeypatch):
    """A workspace (tmp_path) holding `triage/`; the current folder is the workspace."""
    (tmp_path / "promptwise.yaml").write_text(
        "defaults: {connection: local, model: gpt-4o-mini}\n"
        f"connections:\n  local: {{type: openai_compatible, base_url: '{fake_server.base_url}'}}\n",
        encoding="utf-8")
    write(tmp_path, FLOW)
    (tmp_path / ".git").mkdir()  # the workspace's boundary: settings discovery stops here
    monkeypatch.chdir(tmp_path)
    return tmp_path
