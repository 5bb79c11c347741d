"""The engine's spans, through the OpenTelemetry API only (the SDK is set up by
`promptwise.tracing.configure`, a layer above).

One span per flow execution (a run's row, a batch row, an evaluator flow, a served request's
flow), per DAG node, per model call and per `@trace` user function. Spans started here join
whatever span is current in the OTel context, so a caller's span (serving's request span) is
their parent. Without a configured provider every call here is the API's no-op and costs
next to nothing; attribute work that is not free (messages as JSON, content hashes) happens
only for recording spans.

Prompts, replies, inputs and outputs are captured only when `set_capture_content(True)`
(tracing.configure does that from the `tracing.capture_content` setting; off until then, so
nothing is sent to a provider someone else configured), with registered secrets redacted.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from pathlib import Path
from typing import Any, Callable

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span, Status, StatusCode

from promptwise import span_attributes as A
from promptwise.json_text import encoder
from promptwise.redaction import escapes_may_hide_secrets, redact, redact_value

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("promptwise.engine")
_capture = False
_enabled: bool | None = None  # set by tracing.configure/shutdown; None: whatever provider the process has
MAX_TEXT_CHARS = 32_000  # per message part / value: a trace keeps what a person reads, not megabytes


def _never_raises(function: Callable) -> Callable:
    """Tracing must never fail a run: a value that cannot be shown (a circular structure, a
    score that is no number) costs its attribute, nothing else."""

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - see above
            log.debug("tracing: %s skipped (%s: %s)", function.__name__, type(error).__name__, error)
            return None

    return guarded


def set_capture_content(on: bool) -> None:
    global _capture
    _capture = bool(on)


def set_tracer(tracer: Any = None) -> None:
    """The tracer the engine's spans start from: the OTel API's (None: whatever provider the
    process has) or one that tracing.configure chose (tracing/local.py, when only the local
    store records spans)."""
    global _tracer
    _tracer = tracer if tracer is not None else trace.get_tracer("promptwise.engine")


def current_tracer() -> Any:
    """The tracer the engine's spans start from (see `set_tracer`): a caller's own span that the
    engine's spans nest under (serving's request span) starts from it too, so it is the same
    kind of span (a LocalSpan while only the local store records)."""
    return _tracer


def set_enabled(on: bool | None) -> None:
    """Promptwise's tracing is on (True) or off (False): lets flow spans skip their set-up work
    when nothing records them."""
    global _enabled
    _enabled = on


def capture_content() -> bool:
    return _capture


def enabled_setting() -> bool | None:
    """What `set_enabled` was last given (None: never, or reset)."""
    return _enabled


# --- spans --------------------------------------------------------------------------------
class span:
    """A span of the given promptwise kind, current while the `with` block runs (`as` gives the
    OTel span). An exception leaving the block marks it failed (error.type, redacted message)
    and goes on. A class, not a generator context manager: this runs several times per row."""

    __slots__ = ("span", "_token")

    def __init__(self, name: str, kind: str, attributes: dict[str, Any] | None = None) -> None:
        self._token = None
        if _enabled is False:  # Promptwise tracing is off: not even a no-op span
            self.span = trace.INVALID_SPAN
            return
        self.span = _tracer.start_span(name, record_exception=False, set_status_on_exception=False)
        if attributes:
            attributes[A.SPAN_KIND] = kind  # the callers' dicts are built for this span alone
            _set_attributes(self.span, attributes)
        else:
            _set_attributes(self.span, {A.SPAN_KIND: kind})

    def __enter__(self) -> Span:
        if self.span.is_recording():
            self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, kind, error, traceback) -> bool:
        if self._token is not None:
            if error is not None:
                fail(self.span, error)
            otel_context.detach(self._token)
            self.span.end()
        return False


@_never_raises
def fail(current: Span, error: BaseException | str, error_type: str | None = None) -> None:
    """Mark a span failed: error.type, status ERROR with the message (secrets redacted)."""
    if isinstance(error, BaseException):
        error_type = error_type or getattr(error, "kind", None) or type(error).__name__
        message = str(error) or type(error).__name__
    else:
        message = error
    current.set_attribute(A.ERROR_TYPE, error_type or "error")
    current.set_status(Status(StatusCode.ERROR, redact(message)[:2000]))


def flow_attributes(executable: Any) -> dict[str, Any]:
    """The identity of a flow for its spans (name, path, content hash), computed once per
    prepared flow."""
    cached = getattr(executable, "_span_identity", None)
    if cached is not None:
        return cached
    path = Path(executable.path)
    folder_flow = path.name.lower().startswith("flow.")
    identity = {A.FLOW_NAME: path.parent.name if folder_flow else path.stem, A.FLOW_PATH: str(path.resolve()),
                A.NODE_TYPE: getattr(executable, "kind", None) or "flow"}
    content_hash = _content_hash(path)
    if content_hash:
        identity[A.FLOW_CONTENT_HASH] = content_hash
    try:
        executable._span_identity = identity
    except AttributeError:  # a slotted object: compute again next time
        pass
    return identity


def content_hash_of(executable: Any) -> str | None:
    """The flow's content hash as its spans carry it (computed once per prepared flow): runs
    store the same value, so a packaged version finds its runs and its traces by one key."""
    return flow_attributes(executable).get(A.FLOW_CONTENT_HASH)


def _content_hash(path: Path) -> str | None:
    try:
        from promptwise.documents.content_hash import flow_content_hash
    except ImportError:  # not in this build: the trace goes without it
        return None
    try:
        return flow_content_hash(path)
    except Exception:  # an unreadable file is the run's error to report, not the trace's
        return None


async def traced_line(executable: Any, inputs: dict, context: Any, *, run_id: str | None = None,
                      row_index: int | None = None, kind: str = A.SPAN_KIND_FLOW, keep_generators: bool = False):
    """`executable.run_line(inputs, context)` inside a flow span that records the outcome.
    Generator outputs are read and joined (engine/streaming.py) unless `keep_generators` (serve)."""
    from promptwise.engine.streaming import join_generators

    if not _tracer_records():
        outcome = await executable.run_line(inputs, context)
        return outcome if keep_generators else await join_generators(outcome, context.executor)
    with _line_span(executable, run_id, row_index, kind) as current:
        set_content(current, A.FLOW_INPUTS, inputs)
        outcome = await executable.run_line(inputs, context)
        if not keep_generators:
            outcome = await join_generators(outcome, context.executor)
        if outcome.status != "completed":
            fail(current, outcome.error or "failed", outcome.error_kind or "flow_error")
        else:
            set_content(current, A.FLOW_OUTPUTS, outcome.outputs)
        return outcome


@_never_raises
def refused_line(executable: Any, inputs: dict, error: str, error_type: str, *, run_id: str | None = None,
                 row_index: int | None = None) -> None:
    """A row refused before it ran (a malformed data line, a missing required input): a failed
    flow span of its own, so `traces list --run` shows every row of the run. Its inputs only
    when capture is on, like any row's."""
    if not _tracer_records():
        return
    with _line_span(executable, run_id, row_index, A.SPAN_KIND_FLOW) as current:
        set_content(current, A.FLOW_INPUTS, inputs or None)
        fail(current, error, error_type)


