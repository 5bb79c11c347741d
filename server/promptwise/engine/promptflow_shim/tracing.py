"""`promptflow.tracing`: `@trace` makes each call of the decorated function a span (with its
inputs and output when content capture is on), a child of the node or flow that called it, in
Promptwise's traces (`promptwise traces`) and any OTLP backend they are exported to.

`start_trace` does nothing: Promptwise traces every run already (`tracing:` in promptwise.yaml).
"""

from __future__ import annotations

from typing import Any, Callable

from promptwise.engine.spans import trace_function


def trace(func: Callable | None = None, **kwargs: Any) -> Callable:
    if func is None:  # @trace(...) with arguments
        return trace_function
    return trace_function(func)


def start_trace(*args: Any, **kwargs: Any) -> None:
    return None
