"""What must never appear in the server's log: a traceback from a hover on a reference to a
node that does not exist, or from a rename the server refuses (an invalid or taken name is
the user's mistake, answered with an error, not an internal failure).

The server's stderr is sent to a file this module reads (through `sh`, since pytest-lsp
keeps the process's own stderr).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_support import SERVER_COMMAND, initialize_params, make_client, open_document, position_of, shutdown, wait_for_publish

LOG = Path(tempfile.mkdtemp(prefix="promptwise-lsp-log-")) / "server.log"
QUIET_CONFIG = ClientServerConfig(
    server_command=["sh", "-c", 'exec "$@" 2>"$0"', str(LOG), *SERVER_COMMAND],
    client_factory=make_client,
)


@pytest_lsp.fixture(config=QUIET_CONFIG)
async def logged_client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(initialize_params(workspace))
    yield
    await shutdown(lsp_client)


def _log() -> str:
    return LOG.read_text(errors="replace") if LOG.exists() else ""


async def test_hover_on_an_unknown_node_reference_answers_without_a_traceback(logged_client: LanguageClient, workspace: Path):
    path = workspace / "flow.dag.yaml"
    text = path.read_text().replace("examples: ${lookup.output}", "examples: ${nosuch.output.key}")
    uri = open_document(logged_client, path, text)
    await wait_for_publish(logged_client, uri)
    for offset in (3, 9, 15):  # on the node name, on `output`, on the key
        hover = await logged_client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_of(text, "${nosuch.output.key}", offset=offset),
            )
        )
        assert hover is not None and "nosuch" in hover.contents.value
    log = _log()
    assert "Traceback" not in log and "AttributeError" not in log and "hover failed" not in log


@pytest.mark.parametrize("new_name", ["2bad name", "classify"])
async def test_refused_rename_is_an_error_answer_not_a_logged_traceback(logged_client: LanguageClient, workspace: Path, new_name: str):
    path = workspace / "flow.dag.yaml"
    text = path.read_text()
    uri = open_document(logged_client, path)
    await wait_for_publish(logged_client, uri)
    with pytest.raises(JsonRpcException):
        await logged_client.text_document_rename_async(
            types.RenameParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_of(text, "name: lookup", offset=7),
                new_name=new_name,
            )
        )
    # a later request still works, and the refusal left no traceback behind
    symbols = await logged_client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert symbols
    log = _log()
    assert "Traceback" not in log and "JsonRpcInvalidParams" not in log
