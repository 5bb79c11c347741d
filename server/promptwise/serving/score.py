"""`POST /score`: Prompt flow's serving contract.

JSON object of inputs in, JSON object of outputs out (200). With `Accept: text/event-stream`
and an output that streams, Server-Sent Events as Prompt flow sends them: `data: {...}\\n\\n`
events, each a JSON object whose keys are output names; the streamed output arrives as one
event per chunk (`{"answer": "Hel"}`, `{"answer": "lo"}`) and the other outputs in one event.
That event comes last (Prompt flow sends it first): here the reply streams while the flow still
runs, so its other outputs are known only at the end; clients that merge the events' objects, as
Prompt flow's do, see the same result. A failure after the stream has started is a last event
`data: {"error": {...}}`.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from promptwise.serving.errors import ServeError, error_body, safe_message
from promptwise.serving.streaming import (
    EventStream,
    TokenStream,
    is_stream,
    items,
    join,
    stream_run,
    to_json,
    wants_event_stream,
)


def endpoint(serving):
    async def score(request: Request) -> Response:
        return await serving.respond(request, "/score", lambda flow_request: _answer(serving, request, flow_request))

    return score


async def _answer(serving, request: Request, flow_request) -> Response:
    flow = flow_request.choice.flow
    single = next(iter(flow.input_specs)) if len(flow.input_specs) == 1 else None
    given = await serving.read_json(request, flow_request, text_input=single,
                                    empty=None if flow.input_specs else {})
    inputs = serving.bind(flow, given, flow_request)
    stream_field = flow.stream_field() if wants_event_stream(request) else None
    if stream_field is not None:
        return _event_stream(serving, flow, inputs, flow_request, stream_field)
    outcome = await serving.run(flow, inputs, flow_request)
    outputs = outcome.outputs or {}
    stream_fields = [k for k, v in outputs.items() if is_stream(v)]
    if stream_fields:  # a generator output, and the client did not ask for events: join it
        try:
            outputs = {**outputs, **{k: await join(outputs[k]) for k in stream_fields}}
        except Exception as error:  # noqa: BLE001 - the user's generator failed
            raise ServeError("flow_error", safe_message(f"output `{stream_fields[0]}`: {type(error).__name__}: "
                                                        f"{error}", *flow.folders)) from None
    serving.finish(flow_request)
    return Response(to_json(outputs), media_type="application/json", headers=serving.headers(flow_request))


def _event(data: dict) -> bytes:
    return f"data: {to_json(data)}\n\n".encode("utf-8")


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
                if is_stream(streamed):  # a generator output: stream its items now
                    async for chunk in items(streamed):
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
            message = safe_message(f"output `{field}`: {type(error).__name__}: {error}", *flow.folders)
            yield _event(error_body("flow_error", message, flow_request.request_id))
        finally:
            serving.finish(flow_request)

    return EventStream(events(), serving, flow_request, serving.headers(flow_request))
