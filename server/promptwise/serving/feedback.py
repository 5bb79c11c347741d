"""`POST /feedback`: a caller's feedback on an answer, recorded in that answer's trace.

What pf flow serve does (promptflow 1.18, core/_serving/v1/app.py `feedback`): the body, any
text, becomes the attribute `feedback` of a span named `promptflow-feedback`, whose parent is the
caller's W3C `traceparent` (the one it sent with its /score request, so the feedback lands in
that request's trace); `?flatten=true` also sets each top-level key of a JSON body as an
attribute of its own; the answer is 200 `{"status": "Feedback received."}`.

Ours records the same span (kind `feedback`, tracing/attributes.py) in the trace store, so
`promptwise traces show` and the editor's trace view show it inside the request's trace, and
over OTLP when export is on. Where we differ, and why:
- `?request_id=ID` (the `x-request-id` of the answer, or an error answer's `id`) names the
  request without a traceparent: clients that never made one can still give feedback. The
  request's span is looked up in the trace store (its writer is a moment behind the answer: we
  wait up to FIND_SECONDS); an id no trace has is 404, not a feedback recorded nowhere.
- `feedback` is content: the PII policy, store encryption and `tracing.capture_content: false`
  govern it as they govern prompts. `flatten` sets only number and boolean fields as their own
  attributes (a rating, a thumbs-up: what a dashboard charts, and no personal data); text stays
  in `feedback`. A key in the span schema's own namespaces (promptwise., gen_ai., http., url.,
  server., error.) is never set from a body. pf also copies W3C baggage entries; we do not
  (values of the caller's choosing outside any policy).
- The server's API keys, rate limits and body size limit apply as on /score. With tracing off
  (`serve --no-trace` or `tracing.enabled: false`) the answer is 503 saying so, not a 200 for
  feedback kept nowhere.
- The feedback span is a root only of a trace the store does not know. In a trace we served it is
  a child of the request's span (pf makes it a sibling, under the caller's span: the same trace,
  and a tree with one root to read), never taking over the trace's summary (name, status, duration).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from promptwise.serving.errors import ServeError, error_response

access_log = logging.getLogger("promptwise.serve.access")

ROUTE = "/feedback"
RECEIVED = {"status": "Feedback received."}  # pf's answer, word for word: its clients may compare it
FIND_SECONDS = 3.0  # how long a request id is looked for in the trace store (its writer flushes every ~0.5 s)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # OTLP's int_value
# Span attribute namespaces a feedback body never writes into (the trace schema's own).
RESERVED_PREFIXES = ("promptwise.", "gen_ai.", "http.", "url.", "server.", "error.", "network.", "user_agent.",
                     "service.", "otel.")


def endpoint(serving):
    async def feedback(request: Request) -> Response:
        from promptwise.serving.app import request_id_of

        request_id = request_id_of(request)
        consumer, status, error = "unknown", 200, None
        try:
            consumer = serving.authenticate(request)
            if serving.tracer is None or not _tracing_enabled():
                raise ServeError("unavailable", "feedback is recorded in traces, and this server runs without them "
                                                "(serve --no-trace, or tracing.enabled: false in promptwise.yaml)")
            wait = await serving.rate_check(consumer)
            if wait is not None:
                raise ServeError("rate_limited", f"consumer `{consumer}` is over its rate limit; retry after "
                                                 f"{math.ceil(wait)} s", retry_after=wait)
            body = (await serving.read_body(request)).decode("utf-8", errors="replace")
            about = request.query_params.get("request_id") or None
            parent = await _parent(serving, request, about)
            _record(serving, body, consumer, parent, about,
                    flatten=request.query_params.get("flatten", "false").lower() == "true")
        except ServeError as failed:
            status, error = failed.status, failed
        _log(serving, request_id, consumer, status, error)
        headers = {"x-request-id": request_id}
        if error is not None:
            return error_response(error, request_id, headers)
        return JSONResponse(RECEIVED, headers=headers)

    return feedback


def _tracing_enabled() -> bool:
    from promptwise import tracing

    return tracing.is_enabled()


async def _parent(serving, request: Request, about: str | None):
    """The OTel context the feedback span starts in: under the named request's span, or the
    caller's traceparent (a child there when the store knows that trace), or a trace of its own."""
    from promptwise.serving.app import _caller_context

    store_root = _store_root(serving)
    if about is not None:
        if store_root is None:
            raise ServeError("not_found", "this server keeps no trace store to find a request id in; send the "
                                          "request's `traceparent` header instead")
        found = await _find_request(store_root, about)
        if found is None:
            raise ServeError("not_found", f"no served request with id `{about}` in the trace store (its trace may "
                                          f"be past tracing.retention_days, or the id is mistyped); the id is the "
                                          f"answer's x-request-id header")
        return _local_parent(*found)
    caller = _caller_context(request.headers) if "traceparent" in request.headers else None
    if caller is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span(caller).get_span_context()
    root = await asyncio.to_thread(_root_of, store_root, format(context.trace_id, "032x")) if store_root else None
    if root is not None:  # a trace we served: the feedback goes under its request's span
        return _local_parent(context.trace_id, root, context.trace_flags)
    return caller


