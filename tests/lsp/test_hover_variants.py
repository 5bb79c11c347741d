"""Hover on a node with variants (each listed, the default marked) and a prompty's cost on
its `model:` settings."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.config import load_workspace
from promptwise.costing.estimate import estimate_document
from promptwise.documents.load import load_document

from lsp_support import open_document, position_of

VARIANTS = """node_variants:
  classify:
    default_variant_id: terse
    variants:
      terse:
        node:
          type: llm
          source: {type: code, path: classify.jinja2}
          inputs: {deployment_name: gpt-4o-mini, temperature: 0, log: "${inputs.log_text}", examples: "${lookup.output}"}
          connection: open_ai_connection
          api: chat
      careful:
        description: more tokens, better at odd logs
        node:
          type: llm
          source: {type: code, path: summarize.jinja2}
          inputs: {deployment_name: gpt-4o, log: "${inputs.log_text}", category: x, language: en}
          connection: open_ai_connection
          api: chat
"""


def _variant_flow(workspace: Path) -> tuple[Path, str]:
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    start = text.index("- name: classify")
    end = text.index("- name: summarize")
    text = text[:start] + "- name: classify\n  use_variants: true\n" + text[end:] + VARIANTS
    path.write_text(text)
    return path, text


async def _hover(client: LanguageClient, uri: str, position: types.Position) -> str:
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    )
    assert hover is not None
    return hover.contents.value


async def test_hover_lists_variants_and_the_default(client: LanguageClient, workspace: Path):
    path, text = _variant_flow(workspace)
    uri = open_document(client, path, text)
    listing = (
        "2 variants, default `terse`:\n"
        "- `terse` **(default)**: `classify.jinja2` · deployment_name `gpt-4o-mini` · temperature `0`\n"
        "- `careful`: `summarize.jinja2` · deployment_name `gpt-4o` · more tokens, better at odd logs"
    )
    on_node = await _hover(client, uri, position_of(text, "name: classify", offset=8))
    assert on_node.startswith("**classify** — node") and listing in on_node
    on_key = await _hover(client, uri, position_of(text, "  classify:\n", offset=3))
    assert listing in on_key
    on_variant = await _hover(client, uri, position_of(text, "      careful:", offset=8))
    assert "variant `careful`" in on_variant and listing in on_variant


async def test_hover_warns_of_a_default_that_is_not_a_variant(client: LanguageClient, workspace: Path):
    path, text = _variant_flow(workspace)
    text = text.replace("default_variant_id: terse", "default_variant_id: tres")
    uri = open_document(client, path, text)
    on_key = await _hover(client, uri, position_of(text, "  classify:\n", offset=3))
    assert "the default `tres` is not one of them" in on_key


async def test_prompty_cost_on_its_model_key(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    text = path.read_text()
    uri = open_document(client, path)
    breakdown = estimate_document(load_document(path), load_workspace(path)).items[0].hover_text
    assert breakdown
    for needle, offset in (("model:\n", 2), ("    model: gpt-4o-mini", 13), ("max_tokens: 300", 3)):
        assert breakdown in await _hover(client, uri, position_of(text, needle, offset=offset)), needle
    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(text, "name: Policy", offset=2))
    )
    assert nothing is None or breakdown not in nothing.contents.value
