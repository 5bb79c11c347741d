"""Defects found by a QA pass that drove the server the way editors do, each pinned by a test:
incremental edits in documents holding characters `str.splitlines` takes for line breaks,
bursts of range edits across emoji and CJK text (UTF-16 columns), commands called with
arguments of the wrong shape, shutdown while a batch runs, closing a template the open flow
uses, unsaved `untitled:` prompts, and folders deleted or restored on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from concurrent.futures import Future
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from lsp_support import RUN_CONFIG, TIMEOUT, WORKSPACES, initialize_params, open_document, span, wait_for_publish

WORKSPACE_TEMPLATE = WORKSPACES / "triage" / "classify.jinja2"


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _edit(client: LanguageClient, uri: str, version: int, range_: types.Range, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=range_, text=text)],
        )
    )


def _missing_variable(params: types.PublishDiagnosticsParams) -> list[types.Diagnostic]:
    return [d for d in params.diagnostics if "brand_new_var" in d.message]


# ---- text synchronisation ------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x85", "\x0b"])
async def test_range_edit_after_a_character_splitlines_breaks_on(
    client: LanguageClient, workspace: Path, separator: str
):
    """LSP breaks lines only at \\n, \\r\\n and \\r. pygls applied range edits on
    `str.splitlines` lines, so after a form feed or a pasted U+2028 every edit landed a line
    too early and the server's copy of the document drifted from the editor's for good."""
    path = workspace / "classify.jinja2"
    text = path.read_text().replace("storage, network", f"storage,{separator} network")
    uri = open_document(client, path, text)
    await wait_for_publish(client, uri, version=1)
    lines = text.split("\n")
    assert lines[9] == "{{ log }}"
    _edit(client, uri, 2, span((9, 9), (9, 9)), " {{ brand_new_var }}")
    published = await wait_for_publish(client, uri, version=2, where=_missing_variable)
    [problem] = _missing_variable(published)
    assert problem.range == span((9, 13), (9, 26))  # on the edited line, not the one before


async def test_burst_of_range_edits_with_emoji_and_cjk(client: LanguageClient, workspace: Path):
    """Typing, one didChange per character, into a line holding astral emoji and CJK (UTF-16
    columns), deleting across a surrogate pair, then a variable after them: the server's
    copy must equal the editor's, which shows in the diagnostic's UTF-16 range."""
    path = workspace / "classify.jinja2"
    text = path.read_text()
    uri = open_document(client, path, text)
    await wait_for_publish(client, uri, version=1)
    line = 9
    editor = text.split("\n")  # the editor's copy, edited by code points
    version = 1
    for char in "日志😀🚀中文👍🏽x":
        column = _utf16(editor[line])
        version += 1
        _edit(client, uri, version, span((line, column), (line, column)), char)
        editor[line] += char
    # delete "🚀中" (a surrogate pair and a CJK character: three UTF-16 units)
    start = editor[line].index("🚀")
    version += 1
    _edit(
        client,
        uri,
        version,
        span((line, _utf16(editor[line][:start])), (line, _utf16(editor[line][: start + 2]))),
        "",
    )
    editor[line] = editor[line][:start] + editor[line][start + 2 :]
    prefix = editor[line] + " "
    version += 1
    _edit(client, uri, version, span((line, _utf16(editor[line])), (line, _utf16(editor[line]))), " {{ brand_new_var }}")
    editor[line] += " {{ brand_new_var }}"
    assert editor[line] == "{{ log }}日志😀文👍🏽x {{ brand_new_var }}"
    published = await wait_for_publish(client, uri, version=version, where=_missing_variable)
    [problem] = _missing_variable(published)
    begin = _utf16(prefix + "{{ ")
    assert problem.range == span((line, begin), (line, begin + len("brand_new_var")))


# ---- commands with arguments of the wrong shape ------------------------------------------------


async def _execute(client: LanguageClient, command: str, arguments: dict):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[arguments])
    )


@pytest.mark.parametrize(
    "command, arguments, message",
    [
        ("promptwise.batchRun", {"data": "data.jsonl", "concurrency": "abc"}, "`concurrency` must be a whole number"),
        ("promptwise.batchRun", {"data": "data.jsonl", "concurrency": 1.5}, "`concurrency` must be a whole number"),
        ("promptwise.batchRun", {"data": "data.jsonl", "concurrency": 0}, "`concurrency` must be a whole number"),
        ("promptwise.batchRun", {"data": "data.jsonl", "name": "../../elsewhere"}, "`name` must be a run's name"),
        ("promptwise.batchRun", {"data": "data.jsonl", "name": 7}, "`name` must be a run's name"),
        ("promptwise.evaluate", {"run": 5}, "`run` must be a run's name"),
        ("promptwise.compareRuns", {"runs": ["--help"]}, "`runs` must be a run's name"),
        ("promptwise.compareRuns", {"runs": ["a", None]}, "needs `runs`"),
        ("promptwise.showRun", {"run": "--version"}, "`run` must be a run's name"),
        ("promptwise.showRun", {"run": "a", "evaluation": 5}, "`evaluation` must be a run's name"),
    ],
)
async def test_commands_reject_arguments_of_the_wrong_shape(
    client: LanguageClient, workspace: Path, command: str, arguments: dict, message: str
):
    """Before: `concurrency: "abc"` answered "invalid literal for int() with base 10",
    `run: 5` an internal TypeError, a run named `--help` or `--version` ran the CLI's own
    option ("exit code 0"), and a batch `name` with `..` would have put the run's files
    outside `.promptwise/runs/`."""
    (workspace / "data.jsonl").write_text('{"log_text": "disk full", "language": "en"}\n')
    arguments = {"uri": (workspace / "flow.dag.yaml").as_uri(), **arguments}
    with pytest.raises(JsonRpcInvalidParams, match=message):
        await _execute(client, command, arguments)
    assert not (workspace.parent / "elsewhere").exists()


# ---- shutdown while a batch runs -----------------------------------------------------------


def _job_workers(folder: Path) -> list[int]:
    """Processes running `promptwise.lsp.job_worker` in `folder` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"promptwise.lsp.job_worker" in command and cwd == str(folder):
            found.append(int(entry.name))
    return found


