"""Helpers for the language-server tests: a client that records every publishDiagnostics,
initialize parameters, opening documents and waiting for their diagnostics."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from pygls.protocol import default_converter

WORKSPACES = Path(__file__).parent / "workspaces"
SERVER_COMMAND = [sys.executable, "-m", "promptwise", "lsp", "--log-level", "DEBUG"]
TIMEOUT = 20  # seconds: generous, since 2 cores are shared by the whole team


def _record_publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # every PublishDiagnosticsParams, in arrival order
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_publish
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)
# Runs read the API key from the environment (as real projects do); the endpoint is the
# fake OpenAI server, written into the workspace's promptwise.yaml by the test fixture.
RUN_CONFIG = ClientServerConfig(
    server_command=SERVER_COMMAND,
    client_factory=make_client,
    server_env={**os.environ, "OPENAI_API_KEY": "test-key"},
)


def copy_workspace(name: str, destination: Path) -> Path:
    target = destination / name
    shutil.copytree(WORKSPACES / name, target)
    return target


def capabilities(pull: bool = False) -> types.ClientCapabilities:
    """A client that supports hierarchical symbols, markdown hover, snippets, prepareRename
    and (when `pull`) pull diagnostics with refresh."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        text_document=types.TextDocumentClientCapabilities(
            document_symbol=types.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(
                    snippet_support=True, documentation_format=[types.MarkupKind.Markdown]
                )
            ),
            rename=types.RenameClientCapabilities(prepare_support=True),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])
                )
            ),
            diagnostic=types.DiagnosticClientCapabilities() if pull else None,
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True),
        ),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=False),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True) if pull else None,
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )


def initialize_params(root: Path, pull: bool = False, options: dict | None = None) -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=capabilities(pull),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options=options or {},
    )


def language_of(path: Path) -> str:
    name = path.name
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".prompty"):
        return "prompty"
    if name.endswith((".jinja2", ".j2")):
        return "jinja"
    if name.endswith(".py"):
        return "python"
    return "plaintext"


def open_document(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    if text is None:
        text = path.read_text(encoding="utf-8")
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_of(path), version=version, text=text)
        )
    )
    return uri


def replace_text(client: LanguageClient, uri: str, text: str, version: int) -> None:
    """A full-text change (no range): the client replaces the whole document."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def wait_for_publish(
    client: LanguageClient, uri: str, version: int | None = None, timeout: float = TIMEOUT, where=None
):
    """The first publishDiagnostics for `uri` (at `version`, and satisfying `where`, when
    given) not yet consumed; earlier ones for other states are consumed on the way."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for index, params in enumerate(client.published):
            if params.uri == uri and (version is None or params.version == version) and (where is None or where(params)):
                del client.published[: index + 1]
                return params
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError(f"no diagnostics published for {uri} (version {version})")
        try:
            await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), remaining
            )
        except asyncio.TimeoutError:
            pass


def position_of(text: str, needle: str, occurrence: int = 0, offset: int = 0) -> types.Position:
    """Where the `occurrence`-th `needle` starts (plus `offset` characters), as a Position."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    character = index - (text.rfind("\n", 0, index) + 1)
    return types.Position(line=line, character=character)


def span(start: tuple[int, int], end: tuple[int, int]) -> types.Range:
    return types.Range(
        start=types.Position(line=start[0], character=start[1]),
        end=types.Position(line=end[0], character=end[1]),
    )


async def shutdown(client: LanguageClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_session(), timeout=TIMEOUT)
    except asyncio.TimeoutError:
        pass  # pytest-lsp's own teardown stops the process
