"""Model calls for a run: connection, response cache, provider call, cost.

One `LlmService` per run holds the connection resolver, the providers (one HTTP client per
connection), the response cache and the model catalog, and turns a chat request into a
`NodeResult`-ready `LlmCall`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from promptwise.engine import model_parameters, spans, usage
from promptwise.engine import streaming
from promptwise.engine.cache import ResponseCache, request_key
from promptwise.engine.connections import Connection, ConnectionConfigError, ConnectionResolver
from promptwise.engine.errors import FlowError, NodeError
from promptwise.engine.providers import (
    CHAT_PARAMETERS,
    ChatResult,
    EmbeddingResult,
    ProviderError,
    ProviderPool,
    RetryPolicy,
)

log = logging.getLogger(__name__)

# Legacy function-calling parameters some flows still set.
EXTRA_PARAMETERS = ("functions", "function_call")
_DROP_WHEN_EMPTY = ("stop", "logit_bias", "user", "functions", "function_call", "tools", "tool_choice")


def chat_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """The API parameters among a node's inputs (the rest are template variables).

    Empty values Prompt flow treats as "not set" (stop: [], logit_bias: {}, user: "") are
    dropped, as is `response_format: text` given as a plain string.
    """
    params: dict[str, Any] = {}
    for key in (*CHAT_PARAMETERS, *EXTRA_PARAMETERS):
        if key not in values or values[key] is None:
            continue
        value = values[key]
        if key in _DROP_WHEN_EMPTY and value in ("", [], {}):
            continue
        if key == "response_format":
            if isinstance(value, str):
                value = {"type": value}
            if value == {"type": "text"}:
                continue
        params[key] = value
    return params


@dataclass
class LlmCall:
    result: ChatResult
    model: str  # the name we priced (deployment or model as written)
    cost: float | None  # US dollars; None when the catalog has no price for the model


class LlmService:
    def __init__(
        self,
        resolver: ConnectionResolver,
        *,
        cache: ResponseCache | None = None,
        catalog=None,
        default_model: str | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 16,
    ) -> None:
        self.resolver = resolver
        self.cache = cache
        self.catalog = catalog
        self.default_model = default_model
        self.pool = ProviderPool(retry, concurrency)
        self._prices: dict[tuple, Any] = {}  # (azure, model, reported model) -> catalog entry or None
        self._reasoning: dict[tuple[bool, str], bool] = {}  # (azure, model) -> a reasoning model of OpenAI's
        self.on_retry = None  # set by the batch runner: (attempt, kind, delay) -> None
        self.unreachable_calls = 0  # calls that failed because no endpoint could be reached
        self.last_unreachable: str | None = None  # the message of the latest such failure

    @property
    def endpoint_answered(self) -> bool:
        """Some endpoint of this run has answered a call (so it is up, whatever else fails)."""
        return self.pool.answered()

    def _failed(self, what: str, model: str, connection: Connection, error: ProviderError) -> NodeError:
        if error.kind == "unreachable":  # the message names the endpoint and connection already
            self.unreachable_calls += 1
            self.last_unreachable = str(error)
            return NodeError(f"{what} to {model} failed: {error}", error.kind)
        return NodeError(f"{what} to {model} via connection `{connection.name}` failed: {error}", error.kind,
                         retry_after=error.retry_after)

    def connection(self, name: str | None, *, azure_hint: bool, where: str) -> Connection:
        """Resolve a connection now (before any row runs): a missing variable stops the run here."""
        try:
            return self.resolver.resolve(name, azure_hint=azure_hint)
        except ConnectionConfigError as error:
            raise FlowError(f"{where}: {error}") from None

    def model_name(self, connection: Connection, model: str | None, deployment: str | None, where: str) -> str:
        try:
            return self.pool.get(connection).model_for(model or (None if deployment else self.default_model),
                                                      deployment)
        except ProviderError as error:
            raise FlowError(f"{where}: {error}") from None

    def price(self, connection: Connection, model: str, result: ChatResult) -> float | None:
        entry = self._entry(connection, model, result.model)
        if entry is None:
            return None
        return entry.cost(result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.cached_tokens)

    def _entry(self, connection: Connection, model: str, reported: str | None):
        """The catalog's entry for `model` (or the model the endpoint reported), None if unknown."""
        if self.catalog is None:
            return None
        key = (connection.is_azure, model, reported)
        if key in self._prices:  # a batch asks about the same model on every row
            return self._prices[key]
        entry = None
        for name in (model, reported):
            match = self.catalog.lookup(name, azure=connection.is_azure) if name else None
            if match is not None:
                entry = match.model
                break
        self._prices[key] = entry
        return entry

    def is_reasoning(self, connection: Connection, model: str) -> bool:
        """The catalog knows `model` as one of OpenAI's reasoning models (o-series, gpt-5 family; on
        OpenAI or Azure OpenAI), which take `max_completion_tokens` instead of `max_tokens`
        (engine/model_parameters.py). Other providers' reasoning models (DeepSeek's) take max_tokens."""
        key = (connection.is_azure, model)
        known = self._reasoning.get(key)
        if known is None:
            match = self.catalog.lookup(model, azure=connection.is_azure) if self.catalog is not None else None
            known = self._reasoning[key] = (match is not None and match.model.family == "reasoning"
                                            and match.model.provider in ("openai", "azure_openai"))
        return known

    async def chat(self, connection: Connection, model: str, messages: list[dict], params: dict) -> LlmCall:
        with spans.model_call_span("chat", model, connection, messages, params) as span:
            call = await self._chat(connection, model, messages, params)
            spans.record_chat_result(span, call.result, call.cost)
            usage.add_call(call.result.usage.prompt_tokens, call.result.usage.completion_tokens, call.cost)
            return call

    async def _chat(self, connection: Connection, model: str, messages: list[dict], params: dict) -> LlmCall:
        key = None
        if self.cache is not None:
            key = request_key(connection.describe(), model, messages, params)
            cached = self.cache.get(key)
            if cached is not None:
                # A cached answer costs nothing now; its tokens describe the answer.
                return LlmCall(ChatResult.from_cache(cached), model, 0.0)
        sink = streaming.sink_for_call()  # a caller is waiting for this reply as it is written
        reasoning = self.is_reasoning(connection, model)
        try:
            result = await self.pool.get(connection).chat(model, messages, params, on_retry=self.on_retry,
                                                          on_delta=sink.emit if sink is not None else None,
                                                          reasoning=reasoning)
        except ProviderError as error:
            spans.record_failed_call(spans.current_span(), error)
            raise self._failed("model call", model, connection, error) from None
        except asyncio.CancelledError:
            if sink is not None:  # a streamed reply cut before its usage came (the last chunk)
                await self._bill_cut_stream(connection, model, messages, params, sink.received)
            raise
        if result.finish_reason == "length" and not result.text and not result.message.get("tool_calls"):
            raise self._no_answer(connection, model, params, reasoning, result)
        if key is not None:
            self.cache.put(key, result.to_cache())
        return LlmCall(result, model, self.price(connection, model, result))

    async def _bill_cut_stream(self, connection: Connection, model: str, messages: list[dict], params: dict,
                               received: list[str]) -> None:
        """The endpoint bills a cut stream's prompt and the text it wrote; without this a client could
        leave before the end to spend tokens unmetered. Counted in a thread: the first count in a
        process loads the tokenizer (0.4 s and more), which must not hold the event loop."""
        entry = self._entry(connection, model, None)
        try:
            prompt, completion, cost = await asyncio.to_thread(usage.estimate_cut_call, entry, messages, params,
                                                               list(received))
        except Exception as error:  # never in place of the cancellation itself
            log.warning("could not estimate the tokens of a cut model call to %s: %s", model, error)
            return
        spans.record_estimated_usage(spans.current_span(), prompt, completion, cost)
        usage.add_call(prompt, completion, cost)

    def _no_answer(self, connection: Connection, model: str, params: dict, reasoning: bool,
                   result: ChatResult) -> NodeError:
        """A reply cut at the token limit before any text: a reasoning model that spent the whole
        limit thinking (its thinking counts within max_completion_tokens). Scoring the empty text
        would look like a wrong answer; the row fails saying what to change, its tokens and cost
        kept (they are billed)."""
        sent = model_parameters.adapted(model, params, reasoning)
        name = "max_completion_tokens" if "max_completion_tokens" in sent else "max_tokens"
        limit = f"{name} ({sent[name]})" if name in sent else "its output limit"
        return NodeError(f"model call to {model} returned no text: its {limit} ran out before it answered "
                         f"(finish_reason: length, {result.usage.completion_tokens} completion tokens billed); "
                         f"reasoning models count their reasoning within the limit: raise the node's "
                         f"max_tokens for this model (a few thousand leaves room to think) or set a lower "
                         f"reasoning_effort", "length", LlmCall(result, model, self.price(connection, model, result)))

    async def embed(self, connection: Connection, model: str, text) -> tuple[EmbeddingResult, float | None]:
        """Embeddings (Prompt flow's embedding tool), with their cost."""
        with spans.model_call_span("embeddings", model, connection) as span:
            result, cost = await self._embed(connection, model, text)
            spans.record_embedding_result(span, result, cost)
            usage.add_call(result.usage.prompt_tokens, 0, cost)
            return result, cost

    async def _embed(self, connection: Connection, model: str, text) -> tuple[EmbeddingResult, float | None]:
        try:
            result = await self.pool.get(connection).embed(model, text, on_retry=self.on_retry)
        except ProviderError as error:
            spans.record_failed_call(spans.current_span(), error)
            raise self._failed("embedding call", model, connection, error) from None
        cost = None
        if self.catalog is not None:
            match = self.catalog.lookup(model, azure=connection.is_azure) or (
                self.catalog.lookup(result.model, azure=connection.is_azure) if result.model else None)
            if match is not None:
                cost = match.model.cost(result.usage.prompt_tokens, 0)
        return result, cost

    async def aclose(self) -> None:
        await self.pool.aclose()
