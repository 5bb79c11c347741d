"""A .prompty: outline, variable -> input declaration, rename of an input, hover, completion."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import open_document, span


def _at(uri: str, line: int, character: int) -> dict:
    return {"text_document": types.TextDocumentIdentifier(uri=uri), "position": types.Position(line=line, character=character)}


async def test_outline_has_front_matter_and_roles(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "answer.prompty")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [s.name for s in symbols] == ["name", "description", "model", "inputs", "sample", "system:", "user:"]
    system = symbols[5]
    assert system.selection_range == span((21, 0), (21, 7))
    assert [(c.name, c.range) for c in system.children] == [("policy", span((22, 45), (22, 51)))]


async def test_variable_goes_to_its_input(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "answer.prompty")
    result = await client.text_document_definition_async(types.DefinitionParams(**_at(uri, 25, 5)))
    assert result == [types.Location(uri=uri, range=span((13, 2), (13, 10)))]


async def test_rename_input_updates_declaration_sample_and_template(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "answer.prompty")
    prepared = await client.text_document_prepare_rename_async(types.PrepareRenameParams(**_at(uri, 25, 4)))
    assert prepared == types.PrepareRenamePlaceholder(range=span((25, 3), (25, 11)), placeholder="question")
    edit = await client.text_document_rename_async(types.RenameParams(new_name="customer_question", **_at(uri, 13, 4)))
    assert sorted((e.range.start.line, e.range.start.character, e.range.end.character) for e in edit.changes[uri]) == [
        (13, 2, 10),  # inputs: question
        (19, 2, 10),  # sample: question
        (25, 3, 11),  # {{ question }}
    ]
    assert all(e.new_text == "customer_question" for e in edit.changes[uri])


async def test_hover_on_variable_shows_its_declaration(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "answer.prompty")
    hover = await client.text_document_hover_async(types.HoverParams(**_at(uri, 22, 47)))
    assert hover.range == span((22, 45), (22, 51))
    assert hover.contents.value == (
        "**policy** — template variable\n\ntype `string` · default `home insurance, standard cover`"
    )


async def test_front_matter_completion(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    text = path.read_text().replace("  api: chat\n", "  api: chat\n  \n")
    uri = open_document(client, path, text)
    result = await client.text_document_completion_async(types.CompletionParams(**_at(uri, 5, 2)))
    labels = {item.label for item in result.items}
    assert "response" in labels
    assert not labels & {"api", "configuration", "parameters"}  # already there
    body = await client.text_document_completion_async(types.CompletionParams(**_at(uri, 25, 0)))
    assert body is None  # the body is a template, not YAML
