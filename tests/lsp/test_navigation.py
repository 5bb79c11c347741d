"""Go to definition and find references, in a flow and across to its tool and templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import copy_workspace, open_document, span


def _at(uri: str, line: int, character: int) -> dict:
    return {
        "text_document": types.TextDocumentIdentifier(uri=uri),
        "position": types.Position(line=line, character=character),
    }


@pytest.mark.parametrize(
    ("line", "character", "file", "expected"),
    [
        # `${classify.output}` in an output reference -> the node's name
        (11, 20, "flow.dag.yaml", span((24, 8), (24, 16))),
        # the `output` part of `${classify.output}` -> the node as well
        (43, 26, "flow.dag.yaml", span((24, 8), (24, 16))),
        # `${inputs.log_text}` -> the flow input's key
        (22, 22, "flow.dag.yaml", span((2, 2), (2, 10))),
        # a python node's `source.path` -> its @tool function
        (20, 12, "lookup.py", span((10, 4), (10, 17))),
        # a python node's own name -> its @tool function
        (16, 10, "lookup.py", span((10, 4), (10, 17))),
        # an llm node's `source.path` -> the template file
        (28, 12, "classify.jinja2", span((0, 0), (0, 0))),
        # a python node's input key -> the function's parameter
        (22, 5, "lookup.py", span((10, 18), (10, 22))),
        # an llm node's input key -> the template's first use of the variable
        (31, 5, "classify.jinja2", span((9, 3), (9, 6))),
        (32, 6, "classify.jinja2", span((4, 18), (4, 26))),
    ],
)
async def test_definition(client: LanguageClient, workspace: Path, line, character, file, expected):
    uri = open_document(client, workspace / "flow.dag.yaml")
    result = await client.text_document_definition_async(types.DefinitionParams(**_at(uri, line, character)))
    assert result == [types.Location(uri=(workspace / file).as_uri(), range=expected)]


async def test_definition_of_unknown_node_is_empty(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("${lookup.output}", "${lokup.output}")
    uri = open_document(client, path, text)
    assert await client.text_document_definition_async(types.DefinitionParams(**_at(uri, 32, 18))) is None


async def test_references_of_a_node(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    params = types.ReferenceParams(
        context=types.ReferenceContext(include_declaration=True), **_at(uri, 24, 10)
    )
    result = await client.text_document_references_async(params)
    assert [(loc.uri, loc.range) for loc in result] == [
        (uri, span((11, 17), (11, 25))),
        (uri, span((24, 8), (24, 16))),
        (uri, span((43, 16), (43, 24))),
    ]


async def test_references_of_a_flow_input_without_declaration(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    params = types.ReferenceParams(
        context=types.ReferenceContext(include_declaration=False), **_at(uri, 42, 20)
    )
    result = await client.text_document_references_async(params)
    assert [loc.range for loc in result] == [
        span((22, 19), (22, 27)),
        span((31, 18), (31, 26)),
        span((42, 18), (42, 26)),
    ]


async def test_flex_entry_goes_to_the_function(client: LanguageClient, tmp_path: Path):
    root = copy_workspace("flex", tmp_path)
    uri = open_document(client, root / "flow.flex.yaml")
    result = await client.text_document_definition_async(types.DefinitionParams(**_at(uri, 1, 20)))
    assert result == [types.Location(uri=(root / "triage" / "app.py").as_uri(), range=span((0, 4), (0, 16)))]


async def test_references_of_a_template_variable_reach_the_flow(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "classify.jinja2")
    params = types.ReferenceParams(context=types.ReferenceContext(include_declaration=True), **_at(uri, 9, 4))
    result = await client.text_document_references_async(params)
    assert [(loc.uri, loc.range) for loc in result] == [
        (uri, span((9, 3), (9, 6))),  # {{ log }}
        ((workspace / "flow.dag.yaml").as_uri(), span((31, 4), (31, 7))),  # classify's `log:` input
    ]
