"""Hover: nodes with their tool signature or template variables, inputs, node inputs."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import open_document, span


async def _hover(client: LanguageClient, uri: str, line: int, character: int) -> types.Hover | None:
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )


async def test_llm_node_shows_template_variables_and_inputs(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await _hover(client, uri, 24, 10)
    assert hover.range == span((24, 8), (24, 16))
    assert hover.contents.kind == types.MarkupKind.Markdown
    # the node's description first; the cost breakdown follows (tested in test_lenses.py)
    assert hover.contents.value.startswith(
        "**classify** — llm node\n\n"
        "source: `classify.jinja2`\n\n"
        "template variables: `examples`, `log`\n\n"
        "inputs:\n"
        "- `deployment_name`: `gpt-4o-mini`\n"
        "- `log`: `${inputs.log_text}`\n"
        "- `examples`: `${lookup.output}`\n\n"
    )


async def test_reference_to_python_node_shows_the_signature(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await _hover(client, uri, 32, 18)  # `${lookup.output}` in classify's inputs
    assert hover.range == span((32, 16), (32, 22))
    assert "**lookup** — python node" in hover.contents.value
    assert "```python\ndef find_examples(text: str, limit: int = 2) -> list\n```" in hover.contents.value
    assert "Examples of classified logs that share words with `text`." in hover.contents.value


async def test_flow_input_lists_its_users(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await _hover(client, uri, 2, 4)
    assert hover.range == span((2, 2), (2, 10))
    assert hover.contents.value == (
        "**log_text** — flow input\n\n"
        "type `string` · default `Disk full on /var/lib/postgresql`\n\n"
        "used by `lookup`, `classify`, `summarize`"
    )


async def test_node_input_shows_the_parameter(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await _hover(client, uri, 23, 5)  # `limit:` of the python node
    assert hover.contents.value == (
        "input `limit` of node **lookup**\n\n```python\nlimit: int = 2\n```\noptional parameter of `find_examples`"
    )


async def test_llm_parameter_and_unused_input(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await _hover(client, uri, 30, 6)  # `deployment_name:` of classify
    assert hover.contents.value.endswith("the Azure OpenAI deployment to call")


async def test_template_variable_shows_the_flow_that_supplies_it(client: LanguageClient, workspace: Path):
    flow_uri = open_document(client, workspace / "flow.dag.yaml")
    await _hover(client, flow_uri, 0, 0)  # let the flow be analysed, so its dependencies are known
    uri = open_document(client, workspace / "summarize.jinja2")
    hover = await _hover(client, uri, 5, 4)  # `{{ log }}`
    assert hover.range == span((5, 3), (5, 6))
    assert hover.contents.value.startswith("**log** — template variable")
    assert "supplied by `triage/flow.dag.yaml` line 43" in hover.contents.value


async def test_nothing_to_say_is_none(client: LanguageClient, workspace: Path):
    uri = open_document(client, workspace / "flow.dag.yaml")
    assert await _hover(client, uri, 34, 3) is None  # `api:` key