@pytest_lsp.fixture(config=RUN_CONFIG)
async def unstopped_client(lsp_client: LanguageClient, run_workspace: Path):
    """A run client whose test shuts the server down itself."""
    await lsp_client.initialize_session(initialize_params(run_workspace))
    yield


async def test_shutdown_while_a_batch_runs(unstopped_client: LanguageClient, run_workspace: Path, fake_llm):
    run_client = unstopped_client
    """Before: the shutdown request itself failed ("dictionary changed size during
    iteration", pygls cancelling the running executeCommand), and the worker was killed
    outright, leaving its run marked `running` for good. Now the batch is cancelled the way
    the user would (its request answered, the run canceled and resumable), then the server
    shuts down cleanly and no worker outlives it."""
    fake_llm.latency = 0.3
    uri = (run_workspace / "flow.dag.yaml").as_uri()
    batch = asyncio.ensure_future(
        run_client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="promptwise.batchRun",
                arguments=[{"uri": uri, "data": "data.jsonl", "concurrency": 1, "name": "at-shutdown"}],
            )
        )
    )
    for _ in range(int(TIMEOUT / 0.1)):
        await asyncio.sleep(0.1)
        if any(
            isinstance(report, types.WorkDoneProgressReport) and report.percentage
            for reports in run_client.progress_reports.values()
            for report in reports
        ):
            break
    assert _job_workers(run_workspace), "the batch's worker is not running"
    await asyncio.wait_for(run_client.shutdown_async(None), TIMEOUT)  # raised before the fix
    result = await asyncio.wait_for(batch, TIMEOUT)
    assert result["status"] == "canceled" and result["run"] == "at-shutdown", result
    run_client.exit(None)
    await asyncio.wait_for(run_client._server.wait(), TIMEOUT)
    assert _job_workers(run_workspace) == []
    with sqlite3.connect(run_workspace / ".promptwise" / "runs.sqlite") as database:
        status = database.execute("select status from runs where name = 'at-shutdown'").fetchone()
    assert status == ("canceled",)


# ---- closing a file the open flow uses -------------------------------------------------------


async def test_closing_a_template_without_saving_rechecks_the_flow(client: LanguageClient, workspace: Path):
    """Before: the flow kept the problems of the template's unsaved text after the editor
    dropped it ("Don't save"), until the flow itself was edited."""
    flow_uri = open_document(client, workspace / "flow.dag.yaml")
    template = workspace / "classify.jinja2"
    template_uri = open_document(client, template, template.read_text() + "{{ brand_new_var }}\n")
    await wait_for_publish(client, flow_uri, where=lambda p: any("brand_new_var" in d.message for d in p.diagnostics))
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=template_uri))
    )
    published = await wait_for_publish(client, flow_uri, where=lambda p: not p.diagnostics)
    assert list(published.diagnostics) == []  # the saved template needs nothing the node lacks


