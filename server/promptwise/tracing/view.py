"""Traces as documents for people and viewers: the JSON of `promptwise traces show --format json`
(and of the editor's trace view), built from what the span store returns.

    {trace_id, name, kind, status, error_type, start (ISO), start_ns, duration_ms, flow, flow_path,
     content_hash, version, consumer, run_id, row_index, service,
     totals: {spans, llm_calls, cache_hits, input_tokens, output_tokens, cost_usd},
     spans: [ {span_id, parent_id, name, kind, status, error_type, error_message,
               start_ns, offset_ms (from the trace's start), duration_ms,
               model, input_tokens, output_tokens, cost_usd, cache_hit, attempts,
               subtree: {llm_calls, input_tokens, output_tokens, cost_usd},   # this span and below
               content: {input_messages, output_messages, inputs, output, ...} (decoded JSON),
               attributes: {every other attribute}, events: [...],
               children: [...same shape...]} ]}

`spans` holds the roots of the span tree (one, unless a parent span was never stored);
children are in start order, so a waterfall is a depth-first walk.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from promptwise import span_attributes as A

# Content attributes under the short names a viewer uses.
CONTENT_KEYS = {
    A.GEN_AI_INPUT_MESSAGES: "input_messages", A.GEN_AI_OUTPUT_MESSAGES: "output_messages",
    A.FLOW_INPUTS: "inputs", A.FLOW_OUTPUTS: "output", A.NODE_INPUTS: "inputs", A.NODE_OUTPUT: "output",
    A.FUNCTION_INPUTS: "inputs", A.FUNCTION_OUTPUT: "output", A.GEN_AI_EVALUATION_EXPLANATION: "explanation",
}

SUMMARY_FIELDS = ("trace_id", "name", "kind", "status", "error_type", "duration_ms", "flow", "flow_path",
                  "content_hash", "version", "consumer", "run_id", "row_index", "service")


def iso_time(ns: int | None) -> str | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary_document(row: dict) -> dict:
    """One trace's summary (a `traces list` entry)."""
    document = {key: row.get(key) for key in SUMMARY_FIELDS}
    document["start"] = iso_time(row.get("start_ns"))
    document["start_ns"] = row.get("start_ns")
    document["totals"] = {"spans": row.get("span_count") or 0, "llm_calls": row.get("llm_calls") or 0,
                          "cache_hits": row.get("cache_hits") or 0, "input_tokens": row.get("input_tokens") or 0,
                          "output_tokens": row.get("output_tokens") or 0, "cost_usd": row.get("cost_usd")}
    return document


def trace_document(trace: dict) -> dict:
    """A trace with its span tree (see the module docstring for the shape)."""
    document = summary_document(trace)
    origin = trace.get("start_ns") or min((s["start_ns"] for s in trace["spans"]), default=0)
    nodes = {span["span_id"]: _span_document(span, origin) for span in trace["spans"]}
    roots = []
    for span in trace["spans"]:  # in start order: children lists come out in start order too
        node = nodes[span["span_id"]]
        parent = nodes.get(span.get("parent_id") or "")
        (parent["children"] if parent is not None else roots).append(node)
    for root in roots:
        _add_subtree(root)
    document["spans"] = roots
    return document


def _span_document(span: dict, origin: int) -> dict:
    attributes = dict(span.get("attributes") or {})
    content = {}
    for attribute, key in CONTENT_KEYS.items():
        if attribute in attributes:
            content[key] = _decoded(attributes.pop(attribute))
    llm = span.get("kind") == A.SPAN_KIND_LLM
    return {
        "span_id": span["span_id"], "parent_id": span.get("parent_id"), "name": span["name"], "kind": span.get("kind"),
        "status": span.get("status"), "error_type": span.get("error_type"), "error_message": span.get("error_message"),
        "start_ns": span["start_ns"], "offset_ms": round((span["start_ns"] - origin) / 1e6, 3),
        "duration_ms": round((span["end_ns"] - span["start_ns"]) / 1e6, 3),
        "model": span.get("model"), "input_tokens": span.get("input_tokens"), "output_tokens": span.get("output_tokens"),
        "cost_usd": span.get("cost_usd"), "cache_hit": attributes.get(A.CACHE_HIT) if llm else None,
        "attempts": attributes.get(A.ATTEMPTS) if llm else None,
        "content": content, "attributes": attributes, "events": span.get("events") or [], "children": [],
    }


def _add_subtree(node: dict) -> dict:
    """Totals of the model calls at and below `node` (iterative: a deep tree must not recurse)."""
    order, stack = [], [node]
    while stack:
        current = stack.pop()
        order.append(current)
        stack.extend(current["children"])
    for current in reversed(order):  # children before parents
        llm = current["kind"] == A.SPAN_KIND_LLM
        totals = {"llm_calls": 1 if llm else 0, "input_tokens": (current["input_tokens"] or 0) if llm else 0,
                  "output_tokens": (current["output_tokens"] or 0) if llm else 0,
                  "cost_usd": current["cost_usd"] if llm else None}
        for child in current["children"]:
            sub = child["subtree"]
            totals["llm_calls"] += sub["llm_calls"]
            totals["input_tokens"] += sub["input_tokens"]
            totals["output_tokens"] += sub["output_tokens"]
            if sub["cost_usd"] is not None:
                totals["cost_usd"] = (totals["cost_usd"] or 0.0) + sub["cost_usd"]
        current["subtree"] = totals
    return node


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:  # clipped content is no longer JSON: show it as text
        return value


def message_text(message: dict) -> str:
    """One GenAI-convention message as plain text (for `traces show`)."""
    pieces = []
    for part in message.get("parts") or []:
        kind = part.get("type")
        if kind == "text":
            pieces.append(str(part.get("content") or ""))
        elif kind == "tool_call":
            pieces.append(f"[tool call {part.get('name')}({part.get('arguments') or ''})]")
        elif kind == "tool_call_response":
            pieces.append(f"[tool result {part.get('response')}]")
        else:
            pieces.append(f"[{kind}]")
    return " ".join(pieces)
