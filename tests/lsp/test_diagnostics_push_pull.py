"""Push or pull: a client that pulls diagnostics but cannot be told to pull again (no
`workspace.diagnostics.refreshSupport`, as Neovim 0.11) gets them by push, so a flow's
problems caused by an edit of its template reach it; its pulls get an empty report, so
nothing is shown twice."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_support import CONFIG, initialize_params, open_document, replace_text, shutdown, span, wait_for_publish


def _pulls_without_refresh(root: Path) -> types.InitializeParams:
    params = initialize_params(root, pull=True)
    workspace = attrs.evolve(params.capabilities.workspace, diagnostics=None)
    capabilities = attrs.evolve(params.capabilities, workspace=workspace)
    assert capabilities.text_document.diagnostic is not None  # it does pull
    return attrs.evolve(params, capabilities=capabilities)


@pytest_lsp.fixture(config=CONFIG)
async def neovim_like(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(_pulls_without_refresh(workspace))
    yield
    await shutdown(lsp_client)


async def _pull(client: LanguageClient, uri: str, previous: str | None = None):
    return await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri), previous_result_id=previous)
    )


async def test_template_edit_reaches_a_client_that_cannot_re_pull(neovim_like: LanguageClient, workspace: Path):
    flow_uri = open_document(neovim_like, workspace / "flow.dag.yaml")
    assert (await wait_for_publish(neovim_like, flow_uri, version=1)).diagnostics == ()
    template = workspace / "summarize.jinja2"
    template_uri = open_document(neovim_like, template)
    replace_text(neovim_like, template_uri, template.read_text() + "\nTone: {{ tone }}\n", version=2)
    # The flow was not edited: only a push can tell this client about its new problem.
    flow_publish = await wait_for_publish(neovim_like, flow_uri, where=lambda p: p.diagnostics)
    assert [(d.code, d.range) for d in flow_publish.diagnostics] == [("PW403", span((40, 2), (40, 8)))]


async def test_pulls_get_an_empty_report_so_nothing_shows_twice(neovim_like: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    uri = open_document(neovim_like, path, path.read_text().replace("${lookup.output}", "${lokup.output}"))
    published = await wait_for_publish(neovim_like, uri, version=1)
    assert {d.code for d in published.diagnostics} == {"PW202", "PW207"}
    report = await _pull(neovim_like, uri)
    assert report.kind == "full" and list(report.items) == []
    again = await _pull(neovim_like, uri, previous=report.result_id)
    assert again.kind == "unchanged" and again.result_id == report.result_id
