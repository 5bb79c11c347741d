"""`POST /v1/chat/completions`: a chat flow behind OpenAI's chat completions API.

The last user message goes to the flow's chat input, the earlier user/assistant turns to its
chat history in Prompt flow's shape: a DAG's chat flow turns
(`[{"inputs": {question: ...}, "outputs": {answer: ...}}]`), a prompty's or flex flow's
`{role, content}` messages (pf's chat test gives them so; their templates loop `{{item.role}}`);
other inputs take their defaults (or values from the body's non-standard `inputs` object), and
the chat output comes back as the assistant's message. System messages are the flow's own
business (its template) and are not passed on. With `stream: true` the reply comes as
`chat.completion.chunk` events and `data: [DONE]`, as from OpenAI.

The flow's own prompt and model settings decide how it answers: `model`, `temperature`,
`max_tokens`, `stop`, `seed`, `response_format`... are accepted and left to the flow. What asks
for an answer of another shape than one assistant message is refused (400 naming the field):
`n` > 1, `tools`/`functions` (the flow calls its own tools; the client would wait for tool calls
that never come), `logprobs`. `GET /v1/models` lists the flow under its name.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from promptwise.serving.errors import KINDS, ServeError
from promptwise.serving.score import FinishingResponse
from promptwise.serving.streaming import (
    EventStream,
    TokenStream,
    first_token_sent,
    is_stream,
    items,
    join,
    stream_run,
    to_json,
)

# Our error kinds as OpenAI's error types, so OpenAI clients raise what they would for OpenAI.
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                 413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}


class Unsupported(ServeError):
    """A request field a flow cannot honour (OpenAI's 400 with `param` naming it)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__("bad_request", message)
        self.param = param


def openai_error(error: ServeError, request_id: str, headers: dict | None = None) -> Response:
    headers = dict(headers or {})
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
        headers["retry-after-ms"] = str(int(error.retry_after * 1000))
    body = {"error": {"message": error.message, "type": _OPENAI_TYPES.get(error.status, "server_error"),
                      "param": getattr(error, "param", None), "code": KINDS[error.kind][1], "id": request_id}}
    return Response(json.dumps(body, ensure_ascii=False), status_code=error.status, media_type="application/json",
                    headers=headers)


def _text(content: Any) -> str:
    """A message's content as text (a list of parts keeps its text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    if content is None:
        return ""
    raise ServeError("invalid_input", "a message's `content` must be a string or a list of text parts")


def refuse_unsupported(body: dict) -> None:
    """Unsupported when the body asks for what one run of the flow cannot answer."""
    n = body.get("n")
    if n is not None and n != 1:
        raise Unsupported("n", f"`n` must be 1 (got {json.dumps(n)}): a flow answers one completion per "
                               f"request; send one request per answer")
    for field in ("tools", "functions"):
        if body.get(field):
            raise Unsupported(field, f"`{field}` cannot be given to a served flow: the flow calls its own tools and "
                                     f"answers with one assistant message, never with tool calls; leave `{field}` out")
    choice = body.get("tool_choice", body.get("function_call"))
    if choice not in (None, "none", "auto"):
        raise Unsupported("tool_choice", "`tool_choice` cannot ask a served flow for a tool call; leave it out")
    if body.get("logprobs") or body.get("top_logprobs"):
        param = "logprobs" if body.get("logprobs") else "top_logprobs"
        raise Unsupported(param, f"`{param}` is not available from a served flow; leave it out")


def flow_inputs(body: Any, shape) -> dict:
    """The flow's inputs for an OpenAI request body (ServeError when it is not one)."""
    if not isinstance(body, dict):
        raise ServeError("invalid_input", "the body must be a JSON object with `messages`")
    refuse_unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ServeError("invalid_input", "`messages` must be a non-empty list of {role, content} objects")
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    if not turns or turns[-1].get("role") != "user":
        raise ServeError("invalid_input", "the last message (other than system messages) must be a user message")
    history: list[dict] = []
    pending_user: str | None = None
    if shape.messages:  # a prompty's or flex flow's history: the earlier messages as they are
        history = [{"role": message["role"], "content": _text(message.get("content"))} for message in turns[:-1]]
        turns = turns[-1:]
    for message in turns[:-1]:
        if message["role"] == "user":
            if pending_user is not None:  # two user turns in a row: the first gets an empty answer
                history.append({"inputs": {shape.question: pending_user}, "outputs": {shape.answer: ""}})
            pending_user = _text(message.get("content"))
        else:
            history.append({"inputs": {shape.question: pending_user or ""},
                            "outputs": {shape.answer: _text(message.get("content"))}})
            pending_user = None
    if pending_user is not None:
        history.append({"inputs": {shape.question: pending_user}, "outputs": {shape.answer: ""}})
    extra = body.get("inputs") or {}
    if not isinstance(extra, dict):
        raise ServeError("invalid_input", "`inputs` (other flow inputs) must be an object")
    inputs = {**extra, shape.question: _text(turns[-1].get("content"))}
    if shape.history:
        inputs[shape.history] = history
    return inputs


def models_endpoint(serving):
    """`GET /v1/models`: the flow, the one model this server answers as (OpenAI clients and chat
    UIs list models before they call one)."""
    async def models(request: Request) -> Response:
        request_id = secrets.token_hex(8)
        try:
            serving.authenticate(request)
            if serving.router is None:
                raise ServeError("unavailable", "the flow is not ready", retry_after=5)
        except ServeError as error:
            return openai_error(error, request_id)
        flow = serving.flow
        model = {"id": flow.name, "object": "model", "created": 0, "owned_by": "promptwise"}
        return Response(json.dumps({"object": "list", "data": [model] if flow.chat_shape() else []}),
                        media_type="application/json")

    return models


def _reply(outputs: dict | None, shape) -> Any:
    """The chat output's value; a flex entry that declares no outputs and returns a dict is
    answered with that dict (as JSON text), not with nothing."""
    outputs = outputs or {}
    return outputs[shape.answer] if shape.answer in outputs else (outputs or None)


def _answer_text(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value)


def endpoint(serving):
    async def chat_completions(request: Request) -> Response:
        return await serving.respond(request, "/v1/chat/completions",
                                     lambda flow_request: _answer(serving, request, flow_request), refuse=openai_error)

    return chat_completions


def _how_to_chat(flow) -> str:
    """What makes this kind of flow a chat flow (ServedFlow.chat_shape's rule for it)."""
    if flow.executable.kind == "flow_dag":
        return ("mark the input that takes the user's message `is_chat_input: true` (and the history "
                "`is_chat_history: true`)")
    what = "the prompty" if flow.executable.kind == "prompty" else "the flex flow's entry"
    return (f"give {what} a `chat_history` input beside the one input that takes the user's message (or mark "
            f"them `is_chat_input: true` / `is_chat_history: true`)")


async def _answer(serving, request: Request, flow_request) -> Response:
    flow = flow_request.choice.flow
    shape = flow.chat_shape()
    if shape is None:
        raise ServeError("not_found", f"the flow `{flow.name}` is not a chat flow (no chat input and chat output); "
                                      f"call POST /score instead, or {_how_to_chat(flow)}")
    body = await serving.read_json(request, flow_request)
    given = flow_inputs(body, shape)
    missing = next((name for name, spec in flow.input_specs.items()
                    if name not in given and not getattr(spec, "has_default", False)), None)
    if missing is not None:  # a chat message cannot carry it: say where it goes
        raise ServeError("invalid_input", f"input `{missing}` has no default and no chat message gives it; send it "
                                          f"in the body's `inputs` object: {{\"inputs\": {{\"{missing}\": ...}}}} "
                                          f"(openai client: extra_body={{\"inputs\": {{...}}}})")
    inputs = serving.bind(flow, given, flow_request)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _chunks(serving, flow, inputs, flow_request, shape, include_usage)
    outcome = await serving.run_connected(request, flow, inputs, flow_request)  # cancelled if the client leaves
    answer = _reply(outcome.outputs, shape)
    if is_stream(answer):
        answer = await join(answer)
    completion = {
        "id": f"chatcmpl-{flow_request.request_id}", "object": "chat.completion", "created": int(time.time()),
        "model": flow.name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _answer_text(answer)},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(flow_request),
    }
    # The request's bookkeeping once the answer is sent, as /score's (serving/score.py).
    return FinishingResponse(json.dumps(completion, ensure_ascii=False), serving.headers(flow_request),
                             lambda: serving.finish(flow_request))


