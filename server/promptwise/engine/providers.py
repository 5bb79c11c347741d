"""Chat calls through the official `openai` client, with our own retry policy.

One `Provider` per connection wraps an `AsyncOpenAI` or `AsyncAzureOpenAI` client created
with `max_retries=0`: the policy lives here so that every attempt is visible (the progress
bar, the store) and so that 429/5xx/connection errors back off exponentially with jitter,
honouring `Retry-After`. A call that still fails raises `ProviderError`, whose message is
redacted of secrets and says what happened.

Adaptive back-off, per connection: a 429 pauses every call on the connection for the
Retry-After (not only the row that hit it), and an overload signal (429, 503, a timeout) halves
how many calls may be in flight, which then grows back by one per round of successful calls
(AIMD, as TCP does): a run started with more concurrency than the endpoint allows settles
near what it does allow instead of hammering it with retries.

CPU per call: plain calls go through the SDK's raw-request API (no typed models); once the SDK
has sent one request of a kind on a connection, later ones go straight through aiohttp with the
URL and headers the SDK built (engine/direct_http.py): the SDK's request building and its second
HTTP stack were most of a row's CPU against a fast endpoint.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib
import importlib.util
import json
import logging
import random
import socket
import ssl
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import openai

from promptwise.engine import model_parameters
from promptwise.engine.connections import Connection
from promptwise.engine.retry_after import upstream_wait
from promptwise.json_text import encoder
from promptwise.redaction import redact

log = logging.getLogger(__name__)

# Parameters the chat API accepts that flows commonly set; anything else in a node's inputs
# is a template variable, not an API parameter.
CHAT_PARAMETERS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
    "frequency_penalty", "logit_bias", "response_format", "seed", "tools", "tool_choice", "n", "user",
    "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort",
)


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5  # seconds; doubled each attempt
    max_delay: float = 30.0
    timeout: float = 120.0  # per call
    max_retry_after: float = 120.0  # a longer Retry-After ends the retries: the row fails

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Delay before attempt `attempt + 1` (attempt counts from 1)."""
        exponential = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        jittered = exponential * random.uniform(0.5, 1.0)
        if retry_after is not None:
            # The server knows best; a little jitter keeps many rows from returning at once.
            return retry_after + random.uniform(0, min(1.0, retry_after * 0.1 + 0.05))
        return jittered


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0

    def add(self, other: "Usage") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cached_tokens += other.cached_tokens

    def as_dict(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens, "cached_tokens": self.cached_tokens}

    @classmethod
    def from_dict(cls, data: dict | None) -> "Usage":
        data = data or {}
        return cls(int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0),
                   int(data.get("total_tokens") or 0), int(data.get("cached_tokens") or 0))


@dataclass
class ChatResult:
    message: dict  # {"role": "assistant", "content": ..., "tool_calls"?: [...]}
    usage: Usage
    model: str  # as the endpoint reported it
    finish_reason: str | None
    latency_ms: float
    attempts: int = 1
    cached: bool = False  # served from the response cache
    response_id: str | None = None  # the endpoint's id of this completion (gen_ai.response.id); none when cached

    @property
    def text(self) -> str | None:
        return self.message.get("content")

    def to_cache(self) -> dict:
        return {"message": self.message, "usage": self.usage.as_dict(), "model": self.model,
                "finish_reason": self.finish_reason, "latency_ms": self.latency_ms}

    @classmethod
    def from_cache(cls, data: dict) -> "ChatResult":
        return cls(data["message"], Usage.from_dict(data.get("usage")), data.get("model", ""),
                   data.get("finish_reason"), float(data.get("latency_ms") or 0), attempts=0, cached=True)


