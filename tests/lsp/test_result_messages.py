"""Results reach editors without a results panel: every lens runs a server command, and Run,
Batch, Evaluate, the cost estimate and Show Run end with a window/showMessage that says the
outcome and where the results are. The VS Code extension turns the messages off."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.lsp import commands

from lsp_support import RUN_CONFIG, TIMEOUT, initialize_params, open_document, shutdown


async def _execute(client: LanguageClient, command: str, argument: dict):
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[argument])),
        TIMEOUT * 3,
    )


@pytest_lsp.fixture(config=RUN_CONFIG)
async def quiet_client(lsp_client: LanguageClient, run_workspace: Path):
    await lsp_client.initialize_session(initialize_params(run_workspace, options={"resultMessages": False}))
    yield
    await shutdown(lsp_client)


async def test_every_lens_runs_a_server_command(run_client: LanguageClient, run_workspace: Path):
    uri = open_document(run_client, run_workspace / "flow.dag.yaml")
    lenses = await run_client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    server_commands = {commands.RUN_FLOW, commands.BATCH_RUN, commands.EVALUATE, commands.ESTIMATE_COST, commands.SHOW_RUN}
    assert len(lenses) >= 4 and all(lens.command and lens.command.command in server_commands for lens in lenses)
    for lens in lenses:  # each one works when run as an editor without our extension runs it
        if lens.command.command == commands.ESTIMATE_COST:
            answer = await _execute(run_client, lens.command.command, lens.command.arguments[0])
            assert answer["total"]["inputTokens"] > 0


async def test_run_batch_and_estimate_say_their_outcome(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    run = await _execute(run_client, "promptwise.runFlow", {"uri": uri, "inputs": {"log_text": "Disk quota exceeded"}})
    assert run["status"] == "completed", run
    (message,) = run_client.messages
    assert message.type == types.MessageType.Info
    text = message.message
    assert f"Run of flow.dag.yaml ({run['run']}) completed" in text
    assert '"category": "echo: Disk quota exceeded"' in text
    results = text.split("results: ", 1)[1].split(" · ", 1)[0]
    assert Path(results).is_file() and json.loads(Path(results).read_text().splitlines()[0])  # the stored outputs

    batch = await _execute(run_client, "promptwise.batchRun", {"uri": uri, "data": "data.jsonl", "name": "nightly"})
    assert batch["status"] == "completed", batch
    message = run_client.messages[-1]
    assert "Batch of flow.dag.yaml (nightly) completed · 40/40 rows" in message.message
    assert f"results: {batch['outputs_path']}" in message.message

    await _execute(run_client, "promptwise.estimateCost", {"uri": uri})
    message = run_client.messages[-1]
    assert message.message.startswith("Promptwise: estimate of flow.dag.yaml: 82 tokens in")


async def test_a_failed_run_is_an_error_message(run_client: LanguageClient, run_workspace: Path):
    (run_workspace / "promptwise.yaml").unlink()  # the flow's connection is no longer defined
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.runFlow", {"uri": uri})
    assert result["status"] in ("failed", "error"), result
    (message,) = run_client.messages
    assert message.type == types.MessageType.Error and "Run of flow.dag.yaml" in message.message


async def test_the_extension_turns_messages_off(quiet_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    run = await _execute(quiet_client, "promptwise.runFlow", {"uri": uri})
    assert run["status"] == "completed", run
    assert quiet_client.messages == []


async def test_evaluate_says_its_metrics(run_client: LanguageClient, run_workspace: Path, fake_llm: FakeOpenAI):
    (run_workspace / "eval.yaml").write_text(
        "data: data.jsonl\n"
        "evaluators:\n"
        "  - name: speed\n    type: latency\n    threshold: 600000\n"
        "  - name: echoed\n    type: regex_match\n    inputs: {prediction: ${run.outputs.category}}\n    pattern: echo\n"
    )
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    result = await _execute(run_client, "promptwise.evaluate", {"uri": uri})
    assert result.get("metrics"), result
    message = run_client.messages[-1]
    assert message.message.startswith(f"Promptwise: Evaluation of flow.dag.yaml ({result['run']}) completed"), message.message
    assert "metrics: speed " in message.message and "echoed " in message.message
    assert "results: " in message.message