def _usage(flow_request) -> dict:
    return {"prompt_tokens": flow_request.prompt_tokens, "completion_tokens": flow_request.completion_tokens,
            "total_tokens": flow_request.prompt_tokens + flow_request.completion_tokens}


def _chunks(serving, flow, inputs: dict, flow_request, shape, include_usage: bool) -> Response:
    flow_request.streamed = True
    created = int(time.time())
    base = {"id": f"chatcmpl-{flow_request.request_id}", "object": "chat.completion.chunk", "created": created,
            "model": flow.name}

    def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode("utf-8")

    async def events():
        sink = TokenStream(flow.stream_nodes(shape.answer))
        sent_any = False
        try:
            async for kind, value in stream_run(serving, flow, inputs, flow_request, sink):
                if not stream.began:  # the role chunk waits for the flow's first step (EventStream)
                    yield chunk({"role": "assistant", "content": ""})
                if kind == "delta":
                    sent_any = True
                    first_token_sent(serving, flow_request)
                    yield chunk({"content": value})
                    continue
                answer = _reply(value.outputs, shape)
                if is_stream(answer):
                    async for piece in items(answer):
                        first_token_sent(serving, flow_request)
                        yield chunk({"content": _answer_text(piece)})
                elif not sent_any and answer is not None:
                    first_token_sent(serving, flow_request)
                    yield chunk({"content": _answer_text(answer)})
            yield chunk({}, "stop")
            if include_usage:
                data = {**base, "choices": [], "usage": _usage(flow_request)}
                yield f"data: {json.dumps(data)}\n\n".encode("utf-8")
        except ServeError as error:
            if not stream.began:  # nothing sent yet: answered with its own status, as OpenAI does
                serving.fail(flow_request, error)
                raise
            flow_request.failed_with(error)
            body = {"error": {"message": error.message, "type": _OPENAI_TYPES.get(error.status, "server_error"),
                              "code": KINDS[error.kind][1], "id": flow_request.request_id}}
            yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode("utf-8")
        except asyncio.CancelledError:
            flow_request.cancelled = True
            raise
        except Exception as error:  # noqa: BLE001 - a user generator failing mid-stream
            flow_request.status = 500
            flow_request.error_kind = "flow_error"
            body = {"error": {"message": f"the flow's output failed: {type(error).__name__}", "type": "server_error",
                              "code": "FlowExecutionError", "id": flow_request.request_id}}
            yield f"data: {json.dumps(body)}\n\n".encode("utf-8")
        finally:
            serving.finish(flow_request)
        yield b"data: [DONE]\n\n"

    stream = EventStream(events(), serving, flow_request, serving.headers(flow_request), refuse=openai_error)
    return stream