class ProviderError(Exception):
    """A call that failed for good. `kind` is one of: rate_limit, server_error, timeout,
    unreachable (could not connect at all), connection, malformed, auth, bad_request, not_found,
    error. `refused`: the request parameter a 400 refused, when the call can do without it
    (engine/model_parameters.py)."""

    def __init__(self, message: str, kind: str, status: int | None = None, attempts: int = 1,
                 refused: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.kind = kind
        self.status = status
        self.attempts = attempts
        self.refused = refused
        self.retry_after = retry_after  # seconds the endpoint asked to wait (its last 429/503), when it said

    @property
    def message(self) -> str:
        return str(self)


def _error_detail(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return error.message


def _unreachable_cause(error: BaseException) -> OSError | None:
    """The OS error behind a failure to connect at all (refused, unknown host, unreachable network).

    The SDK's aiohttp transport reports a refused connection as a *timeout* (`APITimeoutError`
    caused by `ConnectTimeout("Cannot connect to host ...")`), so the cause chain decides."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, TimeoutError):
            if isinstance(current, (ConnectionRefusedError, socket.gaierror)) or current.errno in _UNREACHABLE_ERRNOS:
                return current
        current = current.__cause__ or current.__context__
    return None


_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


def classify(error: BaseException) -> tuple[str, int | None, bool, str]:
    """(kind, HTTP status, worth retrying, short description) for an exception from a call."""
    entra = sys.modules.get("promptwise.engine.entra")  # imported only where a connection uses Entra ID
    if entra is not None and isinstance(error, entra.CredentialError):
        return "auth", None, False, str(error)
    unreachable = _unreachable_cause(error)
    if unreachable is not None:
        if isinstance(unreachable, ConnectionRefusedError) or unreachable.errno == errno.ECONNREFUSED:
            reason = "connection refused"
        elif isinstance(unreachable, socket.gaierror):
            reason = f"unknown host ({unreachable.strerror})"
        else:
            reason = unreachable.strerror or type(unreachable).__name__
        return "unreachable", None, True, reason
    if isinstance(error, openai.APITimeoutError):
        return "timeout", None, True, "the request timed out"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return "connection", None, True, f"connection error ({type(cause).__name__}: {cause})"
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        detail = _error_detail(error)
        if status == 429:
            return "rate_limit", status, True, f"rate limited (HTTP 429): {detail}"
        if status in (401, 403):
            return "auth", status, False, f"authentication failed (HTTP {status}): {detail}; check the connection's key"
        if status == 404:
            return "not_found", status, False, f"not found (HTTP 404): {detail}; check the model or deployment name"
        if status in (408, 409) or status >= 500:
            return "server_error", status, True, f"server error (HTTP {status}): {detail}"
        return "bad_request", status, False, f"request rejected (HTTP {status}): {detail}"
    if isinstance(error, (json.JSONDecodeError, openai.APIResponseValidationError)):
        return "malformed", None, True, f"the endpoint answered with malformed JSON ({error})"
    if _is_transport_error(error):
        return "connection", None, True, f"connection error ({type(error).__name__}: {error})"
    return "error", None, False, f"{type(error).__name__}: {error}"


def _is_transport_error(error: BaseException) -> bool:
    """An error of the SDK's HTTP library (httpx2 for openai 3, httpx before). Only a library
    that is imported can have raised one, so importing neither costs start-up time."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and isinstance(error, module.TransportError):
            return True
    return False


def _is_overload(kind: str, status: int | None) -> bool:
    """Failures that say the endpoint has more calls than it can take: fewer in flight helps."""
    return kind in ("rate_limit", "timeout") or status == 503


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    if response is None:
        return None
    # retry-after-ms, Retry-After (seconds or a date); x-ratelimit-reset-* only on a 429: OpenAI sends
    # them on every answer, and on a 500 a token window's reset is no wait asked for (6m0s would end the retries).
    return upstream_wait(response.headers, resets=getattr(response, "status_code", None) == 429)


# Called before each retry: (attempt that failed, kind, delay before the next one).
RetryListener = Callable[[int, str, float], None]


# Calls on one connection start at least this far apart (at most 1,000 a second, above any
# hosted endpoint's rate limit). Why: an endpoint with steady latency answers calls that left
# together together, and on Python 3.11 aiohttp sends a request one event-loop turn after it is
# made, so the rows of such a bunch are processed first and all sent at the end, and come back
# bunched again: every call then waits for the whole bunch's CPU (measured with
# benchmarks/batch_speed.py at 32 in flight: ~13 ms per call, against ~4.5 ms once paced).
# Against a fast endpoint a fixed 1 ms was a cap of its own (1,000 calls a second, while 64 calls
# of 5 ms allow 12,800), so the spacing follows the endpoint: half its fastest recent answer
# shared by the calls allowed in flight, i.e. calls may start at twice the rate the concurrency
# bound allows, never below it. The fastest answer, not the latest: a busy client's own delays
# (a call waiting for the CPU) show up in the latencies it measures and must not slow it more.
MIN_CALL_SPACING = 0.001  # seconds, at most (and until a call has answered)
# The fastest answer is forgotten slowly: it grows by this factor per call, so after a few
# hundred calls a slower endpoint's own latency takes over.
FASTEST_DRIFT = 1.01


def call_spacing(fastest: float, in_flight: int) -> float:
    """Seconds between call starts on a connection whose fastest recent call took `fastest`
    seconds, `in_flight` calls allowed at once: twice the concurrency bound's rate, at most
    MIN_CALL_SPACING apart."""
    return min(MIN_CALL_SPACING, fastest / (2 * max(1, in_flight)))


class AdaptiveLimit:
    """How many calls may be in flight on one connection, adapted AIMD-style.

    Starts at `ceiling` (the run's concurrency). An overload signal halves the limit, once
    per round trip: calls that were already on their way when it was cut and fail afterwards do
    not cut again (32 rows hitting the same 429 wall are one signal, not 32). A round of
    successful calls (as many as the limit) raises it by one, up to the ceiling. Calls beyond
    the limit wait their turn in arrival order.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self.lowest = self.ceiling  # the smallest limit reached (reported, and checked by tests)
        self.cuts = 0
        self._successes = 0  # since the limit last changed
        self._waiters: deque[asyncio.Future] = deque()

    @property
    def allowed(self) -> int:
        return self.limit

    def try_acquire(self) -> bool:
        """Take a slot without waiting if one is free (the common case: no awaits)."""
        if self._waiters or self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        loop = asyncio.get_running_loop()
        while True:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # we were handed a turn we will not use: pass it on
                else:
                    self._waiters.remove(waiter)
                raise
            if self.in_flight < self.limit:
                self.in_flight += 1
                return

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def succeeded(self) -> None:
        if self.limit >= self.ceiling:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
            self._wake()

    def overloaded(self, cuts_seen: int) -> bool:
        """Halve the limit, unless it was cut since the failing call set out (`cuts_seen`)."""
        if cuts_seen != self.cuts:
            return False
        self.cuts += 1
        self._successes = 0
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        return True


# Connections per client: at least the run's concurrency (a smaller pool would silently cap
# the calls in flight), all kept alive between calls.
def _connection_limits(concurrency: int):
    limits = type(openai.DEFAULT_CONNECTION_LIMITS)  # the Limits class of the SDK's HTTP library
    size = max(concurrency, openai.DEFAULT_CONNECTION_LIMITS.max_connections or 0)
    return limits(max_connections=size, max_keepalive_connections=max(concurrency, 1))


def _has_aiohttp() -> bool:
    try:
        return importlib.util.find_spec("aiohttp") is not None
    except ImportError:
        return False


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context of every model client in this process, built as the SDK's HTTP library
    builds its default (its CA bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured). Built once and
    shared by the SDK's client and the direct aiohttp session (engine/direct_http.py): loading
    the CA bundle costs 30-60 ms of CPU, which each client paid again (measured)."""
    http = importlib.import_module(type(openai.DEFAULT_CONNECTION_LIMITS).__module__.partition(".")[0])
    return http.create_ssl_context()


def _http_client(timeout: float, concurrency: int, on_request=None):
    """The SDK's aiohttp transport when aiohttp is installed (`pip install 'promptwise[fast]'`):
    same client API, a quarter to a third less CPU per request than the default transport
    (1.5 against 2.2 ms per row, benchmarks/batch_speed.py with and without --without-aiohttp). Without it, the SDK's own default HTTP client: the core install
    does not need aiohttp to call a model. `on_request` is an httpx request event hook."""
    limits = _connection_limits(concurrency)
    hooks = {"event_hooks": {"request": [on_request]}} if on_request is not None else {}
    verify = shared_ssl_context()
    if _has_aiohttp():
        return openai.DefaultAioHttpClient(timeout=timeout, limits=limits, verify=verify, **hooks)
    default = getattr(openai, "DefaultAsyncHttpx2Client", None) or openai.DefaultAsyncHttpxClient  # openai 3 / before
    return default(timeout=timeout, limits=limits, verify=verify, **hooks)


def _split_query(url: str | None) -> tuple[str | None, dict[str, str] | None]:
    """An endpoint URL without its query string, and the query's parameters.

    The SDK appends request paths to the base URL as text, so `...?subscription-key=K` would
    end up in the middle of the path; given as `default_query`, the parameters go on every
    request instead (API gateways take keys that way)."""
    if not url or "?" not in url:
        return url, None
    parts = urlsplit(url)
    return urlunsplit((*parts[:3], "", parts.fragment)), dict(parse_qsl(parts.query, keep_blank_values=True)) or None


class Provider:
    """Chat completions over one connection."""

    def __init__(self, connection: Connection, retry: RetryPolicy | None = None, concurrency: int = 16) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self.limit = AdaptiveLimit(concurrency)
        self._client: openai.AsyncOpenAI | None = None
        self._tokens = None  # EntraTokens of the client, for `auth: entra` connections
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._paused_until = 0.0  # time.monotonic() before which no call starts (after a 429)
        self.answered = False  # the endpoint has answered at least once (any HTTP status)
        self._next_start = 0.0  # time.monotonic() at which the next call may start (pacing)
        self._fastest = float("inf")  # seconds: the fastest recent answer (see FASTEST_DRIFT)
        self._spacing = MIN_CALL_SPACING  # between call starts: see call_spacing()
        # Plain (not streamed) calls after the first go straight to aiohttp with the request the
        # SDK built (engine/direct_http.py); an Entra ID token is refreshed per request, so the
        # SDK sends every call of such a connection.
        self._direct = None
        if connection.auth != "entra" and _has_aiohttp():
            from promptwise.engine.direct_http import DirectSender

            self._direct = DirectSender(self.retry.timeout, concurrency)

    @property
    def client(self) -> openai.AsyncOpenAI:
        # An httpx client is bound to the loop that first used it; a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._make_client()
            self._client_loop = loop
        return self._client

    def _make_client(self) -> openai.AsyncOpenAI:
        c = self.connection
        if self._direct is not None:
            self._direct.rebind()  # its aiohttp session belongs to the old loop, as the client did
        http_client = _http_client(self.retry.timeout, self.concurrency,
                                   self._direct.remember if self._direct is not None else None)
        if c.is_azure:
            endpoint, query = _split_query(c.azure_endpoint)
            auth: dict[str, Any] = {"api_key": c.api_key}
            if c.auth == "entra":
                from promptwise.engine.entra import EntraTokens

                self._tokens = EntraTokens(c.label())
                auth = {"azure_ad_token_provider": self._tokens}
            return openai.AsyncAzureOpenAI(
                azure_endpoint=endpoint, api_version=c.api_version, default_query=query, **auth,
                max_retries=0, timeout=self.retry.timeout, http_client=http_client)
        base_url, query = _split_query(c.base_url)
        return openai.AsyncOpenAI(
            api_key=c.api_key or "unused", base_url=base_url, organization=c.organization, default_query=query,
            max_retries=0, timeout=self.retry.timeout, http_client=http_client)

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
                if self._direct is not None:
                    await self._direct.aclose()
                if self._tokens is not None:
                    await self._tokens.aclose()
            except RuntimeError:  # its loop is gone already
                pass
            self._client = self._tokens = None

    async def _post(self, path: str, model: str, content: bytes | None, body: dict | None = None) -> Any:
        """POST a JSON request: straight through aiohttp once the SDK has sent one like it
        (engine/direct_http.py), else through the SDK's raw-request API, recording its request."""
        client = self.client  # (re)binds the clients to the running loop first
        direct = self._direct
        if direct is not None and direct.knows(path, model):
            if content is None:
                content = _encode(body)
            return await direct.post(path, model, content)
        post = {"content": content} if content is not None else {"body": body}
        if direct is None:
            return json.loads(await client.post(path, cast_to=bytes, **post))
        with direct.recording(path, model):
            return json.loads(await client.post(path, cast_to=bytes, **post))

    def model_for(self, model: str | None, deployment: str | None) -> str:
        """What goes in the request's `model`: the deployment on Azure, else the model."""
        if self.connection.is_azure:
            name = deployment or self.connection.azure_deployment or model
        else:
            name = model or deployment
        if not name:
            raise ProviderError(
                f"no model given for connection `{self.connection.name}`; set `model` (or `deployment_name` "
                f"on Azure) in the node or prompty, or defaults.model in promptwise.yaml", "bad_request")
        return name

    async def chat(
        self,
        model: str,
        messages: list[dict],
        params: dict[str, Any] | None = None,
        on_retry: RetryListener | None = None,
        on_delta: Callable[[str], None] | None = None,
        reasoning: bool = False,
    ) -> ChatResult:
        """One chat completion, retried per the policy. Raises ProviderError when it fails for good.

        With `on_delta`, the reply is requested as a stream and each piece of its text is passed
        to `on_delta` as it arrives (engine/streaming.py); the result is the same whole reply.
        `reasoning`: the catalog knows `model` as a reasoning model (see engine/model_parameters.py:
        its `max_tokens` is sent as `max_completion_tokens`). A 400 refusing `max_tokens` or a
        sampling parameter is asked again without it, once per parameter."""
        given = {key: value for key, value in (params or {}).items() if value is not None}
        while True:
            request = model_parameters.adapted(model, given, reasoning)
            try:
                return await self._chat(model, messages, request, on_retry, on_delta)
            except ProviderError as error:
                if error.refused is None or not model_parameters.learn(model, error.refused, request):
                    raise

    async def _chat(self, model: str, messages: list[dict], request: dict, on_retry: RetryListener | None,
                    on_delta: Callable[[str], None] | None) -> ChatResult:
        if on_delta is not None:
            response, latency_ms, attempts = await self._with_retries(
                lambda: _streamed_chat(self.client, model, messages, request, on_delta), on_retry)
            return _result(response, latency_ms, attempts)
        body = {"model": model, "messages": messages, **request}
        # `client.post` (the SDK's raw-request API) instead of `chat.completions.create`: the typed
        # call transforms params and builds pydantic models at ~2 ms CPU per request (measured),
        # which made the client the bottleneck of a batch. Auth, Azure deployment routing, and
        # errors (APIStatusError & co) are the SDK's either way; after the first call, `_post`
        # sends the SDK's request through aiohttp alone. `cast_to=bytes` skips decoding the body
        # to text first; json.loads reads bytes.
        # Serialized once here, retries included: as `body`, the SDK would deep-copy the messages
        # and encode them again on every attempt. Azure's first call gives the SDK the body: its
        # client reads `model` from it to route to /deployments/{model}/...
        content = None if self.connection.is_azure and not self._knows("/chat/completions", model) else _encode(body)

        async def call():
            return await self._post("/chat/completions", model, content, body)

        response, latency_ms, attempts = await self._with_retries(call, on_retry)
        return _result(response, latency_ms, attempts)

    def _knows(self, path: str, model: str) -> bool:
        return self._direct is not None and self._direct.knows(path, model)

    async def embed(self, model: str, text: str | list[str], on_retry: RetryListener | None = None) -> EmbeddingResult:
        """Embeddings for one text (or several), retried per the policy."""
        body = {"model": model, "input": text}

        async def call():
            return await self._post("/embeddings", model, None, body)

        response, latency_ms, attempts = await self._with_retries(call, on_retry)
        try:
            vectors = [item["embedding"] for item in response["data"]]
            tokens = int((response.get("usage") or {}).get("prompt_tokens") or 0)
        except (KeyError, TypeError, ValueError):
            raise ProviderError("the endpoint answered embeddings without `data[].embedding`", "malformed", None,
                                attempts) from None
        return EmbeddingResult(vectors[0] if isinstance(text, str) else vectors,
                               Usage(tokens, 0, tokens), str(response.get("model") or ""), latency_ms, attempts)

    async def _pause_for_rate_limit(self) -> None:
        """Adaptive back-off: after a 429, every call on this connection waits out the Retry-After,
        instead of each row discovering the limit with a request of its own."""
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _with_retries(self, call, on_retry: RetryListener | None):
        attempt = 0
        limit = self.limit
        while True:
            attempt += 1
            # Read before any waiting: a call that was already on its way when the limit was cut
            # (waiting for the pause, a slot or its pacing turn) belongs to the bunch that was cut.
            cuts_seen = limit.cuts
            if self._paused_until:
                await self._pause_for_rate_limit()
            now = time.monotonic()
            slot = max(now, self._next_start)  # pacing: see MIN_CALL_SPACING
            self._next_start = slot + self._spacing
            if slot > now:
                await asyncio.sleep(slot - now)
            if not limit.try_acquire():
                await limit.acquire()
            started = time.perf_counter()
            try:
                response = await call()
            except asyncio.CancelledError:
                raise
            except Exception as caught:  # classified below; nothing escapes unexplained
                error = caught
            else:
                limit.succeeded()
                self.answered = True
                latency = time.perf_counter() - started
                self._fastest = min(latency, self._fastest * FASTEST_DRIFT)
                self._spacing = call_spacing(self._fastest, limit.limit)
                return response, latency * 1000, attempt
            finally:
                limit.release()  # here, not after the back-off below: a waiting call holds no slot
            kind, status, retryable, description = classify(error)
            if _is_overload(kind, status) and limit.overloaded(cuts_seen):
                log.debug("connection %s overloaded (%s): at most %d calls in flight now", self.connection.name,
                          kind, limit.allowed)
            if status is not None:
                self.answered = True
            retry_after = _retry_after(error)
            give_up = (not retryable or attempt >= self.retry.max_attempts
                       or (retry_after is not None and retry_after > self.retry.max_retry_after)
                       # An endpoint that never answered is most likely down: say so in a second,
                       # rather than after minutes of back-off.
                       or (kind == "unreachable" and not self.answered and attempt >= 2))
            if give_up:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                if kind == "unreachable":
                    c = self.connection
                    raise ProviderError(f"could not connect to {c.endpoint} ({c.label()}): {description}{tries}; "
                                        f"start the server or fix the connection's endpoint", kind, None,
                                        attempt) from None
                refused = model_parameters.refused_parameter(error) if kind == "bad_request" else None
                raise ProviderError(f"{description}{tries}", kind, status, attempt, refused, retry_after) from None
            delay = self.retry.backoff(attempt, retry_after)
            if kind == "rate_limit":
                self._paused_until = max(self._paused_until, time.monotonic() + delay)
            log.debug("attempt %d failed (%s); retrying in %.2fs", attempt, kind, delay)
            if on_retry is not None:
                on_retry(attempt, kind, delay)
            await asyncio.sleep(delay)


def _encode(body: dict) -> bytes:
    """The request body as json.dumps(body, ensure_ascii=False, default=str) writes it, with the C
    encoder built once (promptwise/json_text.py): json.dumps builds it again per call, 3.4 of
    its 14.9 us on a 3 KB chat request (measured)."""
    return _encode_text(body).encode("utf-8")


_encode_text = encoder(str)


@dataclass
class EmbeddingResult:
    embedding: list  # one vector, or a list of vectors for a list input
    usage: Usage
    model: str
    latency_ms: float
    attempts: int = 1


def _result(response: Any, latency_ms: float, attempts: int) -> ChatResult:
    """A ChatResult from the response JSON; anything not shaped like a chat completion is `malformed`."""
    try:
        choice = response["choices"][0]
        raw_message = choice.get("message") or {}
        message = {"role": "assistant", "content": raw_message.get("content")}
        if raw_message.get("tool_calls"):
            message["tool_calls"] = raw_message["tool_calls"]
        raw_usage = response.get("usage") or {}
        details = raw_usage.get("prompt_tokens_details") or {}
        prompt, completion = int(raw_usage.get("prompt_tokens") or 0), int(raw_usage.get("completion_tokens") or 0)
        usage = Usage(prompt, completion, int(raw_usage.get("total_tokens") or prompt + completion),
                      int(details.get("cached_tokens") or 0))
        return ChatResult(message, usage, str(response.get("model") or ""), choice.get("finish_reason"),
                          latency_ms, attempts, response_id=str(response.get("id") or "") or None)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        raise ProviderError("the endpoint answered without a chat completion (no `choices[0].message`)",
                            "malformed", None, attempts) from None


class StreamBroken(Exception):
    """A streamed reply failed after some of it was passed on: retrying would repeat it."""


async def _streamed_chat(client, model: str, messages: list[dict], request: dict, on_delta) -> dict:
    """A streamed chat completion, its pieces passed to `on_delta`, gathered into the response
    JSON a plain call returns (content, tool calls, finish reason, usage). Cancelling the caller
    closes the stream's HTTP response, so the endpoint stops generating."""
    stream = await client.chat.completions.create(model=model, messages=messages, stream=True,
                                                  stream_options={"include_usage": True}, **request)
    parts: list[str] = []
    tool_calls: dict[int, dict] = {}
    finish_reason = None
    usage = None
    model_name = ""
    response_id = None
    passed_on = 0
    try:
        async for chunk in stream:
            model_name = chunk.model or model_name
            response_id = chunk.id or response_id
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            for choice in chunk.choices[:1]:
                finish_reason = choice.finish_reason or finish_reason
                delta = choice.delta
                if delta.content:
                    parts.append(delta.content)
                    passed_on += 1
                    on_delta(delta.content)
                for call in delta.tool_calls or ():
                    merged = tool_calls.setdefault(call.index, {"id": None, "type": "function",
                                                                "function": {"name": "", "arguments": ""}})
                    merged["id"] = call.id or merged["id"]
                    if call.function is not None:
                        merged["function"]["name"] += call.function.name or ""
                        merged["function"]["arguments"] += call.function.arguments or ""
    except Exception as error:
        if passed_on:
            raise StreamBroken(f"the reply stream broke after {passed_on} pieces ({type(error).__name__}: "
                               f"{error})") from None
        raise
    finally:
        await stream.close()
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts) if parts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
    return {"id": response_id, "model": model_name, "choices": [{"message": message, "finish_reason": finish_reason}],
            "usage": usage or {}}


class ProviderPool:
    """One Provider per connection for the life of a run (so HTTP connections are reused)."""

    def __init__(self, retry: RetryPolicy | None = None, concurrency: int = 16) -> None:
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self._providers: dict[Connection, Provider] = {}

    def get(self, connection: Connection) -> Provider:
        provider = self._providers.get(connection)
        if provider is None:
            provider = self._providers[connection] = Provider(connection, self.retry, self.concurrency)
        return provider

    def answered(self) -> bool:
        return any(provider.answered for provider in self._providers.values())

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()

