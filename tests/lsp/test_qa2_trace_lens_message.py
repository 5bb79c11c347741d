"""The "last run" lens in editors without our trace view (Neovim, Helix, Emacs): running it
(`promptwise.showTrace`) also says the trace as a window/showMessage, with the figures of the
lens's span and the command that prints the whole tree; VS Code (resultMessages: false) gets
no message. Before, those editors dropped the JSON answer and the lens did nothing visible."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI

from lsp_support import RUN_CONFIG, TIMEOUT, initialize_params, open_document, shutdown


async def _execute(client: LanguageClient, command: str, argument: dict):
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[argument])),
        TIMEOUT * 3,
    )


async def _trace_lenses(client: LanguageClient, flow: Path) -> dict[str, types.CodeLens]:
    uri = open_document(client, flow)
    lenses = await asyncio.wait_for(
        client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))),
        TIMEOUT,
    )
    lines = flow.read_text().splitlines()
    return {lines[lens.range.start.line].strip() if lens.range.start.line else "top": lens
            for lens in lenses if lens.command and lens.command.command == "promptwise.showTrace"}


@pytest_lsp.fixture(config=RUN_CONFIG)
async def quiet_client(lsp_client: LanguageClient, run_workspace: Path):
    await lsp_client.initialize_session(initialize_params(run_workspace, options={"resultMessages": False}))
    yield
    await shutdown(lsp_client)


async def test_the_last_run_lens_says_its_trace(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    flow = run_workspace / "flow.dag.yaml"
    run = await _execute(run_client, "promptwise.runFlow", {"uri": flow.as_uri(), "inputs": {"log_text": "Disk full"}})
    assert run["status"] == "completed", run
    lenses = await _trace_lenses(run_client, flow)
    before = len(run_client.messages)

    node = lenses["- name: classify"].command
    trace = await _execute(run_client, node.command, node.arguments[0])
    (message,) = run_client.messages[before:]
    assert message.type == types.MessageType.Info
    trace_id = trace["trace_id"]
    assert message.message.startswith(f"Trace {trace_id[:12]} · node classify: ")
    # the node's own figures, as its lens shows them ("last run: 61 ms · 52 tok · $...")
    assert message.message.split(": ", 1)[1].startswith(node.title.removeprefix("last run: "))
    assert message.message.endswith(f"promptwise traces show {trace_id}")

    top = lenses["top"].command
    await _execute(run_client, top.command, top.arguments[0])
    assert run_client.messages[-1].message.startswith(f"Trace {trace_id[:12]} · invoke_workflow ")

    missing = await _execute(run_client, "promptwise.showTrace", {"trace_id": "0123456789abcdef"})
    assert missing["status"] == "error"
    assert run_client.messages[-1].type == types.MessageType.Warning
    assert "0123456789abcdef" in run_client.messages[-1].message


async def test_vscode_gets_no_trace_message(quiet_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    flow = run_workspace / "flow.dag.yaml"
    run = await _execute(quiet_client, "promptwise.runFlow", {"uri": flow.as_uri()})
    assert run["status"] == "completed", run
    trace = await _execute(quiet_client, "promptwise.showTrace", {"uri": flow.as_uri()})
    assert trace["run_id"] == run["run"]
    assert quiet_client.messages == []