def _local_parent(trace_id: int, span_id: int, flags=None):
    """A context whose span is (trace_id, span_id), marked local: the store takes a span with a
    remote parent for its trace's root (a continued trace's first span in this process), and the
    feedback must not become the root of a trace that has one."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    flags = flags if flags is not None else TraceFlags(TraceFlags.SAMPLED)
    return trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, span_id, False, flags)))


def _store_root(serving):
    session = serving.flow.session
    return session.workspace.root if session is not None else None


async def _find_request(root, request_id: str) -> tuple[int, int] | None:
    """(trace id, span id) of the served request answered with `request_id`, waiting up to
    FIND_SECONDS for the store's writer to catch up with a request that was just answered."""
    deadline = time.monotonic() + FIND_SECONDS
    while True:
        found = await asyncio.to_thread(_request_span, root, request_id)
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.2)


def _open_store(root):
    from promptwise.tracing.store import SpanStore, store_path

    return SpanStore.for_workspace(root, readonly=True) if store_path(root).exists() else None


def _request_span(root, request_id: str) -> tuple[int, int] | None:
    store = _open_store(root)
    if store is None:
        return None
    try:
        trace_id = store.trace_of_request(request_id)
        trace = store.get_trace(trace_id) if trace_id else None
    finally:
        store.close()
    for span in (trace or {}).get("spans", ()):
        if span["kind"] == "request" and span["attributes"].get("promptwise.request.id") == request_id:
            return int(span["trace_id"], 16), int(span["span_id"], 16)
    return None


def _root_of(root, trace_id: str) -> int | None:
    """The span id of the stored trace's root (the request's span), when the store has it."""
    store = _open_store(root)
    if store is None:
        return None
    try:
        trace = store.get_trace(trace_id)
    finally:
        store.close()
    return int(trace["root_span_id"], 16) if trace is not None and trace.get("root_span_id") else None


def _record(serving, body: str, consumer: str, parent, about: str | None, *, flatten: bool) -> None:
    from opentelemetry import trace

    from promptwise.engine import spans as engine_spans
    from promptwise.tracing import attributes as a

    tracer = engine_spans.current_tracer() or serving.tracer
    flow = serving.router.primary if serving.router is not None else serving.flow
    attributes = {a.SPAN_KIND: a.SPAN_KIND_FEEDBACK, a.FEEDBACK: body, a.CONSUMER: consumer}
    if flow.session is not None:
        attributes[a.FLOW_NAME] = flow.name
        attributes[a.FLOW_CONTENT_HASH] = flow.content_hash
    if about is not None:
        attributes["promptwise.feedback.request_id"] = about
    if flatten:
        attributes.update(flattened(body))
    span = tracer.start_span(a.FEEDBACK_SPAN_NAME, context=parent, kind=trace.SpanKind.INTERNAL,
                             attributes=attributes)
    span.end()


def flattened(body: str) -> dict:
    """`?flatten=true`: a JSON object body's number and boolean fields, each an attribute of its
    own under its key (keys in the span schema's namespaces left out)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items()
            if _attribute_number(value) and key and key != "feedback" and not key.startswith(RESERVED_PREFIXES)}


def _attribute_number(value) -> bool:
    """A bool, a finite float or an int OTLP can carry (int64): a bigger int fails the OTLP
    encoding of the whole export batch it is in, other requests' spans with it."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool) or (isinstance(value, int) and INT64_MIN <= value <= INT64_MAX)


def _log(serving, request_id: str, consumer: str, status: int, error: ServeError | None) -> None:
    from promptwise.serving.routing import label

    version = label(serving.router.primary_version if serving.router else serving.flow.content_hash)
    serving.metrics.series(ROUTE, version, consumer).answered(status)
    if error is not None:
        serving.metrics.errors.labels(ROUTE, version, consumer, error.kind).inc()
    if access_log.isEnabledFor(logging.INFO):
        entry = {"ts": round(time.time(), 3), "id": request_id, "route": ROUTE, "status": status,
                 "consumer": consumer, "version": version, "worker": os.getpid()}
        if error is not None:
            entry["error"] = error.kind
        access_log.info(json.dumps(entry, ensure_ascii=False))
