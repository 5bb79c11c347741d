"""A small OpenAI-compatible HTTP server for tests, benchmarks and end-to-end checks.

It answers `/v1/chat/completions` (and Azure's `/openai/deployments/{d}/chat/completions`),
`/v1/embeddings` and `/v1/models` deterministically, reports `usage`, and can be told to
misbehave the way real endpoints do: slow answers, 429 with `Retry-After`, 500s, malformed
JSON bodies, connections dropped mid-request, and requests that never get an answer. It
counts requests and the peak number in flight, so benchmarks can see the concurrency the
client really achieved.

Use from synchronous tests (the server runs its own event loop in a thread):

    with FakeOpenAI(rules=[(r"capital of France", "Paris")], latency=0.05) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        server.inject("rate_limit", count=2, retry_after=0.1)

or from async code on the running loop (`async with FakeOpenAI() as server:`), or as a
process: `python -m promptwise.devtools.fake_openai --port 0 --latency-ms 50` prints its
base URL on the first line of stdout; `GET /_fake/stats` returns the counters as JSON and
`POST /_fake/reset` clears them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import quote

from promptwise.common.extras import missing_extra

try:
    from aiohttp import web
except ImportError:  # aiohttp is the `demo` extra: not a runtime dependency of Promptwise
    web = None

MISSING_AIOHTTP = missing_extra("the local scripted model", ["aiohttp"], "demo")

# A reply is text, or a dict of message fields (`content`, `tool_calls`, ...) optionally with
# `usage` to override the computed numbers. A callable receives the request body.
Reply = Union[str, dict, Callable[[dict], Union[str, dict]]]

FAULT_KINDS = ("rate_limit", "server_error", "malformed", "drop", "truncated", "hang", "stall")
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-35-turbo", "text-embedding-3-small")
# Names OpenAI's reasoning models go by (o1, o3-mini, o4-mini, gpt-5, gpt-5.1..., not gpt-5-chat-latest):
# with `reasoning_models=OPENAI_REASONING_MODELS` the server answers them as OpenAI does.
OPENAI_REASONING_MODELS = r"^(?:o\d|gpt-5)(?!.*-chat)"
# Tokens a reasoning model of the fake spends thinking before it answers (billed as output, counted
# within max_completion_tokens, reported in usage.completion_tokens_details.reasoning_tokens).
REASONING_TOKENS = 16
# Sampling parameters OpenAI's reasoning models refuse unless they have their default value
# (or reasoning_effort is `none`, as gpt-5.1/5.2 accept them then).
_SAMPLING_DEFAULTS = {"temperature": 1, "top_p": 1, "presence_penalty": 0, "frequency_penalty": 0,
                      "logprobs": False, "top_logprobs": None, "logit_bias": None}

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text or ""))


@dataclass
class Rule:
    """When `pattern` matches the last user message (and the request names `model`, when set),
    answer with `reply` after `latency`."""

    pattern: re.Pattern | None
    reply: Reply
    latency: float | None = None
    model: str | None = None

    def matches(self, text: str, model: str | None = None) -> bool:
        if self.model is not None and self.model != model:
            return False
        return self.pattern is None or bool(self.pattern.search(text))


@dataclass
class Fault:
    """Misbehave for the next `remaining` matching requests (None = every one)."""

    kind: str
    remaining: int | None = 1
    retry_after: float | None = None
    pattern: re.Pattern | None = None
    status: int = 500
    model: str | None = None  # only requests for this model (or Azure deployment)
    headers: dict[str, str] | None = None  # more headers on a 429 or 5xx (retry-after-ms, x-ratelimit-reset-*)

    def matches(self, text: str, model: str | None = None) -> bool:
        if self.model is not None and self.model != model:
            return False
        return self.pattern is None or bool(self.pattern.search(text))


@dataclass
class RecordedRequest:
    path: str
    body: Any
    headers: dict[str, str]
    fault: str | None = None
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class Stats:
    requests: int = 0  # every API request received (faulted ones included)
    completed: int = 0  # answered successfully
    faulted: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    by_path: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "completed": self.completed,
            "faulted": self.faulted,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "by_path": dict(self.by_path),
        }


def _compile(pattern: str | re.Pattern | None) -> re.Pattern | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message)
    return ""


class FakeOpenAI:
    def __init__(
        self,
        rules: list[tuple[str | re.Pattern | None, Reply]] | None = None,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: tuple[str, ...] = DEFAULT_MODELS,
        record: bool = True,
        echo_credentials: bool = False,
        identity_header: str | None = None,
        reasoning_models: str | re.Pattern | None = None,
    ) -> None:
        if web is None:
            raise ImportError(MISSING_AIOHTTP)
        self.host = host
        self.port = port
        self.latency = latency
        # When set, requests must carry it: a Bearer or api-key header, or a `subscription-key` /
        # `api-key` query parameter (as API gateways accept).
        self.api_key = api_key
        # Echo the credentials a request carried (as given, URL-encoded, as a Basic header, and the
        # request URL) in error messages and replies, as careless gateways and debugging proxies
        # do: what redaction must catch.
        self.echo_credentials = echo_credentials
        # A stand-in for a managed identity endpoint (App Service's contract, which azure-identity's
        # ManagedIdentityCredential calls when IDENTITY_ENDPOINT and IDENTITY_HEADER are set): it
        # hands out `api_key` as the bearer token to callers that send this header value.
        self.identity_header = identity_header
        self.identity_requests: list[dict[str, str]] = []  # the query of each token request
        # Models (or Azure deployments) whose name matches answer as OpenAI's reasoning models do:
        # `max_tokens` and non-default sampling parameters refused with a 400 naming the parameter,
        # REASONING_TOKENS spent before the answer within max_completion_tokens.
        self.reasoning_models = _compile(reasoning_models)
        self.models = list(models)
        self.record = record
        # (pattern, reply) or (pattern, reply, latency in seconds)
        self.rules: list[Rule] = [Rule(_compile(rule[0]), *rule[1:]) for rule in (rules or [])]
        self.stats = Stats()
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()  # tests change rules/faults from their own thread
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        # Files and fine-tuning jobs (`finetune submit|status`): a separate stand-in, see fake_finetune.
        from promptwise.devtools.fake_finetune import FineTuningStandIn

        self.fine_tuning = FineTuningStandIn(self._check_auth)

    # ----- configuration (safe from any thread) -----

    def add_rule(self, pattern: str | re.Pattern | None, reply: Reply, latency: float | None = None, *,
                 model: str | None = None) -> None:
        """Rules are tried in order; the first whose pattern matches the last user message (and
        whose `model`, if given, is the model or Azure deployment requested) wins."""
        with self._lock:
            self.rules.append(Rule(_compile(pattern), reply, latency, model))

    def inject(
        self,
        kind: str,
        count: int | None = 1,
        *,
        retry_after: float | None = None,
        match: str | re.Pattern | None = None,
        status: int = 500,
        model: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next `count` requests (matching `match` and asking for `model`, if given)
        fail with `kind`.

        kinds: rate_limit (429, `Retry-After` when given, and `headers`: the other ways endpoints
        say how long to wait, `retry-after-ms` or OpenAI's `x-ratelimit-reset-tokens: 6m0s`),
        server_error (`status`, 500 by default, with `headers`), malformed (200 with a truncated JSON body), drop (connection closed without
        an answer), truncated (the connection dies part way through the answer), hang (no
        answer until the client gives up), stall (a streamed reply sends its text, then hangs before
        its finish and usage chunks until the client gives up; a plain request hangs). `count=None` = for ever.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, count, retry_after, _compile(match), status, model, headers))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget counters, recorded requests and faults (rules stay)."""
        with self._lock:
            in_flight = self.stats.in_flight
            self.stats = Stats(in_flight=in_flight)
            self.requests.clear()
            self._faults.clear()

    # ----- addresses -----

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For `OpenAI(base_url=...)` and OPENAI_BASE_URL."""
        return f"{self.origin}/v1"

    @property
    def identity_endpoint(self) -> str:
        """For IDENTITY_ENDPOINT (with IDENTITY_HEADER = `identity_header`)."""
        return f"{self.origin}/_fake/identity"

    @property
    def azure_endpoint(self) -> str:
        """For `AzureOpenAI(azure_endpoint=...)` and AZURE_OPENAI_ENDPOINT."""
        return self.origin

    # ----- lifecycle -----

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/openai/models", self._models)
        app.router.add_get("/_fake/identity", self._identity)
        app.router.add_get("/_fake/stats", self._stats_handler)
        app.router.add_post("/_fake/reset", self._reset_handler)
        self.fine_tuning.add_routes(app)
        return app

    async def start_async(self) -> None:
        """Serve on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = sockets[0][1]

    async def stop_async(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # releases hung requests
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> "FakeOpenAI":
        """Serve from a background thread with its own event loop (for synchronous callers)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as error:  # reported to the caller of start()
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "FakeOpenAI":
        await self.start_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_async()

    # ----- request handling -----

    @staticmethod
    def _credentials(request: web.Request) -> list[str]:
        given = [request.headers.get("api-key"), request.headers.get("Authorization", "").removeprefix("Bearer "),
                 request.query.get("subscription-key"), request.query.get("api-key")]
        return [value for value in given if value]

    def _echo(self, request: web.Request) -> str:
        """What an echoing endpoint says about the credentials it received."""
        if not self.echo_credentials:
            return ""
        echoed = [f"{key} (url-encoded {quote(key, safe='')}, as Basic auth "
                  f"{base64.b64encode(f'apikey:{key}'.encode()).decode()})" for key in self._credentials(request)]
        return f" Received {'; '.join(echoed) or 'no key'} at {request.url}."

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or self.api_key in self._credentials(request):
            return None
        return web.json_response(
            {"error": {"message": "Incorrect API key provided." + self._echo(request),
                       "type": "invalid_request_error", "code": "invalid_api_key"}},
            status=401,
        )

    def _take_fault(self, text: str, model: str | None = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(text, model) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def _pick_rule(self, text: str, model: str | None = None) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(text, model):
                    return rule
        return None

    async def _apply_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault.kind == "rate_limit":
            headers = dict(fault.headers or {})
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            return web.json_response(
                {"error": {"message": "Rate limit reached. Please retry after a while.",
                           "type": "requests", "code": "rate_limit_exceeded"}},
                status=429, headers=headers,
            )
        if fault.kind == "server_error":
            return web.json_response(
                {"error": {"message": "The server had an error while processing your request.",
                           "type": "server_error", "code": None}},
                status=fault.status, headers=fault.headers,
            )
        if fault.kind == "malformed":
            return web.Response(
                text='{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
                content_type="application/json",
            )
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more to send on a dead connection
        if fault.kind == "truncated":
            # Headers promise a body that never fully arrives: the connection dies mid-response.
            response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "500"})
            await response.prepare(request)
            await response.write(b'{"id": "chatcmpl-cut", "choices": [')
            await asyncio.sleep(0.01)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        await self._hang_until_gone(request)  # hang (and stall, on a plain request): never answer

    async def _hang_until_gone(self, request: web.Request) -> None:
        """Ends (CancelledError) when the client gives up (closes the connection) or the server
        stops. aiohttp does not cancel handlers on disconnect, so watch the transport."""
        assert self._stopping is not None
        while not self._stopping.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            try:
                await asyncio.wait_for(self._stopping.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        raise asyncio.CancelledError

    async def _begin(self, request: web.Request) -> tuple[dict | None, web.Response | None, RecordedRequest | None]:
        """Count the request and read its JSON body (or explain why it is unreadable)."""
        with self._lock:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
            self.stats.by_path[request.path] = self.stats.by_path.get(request.path, 0) + 1
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None, web.json_response(
                {"error": {"message": "We could not parse the JSON body of your request.",
                           "type": "invalid_request_error"}}, status=400), None
        if not isinstance(body, dict):
            return None, web.json_response(
                {"error": {"message": "The request body must be a JSON object.",
                           "type": "invalid_request_error"}}, status=400), None
        record = None
        if self.record:
            record = RecordedRequest(request.path, body, dict(request.headers))
            with self._lock:
                self.requests.append(record)
        return body, self._check_auth(request), record

    def _end(self, ok: bool, fault: str | None = None) -> None:
        with self._lock:
            self.stats.in_flight -= 1
            if ok:
                self.stats.completed += 1
            if fault:
                self.stats.faulted += 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        ok, fault_kind = False, None
        try:
            body, error, record = await self._begin(request)
            if error is not None:
                return error
            assert body is not None
            if not body.get("messages"):
                return web.json_response(
                    {"error": {"message": "'messages' is a required property", "type": "invalid_request_error"}},
                    status=400)
            text = _last_user_text(body)
            model = body.get("model") or request.match_info.get("deployment") or "gpt-4o-mini"
            fault = self._take_fault(text, model)
            stall = fault is not None and fault.kind == "stall" and bool(body.get("stream"))
            if stall:
                fault_kind, fault = fault.kind, None  # answered below, cut after its text
                if record is not None:
                    record.fault = fault_kind
            if fault is not None:
                fault_kind = fault.kind
                if record is not None:
                    record.fault = fault.kind
                return await self._apply_fault(request, fault)
            reasoning = self.reasoning_models is not None and bool(self.reasoning_models.search(model))
            if reasoning:
                refusal = _reasoning_refusal(body)
                if refusal is not None:
                    return refusal
            rule = self._pick_rule(text, model)
            latency = rule.latency if rule is not None and rule.latency is not None else self.latency
            if latency:
                await asyncio.sleep(latency)
            message, usage_override = self._reply(rule, body, text, self._echo(request))
            prompt_tokens = sum(count_tokens(_message_text(m)) + 4 for m in body["messages"] if isinstance(m, dict)) + 3
            completion_tokens = count_tokens(message.get("content") or "")
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
            cut = False
            if reasoning:
                # Thinking comes first and counts within the limit: a small limit leaves no answer.
                limit = body.get("max_completion_tokens")
                cut = limit is not None and REASONING_TOKENS + completion_tokens > int(limit)
                if cut:
                    message = {"role": "assistant", "content": ""}
                    completion_tokens = int(limit)
                else:
                    completion_tokens += REASONING_TOKENS
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "completion_tokens_details": {"reasoning_tokens": min(REASONING_TOKENS, completion_tokens)}}
            usage.update(usage_override)
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            with self._lock:
                self.stats.prompt_tokens += usage["prompt_tokens"]
                self.stats.completion_tokens += usage["completion_tokens"]
            n = int(body.get("n") or 1)
            finish = "length" if cut else "tool_calls" if message.get("tool_calls") else "stop"
            created = int(time.time())
            completion_id = f"chatcmpl-fake{self.stats.requests}"
            if body.get("stream"):
                response = await self._stream(request, completion_id, created, model, message, usage, body, stall)
            else:
                response = web.json_response({
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                                for i in range(n)],
                    "usage": usage,
                    "system_fingerprint": "fp_fake",
                })
            ok = True
            return response
        finally:
            self._end(ok, fault_kind)

    def _reply(self, rule: Rule | None, body: dict, text: str, echo: str = "") -> tuple[dict, dict]:
        reply: Any = f"echo: {text}" if rule is None else rule.reply
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, str):
            return {"role": "assistant", "content": reply + echo}, {}
        reply = dict(reply)
        usage = reply.pop("usage", None) or {}
        message = {"role": "assistant", "content": None, **reply}
        return message, usage

    async def _stream(self, request, completion_id, created, model, message, usage, body,
                      stall: bool = False) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(payload: dict) -> None:
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())

        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        await send({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                         "finish_reason": None}]})
        for piece in re.findall(r"\S+\s*|\s+", message.get("content") or ""):
            await send({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        if stall:  # the text is out, the finish and usage never come
            await self._hang_until_gone(request)
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**base, "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        ok, fault_kind = False, None
        try:
            body, error, record = await self._begin(request)
            if error is not None:
                return error
            assert body is not None
            items = body.get("input")
            items = [items] if isinstance(items, str) else list(items or [])
            fault = self._take_fault(" ".join(map(str, items)))
            if fault is not None:
                fault_kind = fault.kind
                if record is not None:
                    record.fault = fault.kind
                return await self._apply_fault(request, fault)
            if self.latency:
                await asyncio.sleep(self.latency)
            dims = int(body.get("dimensions") or 8)
            data = [{"object": "embedding", "index": i, "embedding": _embed(str(item), dims)}
                    for i, item in enumerate(items)]
            tokens = sum(count_tokens(str(item)) for item in items)
            ok = True
            return web.json_response({"object": "list", "data": data, "model": body.get("model", ""),
                                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        finally:
            self._end(ok, fault_kind)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake"} for name in self.models]})

    async def _identity(self, request: web.Request) -> web.Response:
        with self._lock:
            self.identity_requests.append(dict(request.query))
        if self.identity_header is None or request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return web.json_response({"statusCode": 400, "message": "No managed identity for this request."},
                                     status=400)
        return web.json_response({"access_token": self.api_key or "fake-entra-token", "token_type": "Bearer",
                                  "expires_on": str(int(time.time()) + 3600),
                                  "resource": request.query.get("resource", "")})

    async def _stats_handler(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.stats.as_dict())

    async def _reset_handler(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def _reasoning_refusal(body: dict) -> web.Response | None:
    """The 400 OpenAI's reasoning models answer to `max_tokens` or a non-default sampling parameter
    (same error object: message, type, param, code)."""
    if "max_tokens" in body:
        return _unsupported("max_tokens", "unsupported_parameter", "Unsupported parameter: 'max_tokens' is not "
                            "supported with this model. Use 'max_completion_tokens' instead.")
    if body.get("reasoning_effort") == "none":
        return None
    for name, default in _SAMPLING_DEFAULTS.items():
        if name in body and body[name] != default:
            return _unsupported(name, "unsupported_value", f"Unsupported value: '{name}' does not support "
                                f"{body[name]!r} with this model. Only the default ({default}) value is supported.")
    return None


def _unsupported(param: str, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                        "code": code}}, status=400)


def _embed(text: str, dims: int) -> list[float]:
    """A deterministic unit vector from character counts: equal texts, equal vectors."""
    vector = [0.0] * dims
    for index, char in enumerate(text.lower()):
        vector[(ord(char) + index) % dims] += 1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def _load_rules(path: Path) -> list[tuple]:
    """A JSON or YAML list of {pattern, reply} objects, each optionally with `latency_ms` (this
    rule's delay instead of --latency-ms: a long answer can take longer, as with a real model) and
    `model` (the rule answers requests for that model only: models compared on the same data)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of {{pattern, reply}} objects")
    return [(item.get("pattern"), item["reply"],
             item["latency_ms"] / 1000 if item.get("latency_ms") is not None else None, item.get("model"))
            for item in data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m promptwise.devtools.fake_openai",
        description="Serve a deterministic OpenAI-compatible API on 127.0.0.1 (prints its base URL first).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--rules", type=Path, help="JSON/YAML list of {pattern, reply} (regex on last user message)")
    parser.add_argument("--api-key", help="require this key on every request")
    parser.add_argument("--reasoning-models", action="store_true",
                        help="answer o-series and gpt-5 names as OpenAI's reasoning models do (max_tokens refused: "
                             "max_completion_tokens, which counts thinking tokens too)")
    args = parser.parse_args(argv)
    if web is None:
        print(f"fake_openai: error: {MISSING_AIOHTTP}", file=sys.stderr)
        return 2
    try:
        rules = _load_rules(args.rules) if args.rules else None
    except (OSError, ValueError, KeyError) as error:
        print(f"fake_openai: error: cannot read rules: {error}", file=sys.stderr)
        return 2
    server = FakeOpenAI(rules, latency=args.latency_ms / 1000, host=args.host, port=args.port, api_key=args.api_key,
                        record=False, reasoning_models=OPENAI_REASONING_MODELS if args.reasoning_models else None)

    async def serve() -> None:
        await server.start_async()
        print(server.base_url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop_async()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
