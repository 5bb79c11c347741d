"""Judge calls through the engine's `LlmService`: the workspace's connections, the providers'
retry policy (429/5xx with back-off, `Retry-After`), the response cache, and prices from the
model catalog — the same path a flow's own LLM nodes take.

Cost is returned per call so the evaluation reports it as evaluation cost, apart from what
the flow itself spent; a call served from the cache is priced as the call it replays.
"""

from __future__ import annotations

from promptwise.config import WorkspaceConfig
from promptwise.evaluation.judges import JudgeCallError, JudgeReply


class EngineJudgeTransport:
    def __init__(self, workspace: WorkspaceConfig, *, use_cache: bool = True, retry=None, service=None,
                 concurrency: int = 16) -> None:
        from promptwise.costing.catalog import catalog_for
        from promptwise.engine.cache import ResponseCache
        from promptwise.engine.connections import ConnectionResolver
        from promptwise.engine.llm import LlmService

        self.workspace = workspace
        self._owns_service = service is None
        self.service = service or LlmService(
            ConnectionResolver.for_workspace(workspace),
            cache=ResponseCache(workspace.state_dir) if use_cache else None,
            catalog=catalog_for(workspace),
            retry=retry,
            concurrency=concurrency,
        )

    def preflight(self, model: str, connection: str | None) -> None:
        """Resolve the judge's connection and model now, so a missing variable or model name is
        one clear error before any call. Raises JudgeCallError."""
        from promptwise.engine.errors import FlowError

        where = f"judge model {model}"
        try:
            resolved = self.service.connection(connection, azure_hint=False, where=where)
            self.service.model_name(resolved, model, None, where)
        except FlowError as error:
            raise JudgeCallError(str(error)) from None

    async def chat(self, model: str, messages: list[dict], params: dict, connection: str | None) -> JudgeReply:
        from promptwise.engine.errors import FlowError, NodeError

        where = f"judge model {model}"
        try:
            resolved = self.service.connection(connection, azure_hint=False, where=where)
            request_model = self.service.model_name(resolved, model, None, where)
            call = await self.service.chat(resolved, request_model, messages, params)
        except (FlowError, NodeError) as error:
            raise JudgeCallError(str(error)) from None
        usage = call.result.usage
        # A cached answer is priced as the call it replays: evaluation cost must not depend on the cache.
        cost = self.service.price(resolved, request_model, call.result) if call.result.cached else call.cost
        return JudgeReply(text=call.result.text or "", prompt_tokens=usage.prompt_tokens,
                          completion_tokens=usage.completion_tokens, cost=cost, cached=call.result.cached)

    async def aclose(self) -> None:
        if self._owns_service:
            await self.service.aclose()
            if self.service.cache is not None:
                self.service.cache.close()
