"""Replaying one recorded model call with the prompt as it is now (or another model): the job
the language server's worker runs (`promptwise.lsp.job_worker`, kind `replay`). No pygls here.

The call goes through the engine as in a run: the flow is prepared from the files on disk (the
edited template), the node's inputs are bound by the engine's own rules from what the trace
recorded (the flow's inputs and the upstream nodes' outputs; an llm node's own inputs are not
stored, its prompt is), and the model is called by the engine's provider, traced, uncached.
The replay is a trace of its own, under a `replay` span: it is not a run of the flow, so the
"last run" lenses and run lists do not take it for one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from promptwise import span_attributes as A

REPLAY_KIND = "replay"


class ReplayError(ValueError):
    """The call cannot be replayed; the message says why and what to do."""


def recorded_reply(span: dict) -> Any:
    """A model call's reply as the node output it was: the text of the first output message."""
    messages = (span.get("content") or {}).get("output_messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    texts = [str(part.get("content") or "") for part in messages[0].get("parts") or []
             if isinstance(part, dict) and part.get("type") == "text"]
    return "".join(texts)


def recorded_outputs(spans: list[dict]) -> dict[str, Any]:
    """Each node's output as the trace recorded it (a python node's `output`, an llm node's reply)."""
    outputs: dict[str, Any] = {}
    for span in spans:
        name = (span.get("attributes") or {}).get(A.NODE_NAME)
        if span.get("kind") != A.SPAN_KIND_NODE or not isinstance(name, str):
            continue
        content = span.get("content") or {}
        if "output" in content:
            outputs[name] = content["output"]
        else:
            call = next((child for child in span.get("children") or [] if child.get("kind") == A.SPAN_KIND_LLM), None)
            if call is not None:
                outputs[name] = recorded_reply(call)
    return outputs


async def replay(args: dict, emit: Callable[[dict], None], cancel) -> dict:
    """args: {path, node (None for a prompty), flow_inputs, outputs, model?} -> {trace_id, output}."""
    from opentelemetry import trace

    from promptwise.engine import spans
    from promptwise.engine.runner import open_session

    path = Path(args["path"])
    node = args.get("node")
    model = args.get("model") or None
    flow_inputs = args.get("flow_inputs")
    if not isinstance(flow_inputs, dict):
        raise ReplayError("the trace did not record the flow's inputs (tracing.capture_content is off?): "
                          "nothing to render the prompt with")
    tracer = trace.get_tracer("promptwise.editor")
    async with open_session(path, use_cache=False, concurrency=1) as session:
        executable = session.executable
        with tracer.start_as_current_span(f"replay {node or path.name}", attributes={
                A.SPAN_KIND: REPLAY_KIND, "promptwise.replay.of": str(args.get("of") or "")}) as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            if node is None and getattr(executable, "kind", None) != "prompty":
                raise ReplayError(f"{path.name} is a {getattr(executable, 'kind', 'flex')} flow: a call made inside its "
                                  f"code cannot be re-run alone; replay calls of DAG flows' llm nodes and of prompty files")
            if node is None:  # a prompty: the whole run is its one model call
                if model:
                    executable.model = model
                outcome = await executable.run_line(executable.bind(flow_inputs), session.context)
                if outcome.status != "completed":
                    raise ReplayError(outcome.error or "the call failed")
                return {"trace_id": trace_id, "output": outcome.outputs}
            prepared = getattr(executable, "nodes", {}).get(node)
            if prepared is None:
                raise ReplayError(f"{path.name} has no node `{node}` any more; replay a call of a node that exists")
            if prepared.kind != "llm":
                raise ReplayError(f"node `{node}` is a {prepared.kind} node now, not an llm node")
            outputs = args.get("outputs") or {}
            missing = [dep for dep in prepared.input_deps if dep not in outputs]
            if missing:
                raise ReplayError(f"the trace has no recorded output of `{missing[0]}`, which `{node}` reads")
            values = executable._node_inputs(prepared, executable.bind(flow_inputs), outputs)
            if model:
                values["model" if "model" in values else "deployment_name"] = model
            with spans.node_span(node, "llm", values):
                result = await executable._execute(prepared, values, session.context)
            return {"trace_id": trace_id, "output": result.output}
