"""Rename (with prepareRename) and the quick fixes offered as code actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from lsp_support import open_document, span, wait_for_publish


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text, so UTF-16 columns are characters)."""
    lines = text.split("\n")
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start, end = edit.range.start, edit.range.end
        assert start.line == end.line
        line = lines[start.line]
        lines[start.line] = line[: start.character] + edit.new_text + line[end.character :]
    return "\n".join(lines)


def _position(uri: str, line: int, character: int) -> dict:
    return {"text_document": types.TextDocumentIdentifier(uri=uri), "position": types.Position(line=line, character=character)}


async def test_prepare_rename_gives_the_name_token(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    result = await client.text_document_prepare_rename_async(types.PrepareRenameParams(**_position(uri, 43, 18)))
    assert result == types.PrepareRenamePlaceholder(range=span((43, 16), (43, 24)), placeholder="classify")
    nothing = await client.text_document_prepare_rename_async(types.PrepareRenameParams(**_position(uri, 34, 3)))
    assert nothing is None  # `api:` is not renamable


async def test_rename_node_updates_every_reference(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    uri = open_document(client, path)
    edit = await client.text_document_rename_async(types.RenameParams(new_name="categorize", **_position(uri, 24, 10)))
    edits = edit.changes[uri]
    assert [e.range for e in edits] == [span((11, 17), (11, 25)), span((24, 8), (24, 16)), span((43, 16), (43, 24))]
    renamed = _apply(text, edits)
    assert renamed == text.replace("classify", "categorize").replace("path: categorize.jinja2", "path: classify.jinja2")


async def test_rename_flow_input_from_a_reference(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    uri = open_document(client, path)
    edit = await client.text_document_rename_async(types.RenameParams(new_name="log", **_position(uri, 31, 20)))
    renamed = _apply(text, edit.changes[uri])
    assert "  log:\n    type: string" in renamed
    assert renamed.count("${inputs.log}") == 3 and "log_text" not in renamed


async def test_rename_rejects_invalid_and_taken_names(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    with pytest.raises(JsonRpcInvalidParams, match="not a valid name"):
        await client.text_document_rename_async(types.RenameParams(new_name="2 words", **_position(uri, 24, 10)))
    with pytest.raises(JsonRpcInvalidParams, match="already exists"):
        await client.text_document_rename_async(types.RenameParams(new_name="lookup", **_position(uri, 24, 10)))


async def test_code_action_applies_the_problems_fix(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    broken = path.read_text().replace("${lookup.output}", "${lokup.output}")
    uri = open_document(client, path, broken)
    published = await wait_for_publish(client, uri, version=1)
    diagnostic = next(d for d in published.diagnostics if d.code == "PW202")
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=span((32, 18), (32, 18)),
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    assert [(a.title, a.kind, a.is_preferred) for a in actions] == [
        ("Change to 'lookup'", types.CodeActionKind.QuickFix, True)
    ]
    assert actions[0].diagnostics[0].range == diagnostic.range
    assert list(actions[0].edit.changes[uri]) == [types.TextEdit(range=span((32, 16), (32, 21)), new_text="lookup")]
    assert _apply(broken, actions[0].edit.changes[uri]) == path.read_text()


async def test_no_code_action_away_from_problems(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path, path.read_text().replace("${lookup.output}", "${lokup.output}"))
    await wait_for_publish(client, uri, version=1)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=span((2, 0), (2, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert actions is None
