"""PW707 in the editor: a prompty calling a retired model gets the warning and a quick fix
that writes the recommended successor; after the fix the file re-checks without PW707.

o1-mini retired on 2025-10-27 (costing/retirements.json), so it is retired whatever day the
test runs: the warning does not depend on the clock."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import open_document, replace_text, wait_for_publish

PROMPTY = """---
name: Retired model
model:
  api: chat
  configuration:
    type: openai
    model: o1-mini
  parameters:
    max_tokens: 50
sample:
  question: What is a retry?
---
system:
Answer briefly.

user:
{{question}}
"""


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.split("\n")
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        assert edit.range.start.line == edit.range.end.line  # the fix replaces one name on one line
        line = lines[edit.range.start.line]
        lines[edit.range.start.line] = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    return "\n".join(lines)


async def test_retired_model_fix_writes_the_successor(client: LanguageClient, workspace: Path):
    path = workspace / "retired.prompty"
    path.write_text(PROMPTY, encoding="utf-8")
    uri = open_document(client, path)
    published = await wait_for_publish(client, uri, where=lambda p: any(d.code == "PW707" for d in p.diagnostics))
    (retired,) = [d for d in published.diagnostics if d.code == "PW707"]
    assert retired.severity == types.DiagnosticSeverity.Warning
    assert "2025-10-27" in retired.message and "o4-mini" in retired.message
    assert retired.range.start.line == 6
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=retired.range,
            context=types.CodeActionContext(diagnostics=[retired]),
        )
    )
    (fix,) = [a for a in actions or [] if "o4-mini" in a.title]
    fixed = _apply(PROMPTY, fix.edit.changes[uri])
    assert "    model: o4-mini\n" in fixed
    replace_text(client, uri, fixed, version=2)
    republished = await wait_for_publish(client, uri, version=2)
    assert not [d for d in republished.diagnostics if d.code == "PW707"]
