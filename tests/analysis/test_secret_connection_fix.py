"""A key written in a python node's inputs is fixed the way Prompt flow passes secrets: a
custom connection in promptwise.yaml (`${env:NAME}`), its name in the node, the tool's
parameter typed CustomConnection. The fixed project checks clean and runs with the key
read from the environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptwise.analysis.analyzer import analyze
from promptwise.engine.runner import run_flow

KEY = "sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789"  # not a real key

FLOW = f"""inputs:
  query: {{type: string, default: hello}}
outputs:
  answer: {{type: string, reference: "${{search.output}}"}}
nodes:
- name: search
  type: python
  source: {{type: code, path: search.py}}
  inputs:
    query: ${{inputs.query}}
    api_key: "{KEY}"
"""
TOOL = '''"""Search with a key."""
from promptflow.core import tool


@tool
def search(query: str, api_key{annotation}) -> str:
    """Pretend to search."""
    return f"{{query}}:{{api_key[-4:]}}"
'''
SETTINGS = "connections:\n  local:\n    type: openai_compatible\n    base_url: http://127.0.0.1:9/v1\n    api_key: ${env:OPENAI_API_KEY}\n"


def _project(root: Path, annotation: str = ": str", settings: str | None = SETTINGS) -> Path:
    root.mkdir()
    (root / "flow.dag.yaml").write_text(FLOW)
    (root / "search.py").write_text(TOOL.format(annotation=annotation))
    if settings is not None:
        (root / "promptwise.yaml").write_text(settings)
    return root / "flow.dag.yaml"


def _apply(fix) -> None:
    by_path: dict[Path, list] = {}
    for edit in fix.edits:
        by_path.setdefault(Path(edit.path), []).append(edit)
    for path, edits in by_path.items():
        lines = path.read_text().split("\n")
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line) + 1)
        text = path.read_text()
        for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
            start = offsets[edit.range.start.line] + edit.range.start.character
            end = offsets[edit.range.end.line] + edit.range.end.character
            text = text[:start] + edit.new_text + text[end:]
        path.write_text(text)


def _secret(flow: Path):
    (problem,) = [p for p in analyze(flow) if p.code == "PW601"]
    return problem


@pytest.mark.parametrize("annotation", [": str", ""], ids=["typed-str", "untyped"])
def test_fixed_project_checks_clean_and_runs(tmp_path, monkeypatch, annotation):
    flow = _project(tmp_path / "p", annotation)
    (fix,) = _secret(flow).fixes
    assert fix.title == "Pass it through connection `search_connection` (promptwise.yaml, ${env:OPENAI_API_KEY})"
    _apply(fix)
    root = flow.parent
    assert "api_key: search_connection" in flow.read_text()
    assert "secrets:\n      api_key: ${env:OPENAI_API_KEY}" in (root / "promptwise.yaml").read_text()
    tool = (root / "search.py").read_text()
    assert "from promptflow.connections import CustomConnection" in tool and "api_key: CustomConnection" in tool
    assert KEY not in flow.read_text() + tool + (root / "promptwise.yaml").read_text()
    for path in (flow, root / "search.py", root / "promptwise.yaml"):
        assert [(p.code, p.message) for p in analyze(path) if p.severity.value == "error"] == [], path.name
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-WXYZ")
    result = asyncio.run(run_flow(flow, {"query": "q"}, use_cache=False))
    assert result.status == "completed", result.error
    assert result.outputs == {"answer": "q:WXYZ"}  # the tool got the key from the connection


def test_the_connections_section_is_added_when_missing(tmp_path):
    flow = _project(tmp_path / "p", settings="default_model: gpt-4o-mini\n")
    (fix,) = _secret(flow).fixes
    _apply(fix)
    assert (flow.parent / "promptwise.yaml").read_text() == (
        "default_model: gpt-4o-mini\nconnections:\n  search_connection:\n    type: custom\n"
        "    secrets:\n      api_key: ${env:OPENAI_API_KEY}\n"
    )


@pytest.mark.parametrize(
    "annotation, settings",
    [
        pytest.param(': str = "x"', SETTINGS, id="parameter-with-a-default"),
        pytest.param(": dict", SETTINGS, id="typed-otherwise"),
        pytest.param(": str", None, id="no-settings-file"),
        pytest.param(": str", "connections: {}\n", id="flow-style-connections"),
    ],
)
def test_no_fix_where_an_edit_would_be_a_guess(tmp_path, annotation, settings):
    flow = _project(tmp_path / "p", annotation, settings)
    problem = _secret(flow)
    assert problem.fixes == ()
    assert "connection" in problem.message  # the message still says how