def _line_span(executable: Any, run_id: str | None, row_index: int | None, kind: str) -> span:
    """The flow span of one line: the flow's identity, its run and row, its variants."""
    identity = flow_attributes(executable)
    attributes = {A.GEN_AI_OPERATION_NAME: A.OPERATION_INVOKE_WORKFLOW, A.GEN_AI_WORKFLOW_NAME: identity[A.FLOW_NAME],
                  **identity}
    if run_id is not None:
        attributes[A.RUN_ID] = run_id
    if row_index is not None:
        attributes[A.ROW_INDEX] = row_index
    variants = getattr(executable, "variants", None)
    if variants:
        attributes[A.VARIANT_ID] = ",".join(f"{node}={variant}" for node, variant in sorted(variants.items()))
    return span(f"invoke_workflow {identity[A.FLOW_NAME]}", kind, attributes)


def aggregation_span(executable: Any, run_id: str | None) -> span:
    """The aggregation nodes of a run, which run once after all rows: a trace of their own,
    `aggregate <flow>`, carrying the flow and the run (its node spans nest below)."""
    identity = flow_attributes(executable) if _tracer_records() else {}
    attributes = {A.GEN_AI_OPERATION_NAME: A.OPERATION_INVOKE_WORKFLOW, **identity}
    if run_id is not None:
        attributes[A.RUN_ID] = run_id
    return span(f"aggregate {identity.get(A.FLOW_NAME, 'flow')}", A.SPAN_KIND_FLOW, attributes)


