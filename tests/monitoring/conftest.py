"""A workspace with a span store filled through the store's own writer (SpanStore.write)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from promptwise import span_attributes as A
from promptwise.tracing.store import SpanRecord, SpanStore

_ids = itertools.count(1)


def request(*, flow: str = "triage", duration_ms: float = 100.0, age_s: float = 60.0, status: str = "ok",
            consumer: str | None = "billing", version: str | None = "v1", streamed_ttft_ms: float | None = None,
            cost: float | None = 0.001, input_tokens: int = 100, output_tokens: int = 10, cache_hit: bool = False,
            inputs: dict | None = None, outputs: dict | None = None, run_id: str | None = None,
            now_ns: int | None = None) -> list[SpanRecord]:
    """The spans of one served request (request root, flow child, model call), or of a batch
    row (flow root + model call) when `run_id` is given."""
    n = next(_ids)
    trace_id, root_id = f"{n:032x}", f"{n:016x}"
    start = (now_ns or time.time_ns()) - int(age_s * 1e9)
    end = start + int(duration_ms * 1e6)
    common = {A.FLOW_NAME: flow, A.FLOW_CONTENT_HASH: "c0ffee" * 8}
    root_attributes = {**common, A.SPAN_KIND: A.SPAN_KIND_FLOW if run_id else A.SPAN_KIND_REQUEST}
    if run_id:
        root_attributes[A.RUN_ID] = run_id
    else:
        if consumer:
            root_attributes[A.CONSUMER] = consumer
        if version:
            root_attributes[A.VERSION_ID] = version
    if streamed_ttft_ms is not None:
        root_attributes.update({A.STREAMED: True, A.TIME_TO_FIRST_TOKEN_MS: streamed_ttft_ms})
    if status == "error":
        root_attributes[A.ERROR_TYPE] = "ValueError"
    spans = [SpanRecord(trace_id, root_id, None, "POST /score", start, end, status=status,
                        attributes=root_attributes, is_root=True)]
    parent = root_id
    if not run_id:
        flow_attributes = {**common, A.SPAN_KIND: A.SPAN_KIND_FLOW}
        parent = f"{n + 10**9:016x}"
        spans.append(SpanRecord(trace_id, parent, root_id, flow, start + 1, end - 1, status=status,
                                attributes=flow_attributes))
    flow_span = spans[-1]
    if inputs is not None:
        flow_span.attributes[A.FLOW_INPUTS] = json.dumps(inputs)
    if outputs is not None:
        flow_span.attributes[A.FLOW_OUTPUTS] = json.dumps(outputs)
    llm = {A.SPAN_KIND: A.SPAN_KIND_LLM, A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
           A.GEN_AI_USAGE_INPUT_TOKENS: input_tokens, A.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
           A.CACHE_HIT: cache_hit}
    if cost is not None:
        llm[A.COST_USD] = cost
    spans.append(SpanRecord(trace_id, f"{n + 2 * 10**9:016x}", parent, "chat", start + 2, end - 2, status="ok",
                            attributes=llm))
    return spans


@pytest.fixture
def workspace(tmp_path: Path):
    """(root, write): write(list of request() results) stores them in the workspace's span store."""
    (tmp_path / "promptwise.yaml").write_text("{}\n", encoding="utf-8")

    def write(requests: list[list[SpanRecord]]) -> None:
        store = SpanStore.for_workspace(tmp_path)
        try:
            store.write([span for spans in requests for span in spans])
        finally:
            store.close()

    return tmp_path, write


@pytest.fixture(name="request_spans")
def request_spans_fixture():
    """request(): the spans of one served request or batch row (see `request` above)."""
    return request
