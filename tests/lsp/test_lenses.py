"""Code lenses (run, batch, cost), the status bar's documentTotals, and the cost hover.

The expected figures come from the costing module on the same files, so the test checks
that the editor shows exactly what `promptwise estimate` computes, at the right places."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.config import load_workspace
from promptwise.costing.estimate import estimate_document
from promptwise.documents import load_document

from lsp_support import open_document, replace_text, span


def _estimate(path: Path, text: str | None = None):
    return estimate_document(load_document(path, text), load_workspace(path))


async def _lenses(client: LanguageClient, uri: str) -> list[tuple[types.Range, str, str]]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return [(lens.range, lens.command.title, lens.command.command) for lens in lenses]


async def test_flow_lenses(client: LanguageClient, workspace: Path):
    (workspace / "data.jsonl").write_text('{"log_text": "Disk full", "language": "en"}\n')
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path)
    expected = _estimate(path)
    top = span((0, 0), (0, 0))
    assert await _lenses(client, uri) == [
        (top, "▶ Run", "promptwise.runFlow"),
        (top, "Batch on data.jsonl", "promptwise.batchRun"),
        # the figures estimate the document when clicked, in any editor (a server command)
        (top, expected.lens_text, "promptwise.estimateCost"),
        (span((24, 8), (24, 16)), expected.items[0].lens_text, "promptwise.estimateCost"),  # classify
        (span((35, 8), (35, 17)), expected.items[1].lens_text, "promptwise.estimateCost"),  # summarize
    ]
    assert expected.items[0].lens_text.startswith("≈ 42 tokens in · ≤ 16,384 out · $")


async def test_cost_lens_follows_a_template_edit(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path)
    before = {(r.start.line, r.start.character): t for r, t, _ in await _lenses(client, uri)}
    template = workspace / "classify.jinja2"
    longer = template.read_text().replace("Answer with", "Think about the log carefully, then answer with")
    template_uri = open_document(client, template)
    replace_text(client, template_uri, longer, version=2)
    after = {(r.start.line, r.start.character): t for r, t, _ in await _lenses(client, uri)}
    classify = (24, 8)
    assert after[classify] != before[classify]
    expected = estimate_document(
        load_document(path), load_workspace(path), overlay={template: longer}
    ).items[0].lens_text
    assert after[classify] == expected


async def test_document_totals(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path)
    totals = await client.protocol.send_request_async("promptwise/documentTotals", {"uri": uri})
    expected = _estimate(path).totals()
    assert totals.inputTokens == expected["inputTokens"] == 82
    assert totals.maxOutputTokens == expected["maxOutputTokens"]
    assert totals.costPerCall == expected["costPerCall"]
    assert totals.catalogEntry == expected["catalogEntry"] and totals.catalogDate == expected["catalogDate"]
    assert totals.text == expected["text"]
    nothing = await client.protocol.send_request_async(
        "promptwise/documentTotals", {"uri": (workspace / "lookup.py").as_uri()}
    )
    assert nothing is None


async def test_hover_on_llm_node_has_the_cost_breakdown(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=24, character=10))
    )
    breakdown = _estimate(path).items[0].hover_text
    assert hover.contents.value.startswith("**classify** — llm node")
    assert hover.contents.value.endswith(breakdown)
    assert "| system | 23 |" in breakdown


async def test_prompty_lenses(client: LanguageClient, workspace: Path):
    path = workspace / "answer.prompty"
    uri = open_document(client, path)
    expected = _estimate(path)
    lenses = await _lenses(client, uri)
    assert lenses[0][1:] == ("▶ Run", "promptwise.runFlow")
    assert (span((0, 0), (0, 0)), expected.items[0].lens_text, "promptwise.estimateCost") in lenses