def node_span(name: str, node_type: str, inputs: dict | None = None) -> span:
    """A DAG node; its inputs (and, through `node_output`, its output) when capture is on. An llm
    node's model-call span below it shows the rendered messages and the reply instead."""
    if _enabled is False:  # tracing off: an invalid span, without building attributes per row
        return span("node", A.SPAN_KIND_NODE)
    attributes = {A.NODE_NAME: name, A.NODE_TYPE: node_type}
    if node_type == "python":
        attributes[A.GEN_AI_OPERATION_NAME] = A.OPERATION_EXECUTE_TOOL
        attributes[A.GEN_AI_TOOL_NAME] = name
    scope = span(f"node {name}", A.SPAN_KIND_NODE, attributes)
    if node_type != "llm":
        set_content(scope.span, A.NODE_INPUTS, inputs)
    return scope


@_never_raises
def node_output(current: Span, output: Any) -> None:
    if current.is_recording() and current.attributes.get(A.NODE_TYPE) != "llm":
        set_content(current, A.NODE_OUTPUT, output)


def model_call_span(operation: str, model: str, connection: Any, messages: Any = None,
                    params: dict | None = None) -> span:
    """A model call (chat or embeddings); `record_chat_result` fills in what came back."""
    if _enabled is False:  # tracing off: an invalid span, without building attributes per call
        return span("model call", A.SPAN_KIND_LLM)
    provider = "azure.ai.openai" if getattr(connection, "is_azure", False) else "openai"
    attributes: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: operation, A.GEN_AI_PROVIDER_NAME: provider,
                                  A.GEN_AI_REQUEST_MODEL: model}
    name = getattr(connection, "name", None)
    if name:
        attributes[A.CONNECTION_NAME] = str(name)
    server = _server_of(getattr(connection, "endpoint", None))
    if server is not None:
        attributes[A.SERVER_ADDRESS], attributes[A.SERVER_PORT] = server
    if params:
        for key, attribute in _REQUEST_PARAMETERS.items():
            value = params.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[attribute] = value
    scope = span(f"{operation} {model}", A.SPAN_KIND_LLM, attributes)
    if messages is not None and _capture and scope.span.is_recording():
        _set_input_messages(scope.span, messages)
    return scope


@functools.lru_cache(maxsize=64)
def _server_of(endpoint: str | None) -> tuple[str, int] | None:
    """server.address and server.port of a connection's endpoint URL: its host, never its
    credentials or path (which may hold a key); once per endpoint, not per call."""
    from urllib.parse import urlsplit

    if not isinstance(endpoint, str) or not endpoint:
        return None
    try:
        parts = urlsplit(endpoint)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is no number
        return None
    return (host, port) if host else None


@_never_raises
def _set_input_messages(current: Span, messages: Any) -> None:
    _set_attributes(current, {A.GEN_AI_INPUT_MESSAGES: _json(input_messages(messages))})


_REQUEST_PARAMETERS = {"max_tokens": A.GEN_AI_REQUEST_MAX_TOKENS, "max_completion_tokens": A.GEN_AI_REQUEST_MAX_TOKENS,
                       "temperature": A.GEN_AI_REQUEST_TEMPERATURE, "top_p": A.GEN_AI_REQUEST_TOP_P}


