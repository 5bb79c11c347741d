"""Every quick fix the server offers leaves the project with no new problem.

A set of broken files (a flow, its tool, a prompty, promptwise.yaml) is opened; every code
action offered anywhere in them is applied, one at a time, to a fresh copy of the project,
which is then checked again: no (file, code) may occur more often than before, and the
problem the fix was for must be gone.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.analysis.analyzer import analyze

from lsp_support import open_document, wait_for_publish

KEY = "sk-proj-Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789"  # not a real key

FLOW_EDITS = [
    ("    limit: 3\n", f"    limit: 3\n    api_key: {KEY}\n"),  # a key in a node's inputs
    ("    log: ${inputs.log_text}\n    examples", "    log: ${inputs.log_txt}\n    examples"),  # a typo
    ("  connection: open_ai_connection\n  api: chat\n- name: summarize",
     "  conection: open_ai_connection\n  api: chat\n- name: summarize"),  # an unknown key
]
FLOW_TAIL = (
    # a key in a python node whose tool takes it: it moves to a connection
    "- name: search\n  type: python\n  source:\n    type: code\n    path: search.py\n"
    f"  inputs:\n    query: ${{inputs.log_text}}\n    api_key: {KEY}\n"
    f"environment_variables:\n  OPENAI_API_KEY: {KEY}\n"  # a key where ${{env:}} is read
)
SEARCH_TOOL = (
    "from promptflow.core import tool\n\n\n@tool\ndef search(query: str, api_key: str) -> str:\n"
    '    return f"{query} {len(api_key)}"\n'
)
TOOL_EDIT = ("@tool\n", f'TOKEN = "{KEY}"\n\n\n@tool\n')
PROMPTY = """---
name: Policy answer
model:
  api: chat
  configuration:
    type: openai
    model: gpt-4o-mini
    connection: open_ai_connection
    api_key: {key}
  parameters:
    max_tokens: 300
    temprature: 0.2
inputs:
  question:
    type: string
---
sytem:
Answer in two sentences.

user:
{{{{ question }}}}
""".format(key=KEY)
SETTINGS = f"""connections:
  open_ai_connection:
    type: openai
    api_key: {KEY}
"""


def _break(root: Path) -> list[Path]:
    flow = root / "flow.dag.yaml"
    text = flow.read_text()
    for old, new in FLOW_EDITS:
        assert old in text
        text = text.replace(old, new, 1)
    flow.write_text(text + FLOW_TAIL)
    tool = root / "lookup.py"
    tool.write_text(tool.read_text().replace(*TOOL_EDIT))
    (root / "search.py").write_text(SEARCH_TOOL)
    (root / "answer.prompty").write_text(PROMPTY)
    (root / "promptwise.yaml").write_text(SETTINGS)
    return [flow, tool, root / "answer.prompty", root / "promptwise.yaml"]


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text: UTF-16 columns are characters), last first."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def offset(position: types.Position) -> int:
        return offsets[position.line] + position.character

    ordered = sorted(edits, key=lambda e: offset(e.range.start), reverse=True)
    for edit in ordered:
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


CHECKED = ("flow.dag.yaml", "lookup.py", "search.py", "classify.jinja2", "summarize.jinja2", "answer.prompty", "promptwise.yaml")


def _problems(root: Path) -> Counter:
    """(file, code) counts of every problem the analysis finds in the project's files (each
    problem once, though a flow reports its tool's too)."""
    found = {(p.path.name, p.code, p.range, p.message) for name in CHECKED for p in analyze(root / name)}
    return Counter((name, code) for name, code, _, _ in found)


async def test_every_quick_fix_leaves_no_new_problem(client: LanguageClient, workspace: Path, tmp_path: Path):
    files = _break(workspace)
    pristine = tmp_path / "pristine"
    shutil.copytree(workspace, pristine)
    before = _problems(pristine)
    offered: list[tuple[str, types.CodeAction]] = []
    for path in files:
        uri = open_document(client, path)
        published = await wait_for_publish(client, uri)
        assert published.diagnostics, f"{path.name} should have problems"
        end = types.Position(line=len(path.read_text().split("\n")), character=0)
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=0, character=0), end=end),
                context=types.CodeActionContext(diagnostics=list(published.diagnostics)),
            )
        )
        offered += [(path.name, action) for action in actions or []]
    # the broken files carry fixable problems in each file kind
    assert {name for name, _ in offered} >= {"flow.dag.yaml", "lookup.py", "answer.prompty", "promptwise.yaml"}
    assert len(offered) >= 9
    assert any(action.title.startswith("Pass it through connection `search_connection`") for _, action in offered)
    for index, (name, action) in enumerate(offered):
        copy = tmp_path / f"fix{index}"
        shutil.copytree(pristine, copy)
        for uri, edits in action.edit.changes.items():
            target = copy / Path(unquote(urlparse(uri).path)).relative_to(workspace)
            target.write_text(_apply(target.read_text(), edits))
        after = _problems(copy)
        new = after - before
        assert not new, f"fix {action.title!r} in {name} created {dict(new)}"
        fixed = before - after
        fixed_codes = {code for (_, code) in fixed}
        assert fixed_codes & {d.code for d in action.diagnostics}, f"fix {action.title!r} in {name} fixed nothing"


async def test_a_key_in_a_node_input_is_not_fixed_with_an_env_reference(client: LanguageClient, workspace: Path):
    """The old fix wrote `${env:OPENAI_API_KEY}` into the node's inputs: a reference to a node
    called `env` (PW202). The problem now says how Prompt flow passes a secret instead."""
    (flow, *_) = _break(workspace)
    uri = open_document(client, flow)
    published = await wait_for_publish(client, uri)
    line = flow.read_text().split("\n").index(f"    api_key: {KEY}")
    (secret,) = [d for d in published.diagnostics if d.code == "PW601" and d.range.start.line == line]
    assert "connection" in secret.message and "write `${env:" not in secret.message
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=secret.range,
            context=types.CodeActionContext(diagnostics=[secret]),
        )
    )
    assert not any("${env:" in e.new_text for a in actions or [] for edits in a.edit.changes.values() for e in edits
                   if e.range.start.line == line)