async def test_closing_a_never_saved_template_rechecks_the_flow(client: LanguageClient, workspace: Path):
    """A template that exists only in the editor: once closed, the flow's node points to a
    missing file, and the closed file keeps no diagnostics."""
    path = workspace / "flow.dag.yaml"
    flow_uri = open_document(client, path, path.read_text().replace("path: classify.jinja2", "path: fresh.jinja2"))
    fresh = workspace / "fresh.jinja2"
    fresh_uri = open_document(client, fresh, "system:\nSort logs.\nuser:\n{{ log }} {{ examples }}\n")
    await wait_for_publish(client, flow_uri, where=lambda p: not p.diagnostics)
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=fresh_uri))
    )
    published = await wait_for_publish(client, flow_uri, where=lambda p: p.diagnostics)
    assert [d.code for d in published.diagnostics] == ["PW301"]
    assert "fresh.jinja2" in published.diagnostics[0].message
    assert list(client.diagnostics[fresh_uri]) == []


# ---- unsaved documents -------------------------------------------------------------------------


async def test_untitled_prompty_is_checked_by_its_language(client: LanguageClient, workspace: Path):
    """VS Code names every new unsaved file `untitled:Untitled-N`, whatever its language.
    Before, such a prompt had no suffix, was not recognised, and got no diagnostics,
    symbols or cost lens; now the language it was opened in says what it is."""
    uri = "untitled:Untitled-1"
    text = (workspace / "answer.prompty").read_text() + "\n{{ undefined_thing }}\n"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="prompty", version=1, text=text)
        )
    )
    published = await wait_for_publish(client, uri, version=1)
    line = text.split("\n").index("{{ undefined_thing }}")
    assert [(d.code, d.range) for d in published.diagnostics] == [("PW403", span((line, 3), (line, 18)))]
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert "inputs" in [symbol.name for symbol in symbols]
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    titles = [lens.command.title for lens in lenses]
    assert any("tokens in" in title for title in titles)
    assert not any("Run" in title for title in titles)  # an unsaved prompt cannot be run


# ---- files changed on disk --------------------------------------------------------------------


async def test_deleting_a_folder_rechecks_flows_using_files_in_it(client: LanguageClient, workspace: Path):
    """Deleting a folder is reported as one event for the folder, not one per file in it.
    Before, the open flow went on showing no problem for a template that no longer existed."""
    (workspace / "prompts").mkdir()
    (workspace / "classify.jinja2").rename(workspace / "prompts" / "classify.jinja2")
    path = workspace / "flow.dag.yaml"
    path.write_text(path.read_text().replace("path: classify.jinja2", "path: prompts/classify.jinja2"))
    uri = open_document(client, path)
    published = await wait_for_publish(client, uri, version=1)
    assert list(published.diagnostics) == []
    shutil.rmtree(workspace / "prompts")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "prompts").as_uri(), type=types.FileChangeType.Deleted)]
        )
    )
    published = await wait_for_publish(client, uri, where=lambda p: p.diagnostics)
    assert [d.code for d in published.diagnostics] == ["PW301"]
    assert "prompts/classify.jinja2" in published.diagnostics[0].message
    # and the folder restored (a `git checkout`, an undo): one event for the folder again
    (workspace / "prompts").mkdir()
    shutil.copy(WORKSPACE_TEMPLATE, workspace / "prompts" / "classify.jinja2")
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[types.FileEvent(uri=(workspace / "prompts").as_uri(), type=types.FileChangeType.Created)]
        )
    )
    published = await wait_for_publish(client, uri, where=lambda p: not p.diagnostics)
    assert list(published.diagnostics) == []


# ---- malformed requests -----------------------------------------------------------------------


async def _raw_request(client: LanguageClient, method: str, params: dict):
    """Send a request as plain JSON, past the client library's typed checks of its params."""
    protocol = client.protocol
    message_id = f"raw-{method}-{len(protocol._request_futures)}"
    future: Future = Future()
    protocol._request_futures[message_id] = future
    protocol._send_data({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params})
    return await asyncio.wrap_future(future)


@pytest.mark.parametrize(
    "params",
    [
        {"textDocument": {"uri": "file:///x/flow.dag.yaml"}},  # no position
        {"textDocument": {"uri": "file:///x/flow.dag.yaml"}, "position": {"line": "a", "character": 0}},
        {"textDocument": {"uri": "file:///x/flow.dag.yaml"}, "position": {"line": -1, "character": -5}},
    ],
)
async def test_a_request_with_malformed_params_gets_an_error(client: LanguageClient, workspace: Path, params: dict):
    """Before: pygls logged "Unable to deserialize message" and never answered, so the
    editor's request hung. Now: Invalid Params, and the server goes on answering."""
    with pytest.raises(JsonRpcInvalidParams, match="invalid params for textDocument/hover"):
        await asyncio.wait_for(_raw_request(client, types.TEXT_DOCUMENT_HOVER, params), TIMEOUT)
    uri = open_document(client, workspace / "flow.dag.yaml")
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=24, character=10))
    )
    assert hover.contents.value.startswith("**classify** — llm node")
