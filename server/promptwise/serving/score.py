"""`POST /score`: Prompt flow's serving contract.

JSON object of inputs in, JSON object of outputs out (200). With `Accept: text/event-stream`
and an output that streams, Server-Sent Events in Prompt flow's order: `data: {...}\n\n`
events, each a JSON object whose keys are output names; first one event with the outputs that
do not stream (when there are any), then one event per chunk of the streamed output
(`{"answer": "Hel"}`, `{"answer": "lo"}`). What streams:
- a prompty's reply, or a DAG's llm node output, as the model writes it. When that output is
  the flow's only one, chunks go out as they arrive; when the flow has other outputs they must
  come first, and they are known only when the flow ends, so the chunks are held until then
  (Prompt flow, too, sends nothing before its other outputs are ready);
- a generator (or async generator) output of a python node or a flex flow's entry, at the end
  of the run, item by item as the generator yields them (a sync one is read in a thread).
A failure after the stream has started is a last event `data: {"error": {...}}`. A client that
accepts only JSON gets a generator's items joined into one string, as Prompt flow does.

Accept (Prompt flow's rules, serving/streaming.py `accepted`): events only for a client naming
text/event-stream; JSON for application/json, application/* or */* (or no Accept); a client that
takes neither (text/plain, text/html, image/png ...) is answered 406 NotAcceptable, before the
flow runs. Two differences, both answers pf gives to no working client: a client that takes
events only gets a flow with nothing to stream as one event of its outputs (pf: 406 after
running it); and when several outputs are generators, the first (in the flow's output order)
streams and the others are joined into the first event (pf: 400 "Multiple stream output fields
not supported", after running the flow), in the event grammar pf clients parse.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from promptwise.serving.errors import ServeError, error_body, error_response, safe_message
from promptwise.serving.streaming import (
    EventStream,
    TokenStream,
    first_token_sent,
    is_stream,
    items,
    join,
    stream_run,
    accepted,
    not_acceptable,
    to_json,
)


def endpoint(serving):
    async def score(request: Request) -> Response:
        return await serving.respond(request, "/score", lambda flow_request: _answer(serving, request, flow_request))

    return score


async def _answer(serving, request: Request, flow_request) -> Response:
    events, json_ok = accepted(request)
    if not (events or json_ok):  # before the run: pf runs the flow, then answers 406
        raise not_acceptable(request)
    flow = flow_request.choice.flow
    single = next(iter(flow.input_specs)) if len(flow.input_specs) == 1 else None
    try:
        given = await serving.read_json(request, flow_request, text_input=single,
                                        empty=None if flow.input_specs else {})
    except ServeError as error:
        if flow.input_specs or error.kind != "bad_request" or flow_request.cancelled:
            raise
        given = {}  # a flow without inputs ignores what it is sent (not JSON, too), as Prompt flow does
    inputs = serving.bind(flow, given, flow_request)
    stream_field = flow.stream_field() if events else None
    if stream_field is not None:
        return _event_stream(serving, flow, inputs, flow_request, stream_field)
    outcome = await serving.run_connected(request, flow, inputs, flow_request)  # cancelled if the client leaves
    outputs = outcome.outputs or {}
    if events and (not json_ok or any(is_stream(value) for value in outputs.values())):
        # a python node's or entry's generator; or a client that takes events only: its outputs as
        # one event (pf answers it 406 after the run, an answer no pf client can have relied on)
        return _event_stream(serving, flow, inputs, flow_request, None, outcome)
    outputs = await _joined(flow.answered(outputs), flow)  # a generator output, and the client did not ask for events
    answer = outputs.get("output") if _returned_as_is(flow, outcome) else outputs
    return FinishingResponse(to_json(answer), serving.headers(flow_request), lambda: serving.finish(flow_request))


class FinishingResponse(Response):
    """A JSON answer (/score, /v1/chat/completions) that finishes its request (metrics, metering,
    the request span, the access log line: `ServingApp.finish`, 50-80 µs) once the answer has been
    handed to the server, which writes it to the socket at once: the client no longer waits for
    that bookkeeping. In a
    `finally`, so a request whose answer could not be sent is finished too; and inside the ASGI
    call, so a graceful drain (uvicorn waits for the calls in flight) still finishes every
    request before the traces are flushed."""

    def __init__(self, body: bytes | str, headers: dict, finish) -> None:
        super().__init__(body, media_type="application/json", headers=headers)
        self._finish = finish

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._finish()


def _returned_as_is(flow, outcome) -> bool:
    """Prompt flow answers what a flex flow's entry or a prompty returned when it is not a dict
    ("HEY", 3, [...], a generator's joined text, a prompty's reply) as that JSON value, not as
    {"output": ...} (FlowInvoker's response_original_value: a prompty runs as an eager flow).
    Its events are still {"output": piece}, as pf streams them."""
    return flow.executable.kind in ("flex_flow", "prompty") and not any(
        isinstance(value, dict) for value in outcome.node_outputs.values())


async def _joined(outputs: dict, flow, skip: str | None = None) -> dict:
    """The outputs with each generator (but `skip`) read to its end and joined into one string."""
    streams = [k for k, v in outputs.items() if k != skip and is_stream(v)]
    if not streams:
        return outputs
    try:
        return {**outputs, **{k: await join(outputs[k]) for k in streams}}
    except Exception as error:  # noqa: BLE001 - the user's generator failed
        raise ServeError("flow_error", safe_message(f"output `{streams[0]}`: {type(error).__name__}: {error}",
                                                    *flow.folders)) from None


def _event(data: dict) -> bytes:
    return f"data: {to_json(data)}\n\n".encode("utf-8")


def _event_stream(serving, flow, inputs: dict, flow_request, field: str | None, outcome=None) -> Response:
    """Events for a run whose `field` the model streams (run here), or for the finished
    `outcome` of a run that returned a generator (field None)."""
    flow_request.streamed = True
    # Chunks go out as written only when no other output has to come first.
    live = field is not None and len(set(flow.output_names) - flow.evaluation_only) <= 1

    async def finished():
        if outcome is not None:
            yield "done", outcome
            return
        async for step in stream_run(serving, flow, inputs, flow_request, TokenStream(flow.stream_nodes(field))):
            yield step

    def piece(name: str, value) -> bytes:
        """An event with a piece of the streamed output: the first one is the client's first token."""
        first_token_sent(serving, flow_request)
        return _event({name: value})

    async def events():
        held: list[str] = []
        sent_any = False
        current = field
        try:
            async for kind, value in finished():
                if kind == "delta":
                    if live:
                        sent_any = True
                        yield piece(field, value)
                    else:
                        held.append(value)
                    continue
                outputs = dict(flow.answered(value.outputs or {}))  # the finished row
                generated = next((k for k, v in outputs.items() if is_stream(v)), None)
                current = generated or field
                streamed = outputs.pop(current, None)
                outputs = await _joined(outputs, flow)  # a second generator: Prompt flow streams only one
                if outputs:
                    yield _event(outputs)
                if is_stream(streamed):
                    async for chunk in items(streamed):
                        yield piece(current, chunk)
                elif held:
                    for chunk in held:
                        yield piece(current, chunk)
                elif not sent_any and streamed is not None:  # not streamed by the model (a cache hit)
                    yield piece(current, streamed)
        except ServeError as error:
            if not stream.began:  # nothing sent yet: answered with its own status (EventStream)
                serving.fail(flow_request, error)
                raise
            flow_request.failed_with(error)
            yield _event(error_body(error.kind, error.message, flow_request.request_id))
        except asyncio.CancelledError:
            flow_request.cancelled = True  # the client went away: the model call is cancelled with us
            raise
        except Exception as error:  # noqa: BLE001 - a user generator failing mid-stream
            flow_request.status = 500
            flow_request.error_kind = "flow_error"
            message = safe_message(f"output `{current}`: {type(error).__name__}: {error}", *flow.folders)
            yield _event(error_body("flow_error", message, flow_request.request_id))
        finally:
            serving.finish(flow_request)

    stream = EventStream(events(), serving, flow_request, serving.headers(flow_request), refuse=error_response)
    return stream
