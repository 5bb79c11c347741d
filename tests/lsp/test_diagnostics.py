"""Diagnostics: published on open and change, answered to pulls, re-checked across files."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import open_document, replace_text, span, wait_for_publish

BROKEN = ("${lookup.output}", "${lokup.output}")


def _summary(diagnostics) -> list[tuple[str, types.Range, types.DiagnosticSeverity]]:
    return sorted(((d.code, d.range, d.severity) for d in diagnostics), key=lambda t: (t[1].start.line, t[0]))


async def test_open_publishes_problems_with_exact_ranges(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path, path.read_text().replace(*BROKEN))
    published = await wait_for_publish(client, uri, version=1)
    assert _summary(published.diagnostics) == [
        ("PW207", span((16, 8), (16, 14)), types.DiagnosticSeverity.Warning),  # `lookup` unused
        ("PW202", span((32, 16), (32, 21)), types.DiagnosticSeverity.Error),  # `lokup`
    ]
    unknown = next(d for d in published.diagnostics if d.code == "PW202")
    assert unknown.source == "promptwise"
    assert "did you mean 'lookup'" in unknown.message


async def test_change_republishes_for_the_new_version(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    good = path.read_text()
    uri = open_document(client, path, good)
    assert (await wait_for_publish(client, uri, version=1)).diagnostics == ()
    replace_text(client, uri, good.replace(*BROKEN), version=2)
    assert {d.code for d in (await wait_for_publish(client, uri, version=2)).diagnostics} == {"PW202", "PW207"}
    replace_text(client, uri, good, version=3)
    assert (await wait_for_publish(client, uri, version=3)).diagnostics == ()


async def test_fast_edits_end_with_the_last_version(client: LanguageClient, workspace: Path):
    """Ten edits in a row: whatever is published in between, the last publish is for the
    last version and matches its text (stale results are dropped, not shown)."""
    path = workspace / "flow.dag.yaml"
    good = path.read_text()
    uri = open_document(client, path, good)
    for version in range(2, 12):
        replace_text(client, uri, good.replace(*BROKEN) if version % 2 else good, version=version)
    last = await wait_for_publish(client, uri, version=11)
    assert {d.code for d in last.diagnostics} == {"PW202", "PW207"}
    assert all(p.version == 11 for p in client.published if p.uri == uri)


async def test_pull_diagnostics(pull_client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(pull_client, path, path.read_text().replace(*BROKEN))
    report = await pull_client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert report.kind == "full"
    assert _summary(report.items) == [
        ("PW207", span((16, 8), (16, 14)), types.DiagnosticSeverity.Warning),
        ("PW202", span((32, 16), (32, 21)), types.DiagnosticSeverity.Error),
    ]
    again = await pull_client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=report.result_id
        )
    )
    assert again.kind == "unchanged" and again.result_id == report.result_id
    assert pull_client.published == []  # a pulling client is not pushed to as well


async def test_template_change_rechecks_the_flow(client: LanguageClient, workspace: Path):
    flow_uri = open_document(client, workspace / "flow.dag.yaml")
    assert (await wait_for_publish(client, flow_uri, version=1)).diagnostics == ()
    template = workspace / "summarize.jinja2"
    template_uri = open_document(client, template)
    await wait_for_publish(client, template_uri, version=1)
    replace_text(client, template_uri, template.read_text() + "\nTone: {{ tone }}\n", version=2)
    # (re-checks of the flow from opening the template may come first; they find nothing)
    flow_publish = await wait_for_publish(client, flow_uri, where=lambda p: p.diagnostics)
    assert [(d.code, d.range) for d in flow_publish.diagnostics] == [("PW403", span((40, 2), (40, 8)))]
    assert "`tone`" in flow_publish.diagnostics[0].message
    template_publish = await wait_for_publish(client, template_uri, where=lambda p: p.diagnostics)
    assert [(d.code, d.range) for d in template_publish.diagnostics] == [("PW403", span((7, 9), (7, 13)))]


async def test_tool_change_rechecks_the_flow(client: LanguageClient, workspace: Path):
    flow_uri = open_document(client, workspace / "flow.dag.yaml")
    assert (await wait_for_publish(client, flow_uri, version=1)).diagnostics == ()
    tool = workspace / "lookup.py"
    tool_uri = open_document(client, tool)
    replace_text(client, tool_uri, tool.read_text().replace("text: str", "query: str"), version=2)
    flow_publish = await wait_for_publish(client, flow_uri, where=lambda p: p.diagnostics)
    assert _summary(flow_publish.diagnostics) == [
        ("PW307", span((21, 2), (21, 8)), types.DiagnosticSeverity.Error),
        ("PW306", span((22, 4), (22, 8)), types.DiagnosticSeverity.Error),
    ]


async def test_close_clears_the_documents_own_diagnostics(client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(client, path, path.read_text().replace(*BROKEN))
    assert (await wait_for_publish(client, uri, version=1)).diagnostics
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert (await wait_for_publish(client, uri)).diagnostics == ()


async def test_unsaved_documents_are_served(client: LanguageClient, workspace: Path):
    """An `untitled:` document has no path; it is analysed from the editor's text alone."""
    uri = "untitled:flow.dag.yaml"
    text = (workspace / "flow.dag.yaml").read_text().replace(*BROKEN)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=text)
        )
    )
    published = await wait_for_publish(client, uri, version=1)
    assert ("PW202", span((32, 16), (32, 21))) in [(d.code, d.range) for d in published.diagnostics]
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [s.name for s in symbols] == ["inputs", "nodes", "outputs"]
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert all(lens.command.command != "promptwise.runFlow" for lens in lenses)  # nothing to run yet
