"""The operate half in the editor, through the protocol (issues 11 and 12): over a flow that was
packaged, deployed and served, the live lenses ("live v1: p95 ..." opening a trace, "v1 live in
docker" opening the Monitor view), `promptwise.deployments` and `promptwise.monitorView`; the
stores are written by their own writers (registry, audit log, span store)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from promptwise import span_attributes as A
from promptwise.deploy import audit
from promptwise.deploy.service import open_context, package
from promptwise.lsp.monitor_lenses import traces_flow_name
from promptwise.tracing.store import SpanRecord, SpanStore

from lsp_support import TIMEOUT, open_document


def _served(root: Path, flow: str, version: str, durations: list[float]) -> None:
    now = time.time_ns()
    spans = []
    for n, ms in enumerate(durations, start=1):
        start = now - n * 10**9
        spans.append(SpanRecord(f"{n:032x}", f"{n:016x}", None, "POST /score", start, start + int(ms * 1e6),
                                status="ok", is_root=True,
                                attributes={A.SPAN_KIND: A.SPAN_KIND_REQUEST, A.FLOW_NAME: flow, A.VERSION_ID: version}))
    store = SpanStore.for_workspace(root)
    try:
        store.write(spans)
    finally:
        store.close()


async def _execute(client: LanguageClient, command: str, argument: dict):
    return await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=[argument])),
        TIMEOUT * 3)


async def test_lenses_deployments_and_monitor_of_a_served_flow(client: LanguageClient, workspace: Path):
    flow = workspace / "flow.dag.yaml"
    # the registry outside the flow's folder (a registry inside it would be copied into each version)
    (workspace / "promptwise.yaml").write_text(f"registry: {{path: {workspace.parent / 'registry'}}}\n")
    context = open_context(workspace)
    try:
        version, _ = package(context, workspace)
        audit.record(context.registry.database, "deploy", who="test", name=version.name, to_version=version.id,
                     target="docker")
        context.registry.database.commit()
    finally:
        context.close()
    _served(workspace, traces_flow_name(flow), version.id, [300.0, 1500.0])

    uri = open_document(client, flow)
    lenses = await asyncio.wait_for(client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))), TIMEOUT)
    by_title = {lens.command.title: lens.command for lens in lenses if lens.command}
    tag = version.id.rpartition(":")[2]
    assert by_title[f"live {tag}: p95 1.5 s · 0.0% errors"].command == "promptwise.showTrace"
    assert by_title[f"live {tag}: p95 1.5 s · 0.0% errors"].arguments[0]["trace_id"] == f"{2:032x}"  # the slowest
    where = by_title[f"{tag} live in docker"]
    assert where.command == "promptwise.showMonitor" and list(where.arguments) == [{"uri": uri}]

    listed = await _execute(client, "promptwise.deployments", {"uri": uri})
    assert listed["status"] == "ok"
    [entry] = listed["flows"]
    [only] = entry["versions"]
    assert only["version"] == version.id and only["targets"] == ["docker"] and only["live"]["requests"] == 2

    view = await _execute(client, "promptwise.monitorView", {"uri": uri, "since": "1h"})
    assert view["status"] == "ok" and view["totals"]["requests"] == 2
    assert version.id in view["html"] and "<script" not in view["html"]
    bad = await _execute(client, "promptwise.monitorView", {"uri": uri, "since": "soon"})
    assert bad["status"] == "error" and "1h" in bad["error"]
    # the client's periodic alert check: this workspace has no rules
    assert await _execute(client, "promptwise.alerts", {"uri": uri}) == {"status": "ok", "rules": 0, "alerts": []}