@_never_raises
def record_chat_result(current: Span, result: Any, cost: float | None) -> None:
    """Usage, model, finish reason, cost, attempts, cache hit and (with capture) the reply."""
    if not current.is_recording():
        return
    usage = result.usage
    values: dict[str, Any] = {
        A.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens, A.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
        A.CACHE_HIT: bool(result.cached), A.ATTEMPTS: int(getattr(result, "attempts", 1) or 0),
    }
    if getattr(usage, "cached_tokens", 0):
        values[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached_tokens
    if result.model:
        values[A.GEN_AI_RESPONSE_MODEL] = result.model
    if getattr(result, "response_id", None):
        values[A.GEN_AI_RESPONSE_ID] = result.response_id
    finish_reason = getattr(result, "finish_reason", None)
    if finish_reason:
        values[A.GEN_AI_RESPONSE_FINISH_REASONS] = (str(finish_reason),)
    if cost is not None:
        values[A.COST_USD] = float(cost)
    message = getattr(result, "message", None)
    if message is not None and _capture:
        values[A.GEN_AI_OUTPUT_MESSAGES] = _json([output_message(message, finish_reason)])
    _set_attributes(current, values)


@_never_raises
def record_estimated_usage(current: Span, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
    """A model call cut before the endpoint reported its usage (a stream whose client left): our
    estimate of what it billed, marked as such, on a span that says it was cancelled."""
    if not current.is_recording():
        return
    values: dict[str, Any] = {A.GEN_AI_USAGE_INPUT_TOKENS: prompt_tokens, A.GEN_AI_USAGE_OUTPUT_TOKENS: completion_tokens,
                              A.USAGE_ESTIMATED: True, A.CANCELLED: True}
    if cost is not None:
        values[A.COST_USD] = float(cost)
    _set_attributes(current, values)


@_never_raises
def record_embedding_result(current: Span, result: Any, cost: float | None) -> None:
    if not current.is_recording():
        return
    values: dict[str, Any] = {A.GEN_AI_USAGE_INPUT_TOKENS: result.usage.prompt_tokens,
                              A.ATTEMPTS: int(getattr(result, "attempts", 1) or 0), A.CACHE_HIT: False}
    if result.model:
        values[A.GEN_AI_RESPONSE_MODEL] = result.model
    if cost is not None:
        values[A.COST_USD] = float(cost)
    _set_attributes(current, values)


def current_span() -> Span:
    return trace.get_current_span()


@_never_raises
def record_failed_call(current: Span, error: Any) -> None:
    """A model call that failed for good: error.type is its kind (rate_limit, timeout, ...)."""
    if not current.is_recording():
        return
    attempts = getattr(error, "attempts", None)
    if attempts:
        current.set_attribute(A.ATTEMPTS, int(attempts))
    fail(current, error)


def evaluation_span(evaluator: str, row_index: int | None, inputs: dict | None = None) -> span:
    """One evaluator (a judge, an evaluation flow, ...) applied to one row; its model calls nest below."""
    attributes: dict[str, Any] = {A.EVALUATOR: evaluator, A.GEN_AI_EVALUATION_NAME: evaluator}
    if row_index is not None:
        attributes[A.ROW_INDEX] = row_index
    scope = span(f"evaluate {evaluator}", A.SPAN_KIND_EVALUATION, attributes)
    set_content(scope.span, A.FUNCTION_INPUTS, inputs)
    return scope


@_never_raises
def record_score(current: Span, score: Any) -> None:
    """The evaluator's score (value, pass/fail, reason) or why it could not be computed."""
    if not current.is_recording():
        return
    if score.value is not None:
        current.set_attribute(A.GEN_AI_EVALUATION_SCORE_VALUE, float(score.value))
    if score.passed is not None:
        current.set_attribute(A.GEN_AI_EVALUATION_SCORE_LABEL, "pass" if score.passed else "fail")
    if score.cost:
        current.set_attribute(A.COST_USD, float(score.cost))
    if score.reason:
        set_content(current, A.GEN_AI_EVALUATION_EXPLANATION, score.reason)
    if score.error:
        fail(current, score.error, "evaluation_error")


@_never_raises
def set_content(current: Span, attribute: str, value: Any) -> None:
    """A content attribute (inputs, outputs) as JSON, only when capture is on."""
    if _capture and current.is_recording() and value is not None:
        _set_attributes(current, {attribute: _json(_clip(value))})


# --- @trace for user functions --------------------------------------------------------------
def trace_function(func: Callable) -> Callable:
    """Wrap a user function (sync, async, generator) so each call is a `function` span with its
    inputs and output (when capture is on)."""
    if getattr(func, "__promptwise_traced__", False):
        return func
    qualified = _qualified_name(func)
    short = getattr(func, "__name__", "function")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None

    def start(args, kwargs):
        attributes = {A.FUNCTION_NAME: qualified}
        return span(short, A.SPAN_KIND_FUNCTION, attributes)

    def record_inputs(current, args, kwargs):
        if _capture and current.is_recording():
            set_content(current, A.FUNCTION_INPUTS, _bound(signature, args, kwargs))

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_traced(*args, **kwargs):
            with start(args, kwargs) as current:
                record_inputs(current, args, kwargs)
                result = await func(*args, **kwargs)
                set_content(current, A.FUNCTION_OUTPUT, result)
                return result
        wrapper = async_traced
    elif inspect.isgeneratorfunction(func):
        @functools.wraps(func)
        def generator_traced(*args, **kwargs):
            # The caller's context now (the flow or node span calling the entry), not wherever the
            # items are read later: a served stream reads them after the flow span has ended, a
            # step at a time in worker threads, each with its own copy of the context.
            return _traced_items(func(*args, **kwargs), otel_context.get_current(),
                                 lambda: start(args, kwargs), lambda current: record_inputs(current, args, kwargs))
        wrapper = generator_traced
    elif inspect.isasyncgenfunction(func):
        @functools.wraps(func)
        def async_generator_traced(*args, **kwargs):
            return _traced_async_items(func(*args, **kwargs), otel_context.get_current(),
                                       lambda: start(args, kwargs), lambda current: record_inputs(current, args, kwargs))
        wrapper = async_generator_traced
    else:
        @functools.wraps(func)
        def traced(*args, **kwargs):
            with start(args, kwargs) as current:
                record_inputs(current, args, kwargs)
                result = func(*args, **kwargs)
                set_content(current, A.FUNCTION_OUTPUT, result)
                return result
        wrapper = traced
    wrapper.__promptwise_traced__ = True
    return wrapper


class _ItemsSpan:
    """The function span of one traced generator (sync or async): started under `parent` (the
    caller's context) at the first item, ended with the last, and current only while the
    generator's own code runs, one step at a time (`with` around each step): spans it opens nest
    under it, and no context stays attached across a `yield` (a served stream reads each step in
    another thread, with its own copy of the context)."""

    def __init__(self, parent, start, record_inputs) -> None:
        token = otel_context.attach(parent)
        try:
            self.span = start().span
        finally:
            otel_context.detach(token)
        self._inside = trace.set_span_in_context(self.span, parent)
        self._token = None
        self.items: list = []
        record_inputs(self.span)

    def __enter__(self) -> None:
        self._token = otel_context.attach(self._inside)

    def __exit__(self, *exc) -> bool:
        otel_context.detach(self._token)
        return False

    def keep(self, item) -> None:
        if len(self.items) < 1000:
            self.items.append(item)


def _traced_items(items_of, parent, start, record_inputs):
    traced = _ItemsSpan(parent, start, record_inputs)
    try:
        while True:
            with traced:
                try:
                    item = next(items_of)
                except StopIteration:
                    break
            traced.keep(item)
            yield item
        set_content(traced.span, A.FUNCTION_OUTPUT, _joined(traced.items))
    except GeneratorExit:  # the reader stopped early (a client that went away)
        items_of.close()
        raise
    except BaseException as error:
        fail(traced.span, error)
        raise
    finally:
        traced.span.end()


async def _traced_async_items(items_of, parent, start, record_inputs):
    traced = _ItemsSpan(parent, start, record_inputs)
    try:
        while True:
            with traced:
                try:
                    item = await items_of.__anext__()
                except StopAsyncIteration:
                    break
            traced.keep(item)
            yield item
        set_content(traced.span, A.FUNCTION_OUTPUT, _joined(traced.items))
    except GeneratorExit:
        await items_of.aclose()
        raise
    except BaseException as error:
        fail(traced.span, error)
        raise
    finally:
        traced.span.end()


def _qualified_name(func: Callable) -> str:
    """module.qualname; for flow code (imported under a private module name) the file's stem."""
    module = getattr(func, "__module__", None) or ""
    code = getattr(func, "__code__", None)
    if module.startswith("promptwise_user_") and code is not None:
        module = Path(code.co_filename).stem
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "function")
    return f"{module}.{name}" if module else name


def _bound(signature, args, kwargs) -> dict:
    if signature is None:
        return {"args": list(args), **kwargs}
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), **kwargs}
    values = dict(bound.arguments)
    values.pop("self", None)
    values.pop("cls", None)
    return values


