"""The OpenAPI 3 document of a served flow, generated from its declared inputs and outputs."""

from __future__ import annotations

import json
from typing import Any

from promptwise.serving.flow import ServedFlow, json_type

_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}, "id": {"type": "string"}}}}}


def _schema(declared: str | None, description: str | None = None, default: Any = None,
            has_default: bool = False) -> dict:
    schema: dict[str, Any] = {}
    kind = json_type(declared)
    if kind:
        schema["type"] = kind
    if description:
        schema["description"] = str(description)
    if has_default and default is not None:
        schema["default"] = default
    return schema


# A sample value's JSON type, for an input known only from a prompty's `sample:` (as Prompt flow
# types such inputs: ValueType.from_value).
_SAMPLE_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
                 (dict, "object"))


def _samples(flow: ServedFlow) -> dict:
    """The flow's sample inputs and defaults (a prompty's `sample:`), as JSON, for the example."""
    try:
        values = {k: v for k, v in flow.executable.sample_inputs().items() if k in flow.input_specs}
        json.dumps(values)
        return values
    except Exception:  # noqa: BLE001 - an unreadable or non-JSON sample: the document goes without
        return {}


def _feedback(errors: dict) -> dict:
    """POST /feedback (serving/feedback.py), described as Prompt flow's swagger describes it, with our
    `request_id` parameter and error answers."""
    query = (("flatten", "boolean", "also record a JSON body's number and boolean fields as attributes of their own"),
             ("request_id", "string", "the answer's x-request-id: the request whose trace gets the feedback "
                                      "(else the `traceparent` header's trace)"))
    return {"post": {
        "summary": "Record feedback on an answer in its trace", "operationId": "feedback",
        "parameters": [{"name": name, "in": "query", "required": False, "description": text, "schema": {"type": kind}}
                       for name, kind, text in query],
        "requestBody": {"required": False, "description": "any text; JSON usually",
                        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": {}}}}},
        "responses": {"200": {"description": "recorded", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"status": {"type": "string"}}}}}},
                      **{code: errors[code] for code in ("401", "413", "429") if code in errors},
                      "404": {"description": "no served request with that request_id in the trace store",
                              "content": {"application/json": {"schema": _ERROR}}},
                      "503": {"description": "the server runs without traces", "content": {
                          "application/json": {"schema": _ERROR}}}}}}


def openapi_document(flow: ServedFlow, *, requires_keys: bool, chat: bool) -> dict:
    specs = flow.input_specs
    samples = _samples(flow)
    inputs = {name: _schema(getattr(spec, "type", None), getattr(spec, "description", None),
                            getattr(spec, "default", None), getattr(spec, "has_default", False))
              for name, spec in specs.items()}
    for name, schema in inputs.items():
        kind = next((kind for python, kind in _SAMPLE_TYPES if isinstance(samples.get(name), python)), None)
        if "type" not in schema and kind:
            schema["type"] = kind
    required = [name for name, spec in specs.items() if not getattr(spec, "has_default", False)]
    request: dict[str, Any] = {"type": "object", "properties": inputs}
    if required:
        request["required"] = required
    body: dict[str, Any] = {"schema": request}
    if samples:
        body["example"] = samples  # Prompt flow's swagger shows its samples.json the same way
    outputs = {name: _schema(declared) for name, declared in flow.output_types().items()}
    answer: dict[str, Any] = {"type": "object", "properties": outputs}
    if not outputs and flow.executable.kind == "prompty" and flow.stream_field() == "output":
        # The reply itself, a JSON string, as pf flow serve answers a prompty (its events: {"output": piece}).
        answer = {"type": "string", "description": "the model's reply"}
    errors = {str(code): {"description": text, "content": {"application/json": {"schema": _ERROR}}}
              for code, text in ((400, "malformed request body"), (401, "missing or unknown API key"),
                                 (406, "the Accept header names neither application/json nor text/event-stream"),
                                 (413, "request body too large"), (422, "inputs missing or of the wrong type"),
                                 (429, "rate limit reached (see Retry-After)"),
                                 (503, "busy or the model endpoint is down (see Retry-After)"),
                                 (504, "the flow took longer than the timeout"))}
    score = {
        "summary": f"Run the {flow.name} flow",
        "operationId": "score",
        "requestBody": {"required": True, "content": {"application/json": body}},
        "responses": {"200": {"description": "the flow's outputs (text/event-stream when asked for and the "
                                             "output streams)",
                              "content": {"application/json": {"schema": answer},
                                          "text/event-stream": {"schema": {"type": "string"}}}},
                      **errors},
    }
    paths: dict[str, Any] = {"/score": {"post": score}}
    if chat:
        paths["/v1/chat/completions"] = {"post": {
            "summary": "OpenAI-compatible chat completions answered by the flow", "operationId": "chatCompletions",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["messages"],
                "properties": {"messages": {"type": "array", "items": {"type": "object"}},
                               "stream": {"type": "boolean"}, "model": {"type": "string"}}}}}},
            "responses": {"200": {"description": "a chat.completion (or chat.completion.chunk events)"}, **errors}}}
        shape = flow.chat_shape()
        if shape is not None:  # which input takes the message (the editor's request panel chats through it)
            paths["/v1/chat/completions"]["post"]["x-promptwise-chat"] = {
                "input": shape.question, "history": shape.history, "output": shape.answer}
        paths["/v1/models"] = {"get": {"summary": "the flow as the one model this server answers as",
                                       "operationId": "listModels", "responses": {"200": {"description": "ok"}}}}
    paths["/feedback"] = _feedback(errors)
    for route, text in (("/health", "liveness"), ("/ready", "the flow is loaded and its connections resolved")):
        paths[route] = {"get": {"summary": text, "responses": {"200": {"description": "ok"}}}}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": f"{flow.name} (Promptwise)", "version": flow.content_hash[:19] or "0"},
        "paths": paths,
    }
    if requires_keys:
        document["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                                      "apiKey": {"type": "apiKey", "in": "header",
                                                                 "name": "api-key"}}}
        document["security"] = [{"bearer": []}, {"apiKey": []}]
    return document
