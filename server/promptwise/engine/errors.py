"""Errors the engine reports: each names the file and line, what is wrong, and what to do."""

from __future__ import annotations

from pathlib import Path

from promptwise.engine.secrets import redact


class FlowError(Exception):
    """The flow cannot run at all (found before any row starts)."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class NodeError(Exception):
    """One node failed on one row; the row is recorded as failed and the run goes on. `call`: a
    model call that was answered (and billed) although the node failed, so its tokens and cost
    are kept with the failed node."""

    def __init__(self, message: str, kind: str = "error", call=None, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.kind = kind
        self.call = call
        self.retry_after = retry_after  # a model endpoint's asked-for wait (ProviderError.retry_after)


class RunCanceled(Exception):
    """The run was canceled (by the editor or Ctrl+C); finished rows are kept."""


def where(path: Path | str, range_=None) -> str:
    """`file:line` (1-based) for messages."""
    if range_ is None:
        return str(path)
    return f"{path}:{range_.start.line + 1}"
