"""Document symbols: the outline of a flow and of a prompt template."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import open_document, span


def _outline(symbols) -> list:
    return [(s.name, s.kind, [(c.name, c.kind, c.detail) for c in (s.children or [])]) for s in symbols]


async def test_flow_outline_lists_inputs_nodes_and_outputs(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    K = types.SymbolKind
    assert _outline(symbols) == [
        ("inputs", K.Namespace, [("log_text", K.Variable, "string"), ("language", K.Variable, "string")]),
        (
            "nodes",
            K.Namespace,
            [
                ("lookup", K.Function, "python · lookup.py"),
                ("classify", K.Function, "llm · classify.jinja2"),
                ("summarize", K.Function, "llm · summarize.jinja2"),
            ],
        ),
        (
            "outputs",
            K.Namespace,
            [("category", K.Property, "${classify.output}"), ("summary", K.Property, "${summarize.output}")],
        ),
    ]
    nodes = symbols[1]
    classify = nodes.children[1]
    assert classify.selection_range == span((24, 8), (24, 16))  # `classify` after `- name: `
    assert classify.range.start == types.Position(line=24, character=2)
    assert symbols[0].children[0].selection_range == span((2, 2), (2, 10))  # `log_text:`


async def test_template_outline_lists_roles_and_their_variables(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "summarize.jinja2")
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    K = types.SymbolKind
    assert _outline(symbols) == [
        ("system:", K.Namespace, [("language", K.Variable, None), ("category", K.Variable, None)]),
        ("user:", K.Namespace, [("log", K.Variable, None)]),
    ]
    assert symbols[0].selection_range == span((0, 0), (0, 7))
    assert symbols[1].range == span((4, 0), (6, 0))
    assert symbols[0].children[0].range == span((1, 72), (1, 80))  # `language` in `{{ language }}`