def _joined(items: list) -> Any:
    return "".join(items) if items and all(isinstance(item, str) for item in items) else items


# --- message shapes (OTel GenAI semantic conventions) ----------------------------------------
def input_messages(messages: Any) -> list[dict]:
    """OpenAI chat messages as the conventions' `gen_ai.input.messages` (role + parts)."""
    if isinstance(messages, str):
        return [{"role": "user", "parts": [_text_part(messages)]}]
    shaped = []
    for message in messages or []:
        if not isinstance(message, dict):
            shaped.append({"role": "user", "parts": [_text_part(str(message))]})
            continue
        role = str(message.get("role") or "user")
        content = message.get("content")
        if type(content) is str and role != "tool" and not message.get("tool_calls"):  # most messages
            shaped.append({"role": role, "parts": [_text_part(content)]})
            continue
        parts = _content_parts(content)
        for call in message.get("tool_calls") or []:
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            parts.append({"type": "tool_call", "id": call.get("id") if isinstance(call, dict) else None,
                          "name": function.get("name"), "arguments": _clip(function.get("arguments"))})
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"),
                      "response": _clip(message.get("content"))}]
        shaped.append({"role": role, "parts": parts})
    return shaped


def output_message(message: dict, finish_reason: str | None) -> dict:
    content = message.get("content")
    if type(content) is str and message.get("role", "assistant") == "assistant" and not message.get("tool_calls"):
        return {"role": "assistant", "parts": [_text_part(content)], "finish_reason": finish_reason or "stop"}
    shaped = input_messages([{"role": "assistant", **message}])[0]
    shaped["finish_reason"] = finish_reason or "stop"
    return shaped


