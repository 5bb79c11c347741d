"""Hover and completion answer from the last parsed version of a document instead of waiting
behind the analysis that runs in the server's executor (issue 9 part 3).

In-process and deterministic: the executor is held busy by a task that waits on an event, as
a long analysis would hold it; nothing is timed.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from lsprotocol import types
from pygls.workspace import Workspace

from promptwise.lsp.context import document_context
from promptwise.lsp.server import PromptwiseServer

FLOW = "inputs:\n  question:\n    type: string\nnodes:\n- name: first\n  type: python\n  source:\n    type: code\n    path: tool.py\n  inputs:\n    text: ${inputs.question}\n"


def _server(folder: Path) -> tuple[PromptwiseServer, str]:
    ls = PromptwiseServer()
    ls.protocol._workspace = Workspace(folder.as_uri())
    uri = (folder / "flow.dag.yaml").as_uri()
    ls.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=FLOW))
    return ls, uri


def _edit(ls: PromptwiseServer, uri: str, version: int, text: str) -> None:
    ls.workspace.update_text_document(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        types.TextDocumentContentChangeWholeDocument(text=text),
    )


async def _while_the_executor_is_busy(ls: PromptwiseServer, body):
    release = threading.Event()
    busy = asyncio.get_running_loop().run_in_executor(ls.executor, release.wait)
    try:
        return await body()
    finally:
        release.set()
        await busy


async def test_latest_answers_from_the_previous_version_while_an_analysis_runs(tmp_path: Path):
    ls, uri = _server(tmp_path)
    try:
        first = await ls.document_model(uri)
        assert [node.name for node in first.nodes] == ["first"]
        edited = FLOW.replace("name: first", "name: second") + "  # typed\n"
        _edit(ls, uri, 2, edited)

        async def body():
            model = await asyncio.wait_for(ls.document_model(uri, latest=True), 30)
            context = await asyncio.wait_for(
                document_context(ls, uri, types.Position(line=4, character=9), latest=True), 30
            )
            waiting = asyncio.ensure_future(ls.document_model(uri))  # needs the busy executor
            for _ in range(20):
                await asyncio.sleep(0)
            return model, context, waiting

        model, context, waiting = await _while_the_executor_is_busy(ls, body)
        assert model is first  # answered without the executor
        assert context.model is first
        assert context.lines[4] == "- name: second"  # but the lines typed are the current ones
        fresh = await asyncio.wait_for(waiting, 30)  # the plain call parsed version 2
        assert [node.name for node in fresh.nodes] == ["second"]
    finally:
        ls.executor.shutdown(wait=False, cancel_futures=True)


async def test_the_analysis_model_replaces_older_ones_only(tmp_path: Path):
    ls, uri = _server(tmp_path)
    try:
        old, new = object(), object()
        ls.remember_model(uri, 3, new)
        ls.remember_model(uri, 2, old)  # an analysis of an older version finishing late
        assert ls.models[uri] == (("v", 3), new)
        _edit(ls, uri, 3, FLOW)
        assert await ls.document_model(uri) is new  # the current version: no parse needed
    finally:
        ls.executor.shutdown(wait=False, cancel_futures=True)


async def test_a_prompt_request_does_not_queue_behind_the_analysis_worker(tmp_path: Path):
    ls, uri = _server(tmp_path)
    try:
        async def hover_like():
            await document_context(ls, uri, types.Position(line=0, character=0), latest=True)
            return await ls.run_cpu(lambda: "estimated")

        async def analysis_like():
            return await ls.run_cpu(lambda: "analysed")

        await ls.document_model(uri)

        async def body():
            prompt = asyncio.ensure_future(hover_like())
            queued = asyncio.ensure_future(analysis_like())
            answer = await asyncio.wait_for(prompt, 30)
            for _ in range(20):
                await asyncio.sleep(0)
            return answer, queued, queued.done()

        answer, queued, queued_done_while_busy = await _while_the_executor_is_busy(ls, body)
        assert answer == "estimated"
        assert not queued_done_while_busy  # plain work waits for the analysis worker
        assert await asyncio.wait_for(queued, 30) == "analysed"  # it ran once the worker was free
    finally:
        ls.executor.shutdown(wait=False, cancel_futures=True)
        ls.prompt_executor.shutdown(wait=False, cancel_futures=True)
