"""Traces written by real runs (the engine's tracing against the fake OpenAI server), read by
`promptwise monitor`."""

from __future__ import annotations

import json
import textwrap

import pytest

from promptwise import tracing
from promptwise.cli import main
from promptwise.devtools.fake_openai import FakeOpenAI

FLOW = {
    "capitals/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${shout.output}"}
        nodes:
        - name: ask
          type: llm
          source: {type: code, path: ask.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          api: chat
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {text: "${ask.output}"}
    """,
    "capitals/ask.jinja2": "system:\nAnswer in one word.\nuser:\n{{question}}\n",
    "capitals/shout.py": """
        from promptflow.core import tool


        @tool
        def shout(text: str) -> str:
            if "boom" in text:
                raise ValueError("the tool refuses boom")
            return text.upper() + "!"
    """,
}


@pytest.fixture
def traced_project(tmp_path, monkeypatch):
    with FakeOpenAI(rules=[(r"capital of France", "Paris"), (r"explode", "boom")]) as server:
        (tmp_path / "promptwise.yaml").write_text(
            "defaults: {connection: local, model: gpt-4o-mini}\n"
            f"connections:\n  local: {{type: openai_compatible, base_url: '{server.base_url}'}}\n", encoding="utf-8")
        for name, text in FLOW.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        yield tmp_path
    tracing.shutdown()


def test_monitor_reads_what_runs_recorded(traced_project, capsys):
    assert main(["run", "capitals", "--inputs", "question=capital of France"]) == 0
    assert main(["run", "capitals", "--inputs", "question=explode"]) != 0
    tracing.shutdown()
    capsys.readouterr()
    assert main(["monitor", "capitals", "--format", "json", "--by", "flow"]) == 0
    document = json.loads(capsys.readouterr().out)
    [group] = document["groups"]
    assert group["flow"] == "capitals" and group["requests"] == 2 and group["errors"] == 1
    assert group["llm_calls"] == 2 and group["input_tokens"] > 0 and group["output_tokens"] > 0
    assert group["latency_ms"]["p50"] is not None