def _content_parts(content: Any) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_part(content)]
    parts = []
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(_text_part(part.get("text") or ""))
        elif isinstance(part, dict) and part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
            if isinstance(url, str) and url.startswith("data:"):
                parts.append({"type": "blob", "modality": "image", "content": f"[{len(url)} characters of data]"})
            else:
                parts.append({"type": "uri", "modality": "image", "uri": _clip(url)})
        else:
            parts.append(_text_part(json.dumps(part, ensure_ascii=False, default=str)))
    return parts


def _text_part(text: str) -> dict:
    return {"type": "text", "content": _clip(text)}


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return value[:MAX_TEXT_CHARS] + f"… [{len(value) - MAX_TEXT_CHARS} more characters]"
    return value


class RedactedText(str):
    """Content text this module built and masked (`_json`): the span writer's secret check
    skips it instead of scanning the same text again (tracing/processor.py)."""

    __slots__ = ()


def _json(value: Any) -> RedactedText:
    """JSON text with every registered secret masked. The finished text is checked (cheap);
    it is encoded again from masked values only where JSON's escapes could hide a secret from
    that check (redaction.escapes_may_hide_secrets: a registered secret holding a quote, a
    backslash or a control character, found in its escaped form; an escaped control character).
    Escaped quotes alone (a JSON reply inside a message) no longer cost a second encoding and
    a walk of every value: they were half of what content capture cost a served request."""
    text = _encode(value)
    if escapes_may_hide_secrets(text):
        text = _encode(redact_value(value))
    if len(text) > 8 * MAX_TEXT_CHARS:
        text = text[:8 * MAX_TEXT_CHARS] + "…"  # no longer valid JSON: readers show it as text
    return RedactedText(redact(text))


def _describe(value: Any) -> str:
    """Objects JSON cannot show (connections, clients) by type only: their str() may hold a key."""
    return f"<{type(value).__name__}>"


# Built once (promptwise/json_text.py): json.dumps with options builds an encoder per call.
_encode = encoder(_describe)


def _set_attributes(current: Span, values: dict[str, Any]) -> None:
    """Attributes this module built itself, on a span that is still running.

    Every value here is already what OTel accepts (str, bool, int, float, or a tuple of str; no
    None), so the SDK's per-value validation (a third of what the engine's spans cost a batch
    row: benchmarks/README.md, "Tracing overhead") is skipped: they go straight into the SDK
    span's attribute dict. Only on the SDK's own attribute type, while the span runs, and when no
    span limit applies (no value length limit, room under the count limit); otherwise through
    `set_attributes` with its checks. Engine spans are set by the task that runs them alone.
    A span of tracing's LocalTracer (tracing/local.py) takes them through its own unchecked door."""
    checked = getattr(current, "set_checked_attributes", None)
    if checked is not None:
        checked(values)
        return
    bounded = getattr(current, "_attributes", None)
    if (type(bounded) is BoundedAttributes and bounded._immutable is False and bounded.max_value_len is None
            and (bounded.maxlen is None or len(bounded._dict) + len(values) <= bounded.maxlen)
            and None not in values.values()):
        bounded._dict.update(values)
    else:
        current.set_attributes(values)


def _tracer_records() -> bool:
    """Whether spans started now would be recorded (a configured SDK provider that samples)."""
    if trace.get_current_span().is_recording():
        return True
    if _enabled is not None:
        return _enabled
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
