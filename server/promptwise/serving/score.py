"""`POST /score`: Prompt flow's serving contract.

JSON object of inputs in, JSON object of outputs out (200). With `Accept: text/event-stream`
and an output that streams, Server-Sent Events as Prompt flow sends them: `data: {...}\\n\\n`
events, each a JSON object whose keys are output names; the streamed output arrives as one
event per chunk (`{"answer": "Hel"}`, `{"answer": "lo"}`) and the other outputs in one event.
A failure after the stream has started is a last event `data: {"error": {...}}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from promptwise.serving.errors import ServeError, error_body, safe_message
from promptwise.serving.streaming import TokenStream, stream_run, wants_event_stream


def endpoint(serving):
    from promptwise.serving.app import _Early
    from promptwise.serving.errors import error_response

    async def score(request: Request) -> Response:
        try:
            flow_request = serving.admit(request, "/score")
        except _Early as early:
            return error_response(early.error, early.request_id)
        flow = flow_request.choice.flow
        try:
            single = next(iter(flow.input_specs)) if len(flow.input_specs) == 1 else None
            given = await serving.read_json(request, flow_request, text_input=single)
            inputs = serving.bind(flow, given, flow_request)
            stream_field = flow.stream_field() if wants_event_stream(request) else None
            if stream_field is not None:
                return _event_stream(serving, flow, inputs, flow_request, stream_field)
            outcome = await serving.run(flow, inputs, flow_request)
        except ServeError as error:
            return serving.fail(flow_request, error)
        except asyncio.CancelledError:
            flow_request.cancelled = True
            serving.finish(flow_request)
            raise
        except BaseException:
            serving.finish(flow_request)
            raise
        outputs = outcome.outputs or {}
        stream_fields = [k for k, v in outputs.items() if _is_stream(v)]
        if stream_fields:  # a generator output, and the client did not ask for events: join it
            try:
                outputs = {**outputs, **{k: await _join(outputs[k]) for k in stream_fields}}
            except Exception as error:  # noqa: BLE001 - the user's generator failed
                return serving.fail(flow_request, ServeError("flow_error", safe_message(
                    f"output `{stream_fields[0]}`: {type(error).__name__}: {error}", flow.path.parent)))
        serving.finish(flow_request)
        body = json.dumps(outputs, ensure_ascii=False, default=str)
        return Response(body, media_type="application/json", headers=serving.headers(flow_request))

    return score


def _is_stream(value: Any) -> bool:
    return isinstance(value, (Iterator, AsyncIterator)) and not isinstance(value, (str, bytes, dict, list))


async def _join(value) -> str:
    parts = []
    async for chunk in _chunks(value):
        parts.append(chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False, default=str))
    return "".join(parts)


async def _chunks(value):
    """The items of a sync or async iterator; a sync one is read in a thread (user code may block)."""
    if isinstance(value, AsyncIterator):
        async for item in value:
            yield item
        return
    done = object()
    while True:
        item = await asyncio.to_thread(next, value, done)
        if item is done:
            return
        yield item


def _event(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode("utf-8")


def _event_stream(serving, flow, inputs: dict, flow_request, field: str) -> Response:
    flow_request.streamed = True

    async def events():
        tokens = TokenStream(flow.stream_nodes(field))
        sent_any = False
        try:
            async for kind, value in stream_run(serving, flow, inputs, flow_request, tokens):
                if kind == "delta":
                    sent_any = True
                    yield _event({field: value})
                    continue
                outcome = value  # the finished row
                outputs = dict(outcome.outputs or {})
                streamed = outputs.pop(field, None)
                if _is_stream(streamed):  # a generator output: stream its items now
                    async for chunk in _chunks(streamed):
                        yield _event({field: chunk})
                elif not sent_any and streamed is not None:  # not streamed by the model (a cache hit)
                    yield _event({field: streamed})
                if outputs:
                    yield _event(outputs)
        except ServeError as error:
            flow_request.status = error.status
            flow_request.error_kind = error.kind
            yield _event(error_body(error.kind, error.message, flow_request.request_id))
        except asyncio.CancelledError:
            flow_request.cancelled = True  # the client went away: the model call is cancelled with us
            raise
        except Exception as error:  # noqa: BLE001 - a user generator failing mid-stream
            flow_request.status = 500
            flow_request.error_kind = "flow_error"
            message = safe_message(f"output `{field}`: {type(error).__name__}: {error}", flow.path.parent)
            yield _event(error_body("flow_error", message, flow_request.request_id))
        finally:
            serving.finish(flow_request)

    headers = {**serving.headers(flow_request), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
