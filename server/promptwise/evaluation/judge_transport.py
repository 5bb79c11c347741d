"""Judge calls through the engine: the workspace's connections, the providers' retry policy,
the response cache when the engine offers one, and prices from the model catalog.

Cost is returned per call so the evaluation can report it as evaluation cost, separate from
what the flow itself spent.
"""

from __future__ import annotations

import logging
from typing import Any

from promptwise.config import WorkspaceConfig
from promptwise.evaluation.judges import JudgeCallError, JudgeReply

log = logging.getLogger(__name__)


class EngineJudgeTransport:
    def __init__(self, workspace: WorkspaceConfig, *, use_cache: bool = True, retry=None) -> None:
        from promptwise.engine.connections import ConnectionResolver
        from promptwise.engine.providers import ProviderPool

        self.workspace = workspace
        self.resolver = ConnectionResolver.for_workspace(workspace)
        self.pool = ProviderPool(retry)
        self.cache = _open_cache(workspace) if use_cache else None
        self._catalog = None

    def _price(self, model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int, azure: bool) -> float | None:
        if self._catalog is None:
            from promptwise.costing.catalog import catalog_for

            self._catalog = catalog_for(self.workspace)
        match = self._catalog.lookup(model, azure=azure)
        if match is None:
            return None
        return match.model.cost(prompt_tokens, completion_tokens, cached_tokens)

    async def chat(self, model: str, messages: list[dict], params: dict, connection: str | None) -> JudgeReply:
        from promptwise.engine.connections import ConnectionConfigError
        from promptwise.engine.providers import ProviderError

        try:
            resolved = self.resolver.resolve(connection)
        except ConnectionConfigError as error:
            raise JudgeCallError(str(error)) from None
        provider = self.pool.get(resolved)
        request_model = provider.model_for(model, None)
        cache_key = None
        result = None
        if self.cache is not None:
            cache_key = _cache_key(self.cache, resolved, request_model, messages, params)
            result = _cache_get(self.cache, cache_key)
        if result is None:
            try:
                result = await provider.chat(request_model, messages, params)
            except ProviderError as error:
                raise JudgeCallError(str(error)) from None
            if self.cache is not None and cache_key is not None:
                _cache_put(self.cache, cache_key, result)
        usage = result.usage
        cost = 0.0 if result.cached else self._price(model, usage.prompt_tokens, usage.completion_tokens,
                                                      usage.cached_tokens, resolved.is_azure)
        return JudgeReply(text=result.text or "", prompt_tokens=usage.prompt_tokens,
                          completion_tokens=usage.completion_tokens, cost=cost, cached=result.cached)

    async def aclose(self) -> None:
        await self.pool.aclose()


# ----- the engine's response cache, when it exists (it is H4's; we only call it) -----


def _open_cache(workspace: WorkspaceConfig) -> Any:
    try:
        from promptwise.engine import cache as cache_module
    except ImportError:
        return None
    opener = getattr(cache_module, "ResponseCache", None)
    if opener is None:
        return None
    try:
        if hasattr(opener, "for_workspace"):
            return opener.for_workspace(workspace)
        return opener(workspace.state_dir)
    except Exception as error:  # a broken cache must not stop an evaluation; it only costs more
        log.warning("response cache unavailable for judges: %s", error)
        return None


def _cache_key(cache: Any, connection, model: str, messages: list[dict], params: dict) -> Any:
    make_key = getattr(cache, "key", None) or getattr(cache, "make_key", None)
    if make_key is None:
        return None
    try:
        return make_key(connection=connection, model=model, messages=messages, params=params)
    except TypeError:
        return None


def _cache_get(cache: Any, key: Any):
    if key is None:
        return None
    try:
        return cache.get(key)
    except Exception as error:
        log.warning("response cache read failed: %s", error)
        return None


def _cache_put(cache: Any, key: Any, result) -> None:
    try:
        cache.put(key, result)
    except Exception as error:
        log.warning("response cache write failed: %s", error)
