"""Running a flow while its reply streams: the pieces of text as they come, then the outcome.

Shared by /score (Prompt flow's events) and /v1/chat/completions (OpenAI's chunks). The row
runs in its own task with a `TokenSink` set (engine/streaming.py); when the consumer of the
events goes away (the client disconnected), the task is cancelled and with it the model call.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse

from promptwise.engine import streaming
from promptwise.engine.streaming import TokenSink as TokenStream  # noqa: F401 (the name the routes use)

EVENT_STREAM = "text/event-stream"
# How long a cut stream waits for its cancelled flow to stop (and count what its calls spent).
CANCELLED_FLOW_GRACE_S = 5.0


class EventStream(StreamingResponse):
    """A streamed answer that finishes its request however it ends: a client that leaves before
    the first event means the events' generator never starts, so its own `finally` cannot.

    The status line waits for the first event: a request that fails before anything streams
    (the model endpoint down, a flow error) is answered by `refuse` with its own status (503 and
    Retry-After...) as the JSON answer would be, not 200 and an error event that clients' retry
    logic cannot see. The events' generator raises ServeError then (when `began` is False)."""

    def __init__(self, events, serving, flow_request, headers: dict, refuse=None) -> None:
        super().__init__(events, media_type=EVENT_STREAM,
                         headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._serving = serving
        self._flow_request = flow_request
        self._refuse = refuse
        self.began = False  # the first event is out of the generator: later failures are events

    async def __call__(self, scope, receive, send) -> None:
        try:
            if self._refuse is not None:
                from promptwise.serving.errors import ServeError

                try:
                    first = await self._first_event(receive)
                except ServeError as error:
                    flow_request = self._flow_request
                    await self._refuse(error, flow_request.request_id,
                                       self._serving.headers(flow_request))(scope, receive, send)
                    return
                if first is None:  # the client left while the flow ran
                    return
                self.body_iterator = _chain(first, self.body_iterator)
            await super().__call__(scope, receive, send)
        finally:
            if not self._flow_request.finished:
                self._flow_request.cancelled = True
                self._serving.finish(self._flow_request)

    async def _first_event(self, receive):
        """The generator's first event, or None when the client disconnects first (the
        generator is then cancelled, and with it the flow and its model call)."""
        events = self.body_iterator
        first = asyncio.ensure_future(events.__anext__())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((first, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not first.done():
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            await events.aclose()
            return None
        try:
            item = first.result()
        except StopAsyncIteration:
            return b""
        self.began = True
        return item


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _chain(first, rest):
    if first:
        yield first
    async for item in rest:
        yield item


# The media types that take a JSON answer (Prompt flow's ACCEPT_JSON, response_creator.py).
ACCEPT_JSON = frozenset({"application/json", "application/*", "*/*"})


def accepted(request: Request) -> tuple[bool, bool]:
    """(events, json): what the client's Accept header(s) take, by Prompt flow's rules
    (core/_serving/response_creator.py): events only when text/event-stream is named explicitly
    (not for */* or text/*); JSON for application/json, application/* or */*; no Accept header
    (or an empty one) is */*. Like pf we read media types, not q-values. Unlike pf, media types
    match whatever their case (RFC 9110 makes them case-insensitive; pf answers 406 to
    `TEXT/EVENT-STREAM`)."""
    values = [value for key, value in request.headers.raw if key == b"accept"]  # no decoding of the others
    if not values:
        return False, True
    return _accepted(values[0] if len(values) == 1 else b",".join(values))


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct headers; bounded all the same
def _accepted(header: bytes) -> tuple[bool, bool]:
    types = {part.split(";", 1)[0].strip().lower() for part in header.decode("latin-1").split(",")}
    types.discard("")
    if not types:
        return False, True
    return EVENT_STREAM in types, not types.isdisjoint(ACCEPT_JSON)


def not_acceptable(request: Request):
    """The 406 for a client that takes neither JSON nor events (Prompt flow's NotAcceptable)."""
    from promptwise.serving.errors import ServeError

    named = ", ".join(request.headers.getlist("accept"))
    named = named if len(named) <= 200 else named[:197] + "..."
    return ServeError("not_acceptable", f"the Accept header ({named}) names no media type this route answers with: "
                                        f"it answers application/json, and text/event-stream when the flow's output "
                                        f"streams; accept one of them (or */*)")


async def stream_run(serving, flow, inputs: dict, flow_request, sink) -> AsyncIterator[tuple[str, object]]:
    """Yields ("delta", text) while the model writes, then ("done", outcome). Raises ServeError as
    `serving.run` does."""
    token = streaming.active.set(sink)
    try:
        task = asyncio.create_task(serving.run(flow, inputs, flow_request))  # the task copies the sink
    finally:
        streaming.active.reset(token)
    try:
        while not task.done():
            getter = asyncio.ensure_future(sink.queue.get())
            try:
                await asyncio.wait((getter, task), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                yield "delta", getter.result()
        while not sink.queue.empty():
            yield "delta", sink.queue.get_nowait()
        if sink.first_token_at is not None and flow_request.span is not None:
            from promptwise.tracing import attributes as a

            # When the model wrote its first token; the client may get it later (first_token_sent).
            flow_request.span.set_attribute(a.MODEL_TIME_TO_FIRST_TOKEN_MS,
                                            round((sink.first_token_at - flow_request.started) * 1000, 1))
        yield "done", task.result()
    finally:
        if not task.done():
            task.cancel()  # the client went away: stop the flow and its model call
            # Shielded: starlette's disconnect scope cancels every await of ours at once, and the
            # request would finish (metered) before the task counted what its cut calls spent.
            # Bounded: a flow whose own code swallows the cancel must not hold the request (and a
            # SIGTERM drain) for ever; after the grace the request finishes with what was counted.
            # (asyncio.wait, not gather: a cancelled gather still waits for its stubborn task.)
            with anyio.CancelScope(shield=True):
                await asyncio.wait({task}, timeout=CANCELLED_FLOW_GRACE_S)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: its client has gone, there is no one left to tell


def first_token_sent(serving, flow_request) -> None:
    """The time to first token as the client sees it: from admission to the first piece of the
    streamed answer leaving the server (the metric, and the span's attribute monitor reads). A
    DAG whose llm output must follow its other outputs holds the model's tokens until the flow
    ends: its clients' first token is that late, whenever the model wrote it. Once per request."""
    if flow_request.first_token_ms is not None:
        return
    from promptwise.serving.routing import label

    seconds = time.perf_counter() - flow_request.started
    flow_request.first_token_ms = round(seconds * 1000, 1)
    serving.metrics.time_to_first_token.labels(flow_request.route, label(flow_request.choice.version),
                                               flow_request.consumer).observe(seconds)
    if flow_request.span is not None:
        from promptwise.tracing import attributes as a

        flow_request.span.set_attribute(a.TIME_TO_FIRST_TOKEN_MS, flow_request.first_token_ms)


def is_stream(value: Any) -> bool:
    return isinstance(value, (Iterator, AsyncIterator)) and not isinstance(value, (str, bytes, dict, list))


async def join(value) -> str:
    parts = []
    async for chunk in items(value):
        parts.append(chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False, default=str))
    return "".join(parts)


async def items(value):
    """The items of a sync or async iterator; a sync one is read in a thread (user code may block)."""
    if isinstance(value, AsyncIterator):
        async for item in value:
            yield item
        return
    done = object()
    while True:
        item = await asyncio.to_thread(_next, value, done)
        if item is done:
            return
        yield item


def _next(iterator, done):
    """`next` in a thread; a generator's sys.exit() fails its stream, not the server (asyncio would
    re-raise SystemExit out of the event loop)."""
    from promptwise.engine.python_tools import ToolExit, exit_text

    try:
        return next(iterator, done)
    except (SystemExit, KeyboardInterrupt) as error:
        raise ToolExit(exit_text(error)) from None


def to_json(value: Any) -> str:
    """JSON text of a flow's outputs; NaN and infinities (not JSON) become null."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
