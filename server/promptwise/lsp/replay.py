"""`promptwise.replayCall` {trace_id, span_id, model?, uri?}: re-run one recorded model call with
the prompt as it is now on disk (or another model), and answer with both calls side by side:

    {status: "ok", span_id, node, trace_id (the replay's own trace),
     original: {model, messages, reply, input_tokens, output_tokens, cost_usd, duration_ms},
     replay:   {...the same, from the replay's trace}}

or `{status: "error", error}`. The call runs in a job worker (lsp/replay_job.py) through the
engine, like a run; both sides are read from the span store with tracing/view.py's document.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from promptwise import span_attributes as A
from promptwise.lsp import traces
from promptwise.lsp.jobs import manager
from promptwise.lsp.replay_job import recorded_outputs, recorded_reply
from promptwise.lsp.server import PromptwiseServer

REPLAY_CALL = "promptwise.replayCall"
REPLAY_MODELS = "promptwise.replayModels"  # {uri?} -> [{name, detail}]: the chat models a replay can pick
STORED_WAIT_SECONDS = 3.0  # the worker flushes its spans before it exits; a margin for slow disks


def _arguments(args: tuple) -> dict:
    if len(args) == 1 and isinstance(args[0], dict):
        arguments = args[0]
        if isinstance(arguments.get("trace_id"), str) and isinstance(arguments.get("span_id"), str):
            return arguments
    raise JsonRpcInvalidParams(f"{REPLAY_CALL} takes one object: {{\"trace_id\": ..., \"span_id\": ..., \"model\"?: ...}}")


def _ancestry(document: dict, span_id: str) -> list[dict] | None:
    """The spans from a root down to `span_id` (None when the trace has no such span)."""
    stack = [(root, [root]) for root in document["spans"]]
    while stack:
        span, path = stack.pop()
        if span["span_id"] == span_id:
            return path
        stack.extend((child, path + [child]) for child in span["children"])
    return None


def _walk(span: dict) -> list[dict]:
    found, stack = [], [span]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(current["children"])
    return found


def side(span: dict) -> dict:
    """One call as the replay page shows it."""
    return {"model": span.get("model"), "messages": (span.get("content") or {}).get("input_messages") or [],
            "reply": recorded_reply(span), "input_tokens": span.get("input_tokens"),
            "output_tokens": span.get("output_tokens"), "cost_usd": span.get("cost_usd"),
            "duration_ms": span.get("duration_ms"),
            "error": span.get("error_message") if span.get("status") == "error" else None}


def plan(document: dict, span_id: str, model: str | None) -> dict:
    """The job's arguments for replaying `span_id` of the trace `document` (ValueError: why not)."""
    path = _ancestry(document, span_id)
    if path is None:
        raise ValueError(f"trace {document['trace_id']} has no span {span_id}")
    call = path[-1]
    if call["kind"] != A.SPAN_KIND_LLM:
        raise ValueError(f"span {call['name']!r} is not a model call; replay a span of kind llm")
    flow = next((span for span in reversed(path) if span["kind"] == A.SPAN_KIND_FLOW), None)
    if flow is None:
        raise ValueError("this model call ran outside a flow (a @trace function?); only a flow's calls can be replayed")
    node = next((span["attributes"].get(A.NODE_NAME) for span in reversed(path) if span["kind"] == A.SPAN_KIND_NODE), None)
    flow_path = flow["attributes"].get(A.FLOW_PATH) or document.get("flow_path")
    if not flow_path or not Path(flow_path).exists():
        raise ValueError(f"the flow this call ran in ({flow_path or 'unknown'}) is not on disk any more")
    return {"path": flow_path, "node": node, "flow_inputs": flow["content"].get("inputs"),
            "outputs": recorded_outputs(_walk(flow)), "model": model, "of": f"{document['trace_id']}/{span_id}",
            "original": side(call)}


async def replay_call(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _arguments(args)
    model = arguments.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise JsonRpcInvalidParams(f"{REPLAY_CALL}: `model` must be a model or deployment name")
    root = traces._root_of(ls, arguments)
    try:
        document = await ls.run_cpu(traces.find_trace, root, {"trace_id": arguments["trace_id"]})
        job = plan(document, arguments["span_id"], model.strip() if model else None)
    except (traces.TraceNotFound, ValueError) as error:
        return {"status": "error", "error": str(error)}
    original = job.pop("original")
    what = job["node"] or Path(job["path"]).name
    jobs = manager(ls)
    with jobs.answering_request():  # shutdown waits for this answer, the stored trace's read included
        return await _answer_replay(ls, jobs, root, job, what, original, arguments["span_id"])


async def _answer_replay(ls: PromptwiseServer, jobs, root, job: dict, what: str, original: dict, span_id: str) -> dict:
    result = await jobs.start("replay", job, f"Replay {what}", None)
    if result.get("status") == "error" or not result.get("trace_id"):
        return {"status": "error", "error": result.get("error") or "the replay stopped without an answer"}
    replayed = None
    deadline = asyncio.get_running_loop().time() + STORED_WAIT_SECONDS
    while replayed is None:
        try:
            replayed = await ls.run_cpu(traces.find_trace, root, {"trace_id": result["trace_id"]})
        except traces.TraceNotFound:
            if asyncio.get_running_loop().time() > deadline:
                return {"status": "error", "error": f"the replay ran (trace {result['trace_id']}) but its trace was "
                                                    f"not stored; is tracing off in promptwise.yaml?"}
            await asyncio.sleep(0.2)
    call = next((span for span in _walk(replayed["spans"][0]) if span["kind"] == A.SPAN_KIND_LLM), None) \
        if replayed["spans"] else None
    if call is None:
        return {"status": "error", "error": f"the replay's trace {result['trace_id']} has no model call"}
    return {"status": "ok", "span_id": span_id, "node": job["node"], "template": what,
            "trace_id": result["trace_id"], "original": original, "replay": side(call)}


def chat_models(path: Path, catalog_file: str | None) -> list[dict]:
    """In the executor: the workspace's deployments, then the catalog's chat models, with prices."""
    from promptwise.lsp.costs import workspace_catalog

    _, catalog = workspace_catalog(path, catalog_file)
    found = [{"name": name, "detail": f"deployment of {target}"} for name, target in sorted(catalog.deployments.items())]
    found += [{"name": name, "detail": f"{model.provider} · ${model.input_per_1m:g} in / ${model.output_per_1m:g} out "
                                       f"per 1M tokens"}
              for name, model in sorted(catalog.models.items()) if model.family == "chat"]
    return found


async def replay_models(ls: PromptwiseServer, *args: Any) -> list[dict]:
    arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
    root = traces._root_of(ls, arguments)
    return await ls.run_cpu(chat_models, root, ls.settings.catalog_file)
