"""`promptflow.core` as tool code uses it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Callable

# The metrics of the aggregation call in progress (the engine sets a fresh dict per call).
current_metrics: contextvars.ContextVar[dict | None] = contextvars.ContextVar("promptwise_metrics", default=None)


def tool(func: Callable | None = None, *, name: str | None = None, description: str | None = None,
         type: str | None = None, input_settings: Any = None, streaming_option_parameter: str | None = None,
         **kwargs: Any) -> Callable:
    """`@tool` and `@tool(...)`: marks a function as a tool and returns it unchanged."""

    def mark(function: Callable) -> Callable:
        function.__tool = True  # type: ignore[attr-defined]
        function.__promptflow_tool_name = name or function.__name__  # type: ignore[attr-defined]
        return function

    return mark(func) if func is not None else mark


def log_metric(key: str, value: Any, variant_id: str | None = None) -> None:
    """Record a metric of an aggregation node; the run stores it with its metrics."""
    metrics = current_metrics.get()
    if metrics is not None:
        metrics[key] = value


class ToolProvider:
    """Base class of class-based tools; the engine creates it with the node's init inputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class AzureOpenAIModelConfiguration:
    azure_deployment: str
    azure_endpoint: str | None = None
    api_version: str | None = None
    api_key: str | None = None
    connection: str | None = None


@dataclass
class OpenAIModelConfiguration:
    model: str
    base_url: str | None = None
    api_key: str | None = None
    organization: str | None = None
    connection: str | None = None



class Prompty:
    """`Prompty.load(source=..., model={...})(**inputs)`: runs through the Promptwise engine."""

    def __init__(self, source: Any, model: Any = None, **kwargs: Any) -> None:
        self.source = source
        self.model = model

    @classmethod
    def load(cls, source: Any, model: Any = None, **kwargs: Any) -> "Prompty":
        return cls(source, model, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from promptwise.engine.inline import call_prompty_sync

        return call_prompty_sync(self.source, self.model, kwargs)


class AsyncPrompty(Prompty):
    async def __call__(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        from promptwise.engine.inline import call_prompty

        return await call_prompty(self.source, self.model, kwargs)
