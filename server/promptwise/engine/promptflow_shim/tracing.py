"""`promptflow.tracing`: tracing is Promptwise's job (the run store), so these do nothing."""

from __future__ import annotations

from typing import Any, Callable


def trace(func: Callable | None = None, **kwargs: Any) -> Callable:
    if func is None:
        return lambda inner: inner
    return func


def start_trace(*args: Any, **kwargs: Any) -> None:
    return None
