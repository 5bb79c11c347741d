"""The editor's trace view and the "last run" lenses over a flow's nodes (issue 10, part 1).

- `promptwise.showTrace` {trace_id | run (+ row) | uri (+ request_id)} -> the JSON of
  `promptwise traces show --format json` (tracing/view.py's `trace_document`, the same code),
  or `{status: "error", error}`. `run` may be a list of run names tried in order (an evaluation
  row: the evaluation's trace of the row, else the evaluated run's). With only `uri`: the latest
  trace of that flow; with `request_id` too: the served request that carried that x-request-id.
- Lenses: over a DAG flow's nodes, and at the top of every flow and prompty, "last run: 1.2 s ·
  812 tok · $0.0004" from the flow's latest trace; each opens that trace.

The span store is read here, in the server's executor (read-only; WAL lets a batch write
meanwhile); the client never reads SQLite.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from promptwise.lsp import uris
from promptwise.lsp.context import DocumentContext, client_range
from promptwise.lsp.server import PromptwiseServer

SHOW_TRACE = "promptwise.showTrace"
# A served request's spans reach the store in timed batches: look again for this long.
REQUEST_TRACE_WAIT_SECONDS = 4.0
RECENT_TRACES_SCANNED = 30  # for a request id: the flow's newest traces, newest first
TOP = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


class TraceNotFound(Exception):
    """What the user asked for has no trace; the message says why and what to do."""


def _object(args: tuple) -> dict:
    if len(args) == 1 and isinstance(args[0], dict):
        return args[0]
    raise JsonRpcInvalidParams(f"{SHOW_TRACE} takes one object argument, e.g. {{\"trace_id\": \"...\"}}")


def _root_of(ls: PromptwiseServer, arguments: dict) -> Path:
    from promptwise.config import find_workspace_root

    uri = arguments.get("uri")
    if isinstance(uri, str) and uri:
        return find_workspace_root(uris.uri_to_path(uri))
    try:
        folder = ls.workspace.root_path
    except RuntimeError:
        folder = None
    return find_workspace_root(Path(folder or "."))


def _open(root: Path):
    from promptwise.tracing.store import SpanStore, store_path

    if not store_path(root).is_file():
        return None
    return SpanStore.for_workspace(root, readonly=True)


def find_trace(root: Path, arguments: dict) -> dict:
    """In the executor: the trace document the arguments name (TraceNotFound otherwise)."""
    from promptwise.tracing.view import trace_document

    store = _open(root)
    if store is None:
        raise TraceNotFound("no traces in this workspace yet: run the flow (Run Flow), and its trace is recorded")
    try:
        trace = _lookup(store, arguments)
        return trace_document(trace)
    finally:
        store.close()


def _lookup(store, arguments: dict) -> dict:
    trace_id = arguments.get("trace_id")
    if isinstance(trace_id, str) and trace_id.strip():
        trace = store.get_trace(trace_id)
        if trace is None:
            raise TraceNotFound(f"no trace {trace_id} in {store.path} (deleted by the retention setting?)")
        return trace
    runs = arguments.get("run")
    if isinstance(runs, str):
        runs = [runs]
    row = arguments.get("row")
    if isinstance(runs, list) and runs:
        for run in runs:
            if not isinstance(run, str):
                continue
            rows = store.list_traces(run=run, limit=None)
            if isinstance(row, int) and not isinstance(row, bool):
                rows = [r for r in rows if r["row_index"] == row]
            rows = [r for r in rows if r["kind"] != "evaluation"] or rows  # the row's run, not its evaluations
            if rows:  # newest first: a resumed row's latest attempt
                return store.get_trace(rows[0]["trace_id"])
        where = f" row {row}" if isinstance(row, int) else ""
        raise TraceNotFound(f"no trace of run {' or '.join(map(str, runs))}{where}; runs made before tracing was on, "
                            f"or with `tracing: {{enabled: false}}`, have none")
    flow = arguments.get("uri")
    if not isinstance(flow, str) or not flow:
        raise JsonRpcInvalidParams(f"{SHOW_TRACE} needs `trace_id`, `run` (and `row`), or `uri` (a flow's latest trace)")
    path = str(uris.uri_to_path(flow).resolve())
    request_id = arguments.get("request_id")
    if isinstance(request_id, str) and request_id:
        # By the request's own span: one answered before its flow ran (a 422, 401, 429) has no flow span.
        found = store.trace_of_request(request_id)
        trace = store.get_trace(found) if found else None
        if trace is not None:
            return trace
    for summary in store.list_traces(flow=path, limit=RECENT_TRACES_SCANNED if request_id else 1):
        trace = store.get_trace(summary["trace_id"])
        if trace is None:
            continue
        if not request_id or any(span["attributes"].get("promptwise.request.id") == request_id for span in trace["spans"]):
            return trace
    if request_id:
        raise TraceNotFound(f"no trace of request {request_id} yet (is tracing on for `promptwise serve`?)")
    raise TraceNotFound(f"{Path(path).name} has no trace yet: run it (Run Flow) and its trace is recorded")


async def show_trace(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(args)
    answer = await _find_waiting(ls, _root_of(ls, arguments), arguments)
    # Editors without our trace view (Neovim, Helix, Emacs) drop the answer: the "last run" lens
    # would do nothing visible there, so it is also said as a message (off for VS Code).
    from promptwise.lsp import announce

    announce.show(ls, describe_trace(answer, arguments.get("span_id")))
    return answer


async def _find_waiting(ls: PromptwiseServer, root: Path, arguments: dict) -> dict:
    deadline = time.monotonic() + (REQUEST_TRACE_WAIT_SECONDS if arguments.get("request_id") else 0)
    while True:
        try:
            return await ls.run_cpu(find_trace, root, arguments)
        except TraceNotFound as error:
            if time.monotonic() >= deadline:
                return {"status": "error", "error": str(error)}
        await asyncio.sleep(0.25)


def describe_trace(document: dict, span_id: Any = None) -> tuple[types.MessageType, str]:
    """One line for the trace (or the lens's span in it) and the command that prints it whole:
    "Trace 4fbebcb96cab · node classify: 57 ms · 652 tok · $0.00011 · promptwise traces show 4fbe..."."""
    if "trace_id" not in document:  # {status: error, error}: nothing found (a trace's own status may be error too)
        return types.MessageType.Warning, f"Promptwise: {document.get('error')}"
    trace_id = str(document["trace_id"])
    name, duration, totals = document.get("name") or "trace", document.get("duration_ms"), document.get("totals") or {}
    stack = list(document.get("spans") or []) if span_id else []
    while stack:  # a node's lens names its span: that span's figures, its model calls included
        span = stack.pop()
        if span.get("span_id") == span_id:
            name, duration, totals = span.get("name") or name, span.get("duration_ms"), span.get("subtree") or {}
            break
        stack.extend(span.get("children") or [])
    tokens = (totals.get("input_tokens") or 0) + (totals.get("output_tokens") or 0)
    title = lens_title(duration, tokens, totals.get("cost_usd")).removeprefix("last run: ")
    failed = ""
    if document.get("status") == "error":
        failed = f" · error ({document['error_type']})" if document.get("error_type") else " · error"
    kind = types.MessageType.Warning if failed else types.MessageType.Info
    return kind, (f"Trace {trace_id[:12]} · {name}: {title}{failed} · the whole tree: "
                  f"promptwise traces show {trace_id}")


# --- lenses ------------------------------------------------------------------------------

def lens_title(duration_ms: float | None, tokens: int, cost: float | None) -> str:
    """"last run: 1.2 s · 812 tok · $0.0004" (the cost only when known)."""
    from promptwise.costing.formatting import format_tokens, format_usd

    if duration_ms is None:
        when = "-"
    elif duration_ms >= 1000:
        when = f"{duration_ms / 1000:.1f} s"
    else:
        when = f"{duration_ms:.0f} ms"
    parts = [f"last run: {when}"]
    if tokens:
        parts.append(f"{format_tokens(tokens)} tok")
    if cost:
        parts.append(format_usd(cost))
    return " · ".join(parts)


def latest_figures(path: Path) -> dict | None:
    """In the executor: the flow's latest trace as {trace_id, total: (ms, tokens, cost), nodes:
    {name: (ms, tokens, cost, span_id)}}, or None when it has none. Never raises."""
    from promptwise import span_attributes as A
    from promptwise.config import find_workspace_root
    from promptwise.tracing.view import trace_document

    try:
        store = _open(find_workspace_root(path))
        if store is None:
            return None
        try:
            summaries = store.list_traces(flow=str(path.resolve()), limit=1)
            trace = store.get_trace(summaries[0]["trace_id"]) if summaries else None
        finally:
            store.close()
    except Exception:  # a damaged or locked store: no lens, never a failed request
        return None
    if trace is None:
        return None
    document = trace_document(trace)
    totals = document["totals"]
    figures = {"trace_id": document["trace_id"],
               "total": (document["duration_ms"], totals["input_tokens"] + totals["output_tokens"], totals["cost_usd"]),
               "nodes": {}}
    stack = list(document["spans"])
    while stack:
        span = stack.pop()
        stack.extend(span["children"])
        name = span["attributes"].get(A.NODE_NAME)
        if span["kind"] == A.SPAN_KIND_NODE and isinstance(name, str):
            sub = span["subtree"]
            figures["nodes"][name] = (span["duration_ms"], sub["input_tokens"] + sub["output_tokens"],
                                      sub["cost_usd"], span["span_id"])
    return figures


async def lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    """"last run" over the flow (top line) and over each node of a DAG flow."""
    if context.kind not in ("flow_dag", "flex_flow", "prompty") or uris.is_unsaved(context.path):
        return []
    figures = await ls.run_cpu(latest_figures, context.path)
    if figures is None:
        return []
    trace_id = figures["trace_id"]

    def lens(where: types.Range, numbers: tuple, span_id: str | None = None) -> types.CodeLens:
        argument = {"trace_id": trace_id, "uri": context.uri}
        if span_id:
            argument["span_id"] = span_id
        return types.CodeLens(range=where, command=types.Command(title=lens_title(*numbers[:3]), command=SHOW_TRACE,
                                                                  arguments=[argument]))

    found = [lens(TOP, figures["total"])]
    for node in getattr(context.model, "nodes", None) or []:
        numbers = figures["nodes"].get(getattr(node, "name", None))
        if numbers is not None:
            found.append(lens(client_range(ls, context.path, node.name_range, context.lines), numbers, numbers[3]))
    return found
