"""Tokens and cost of the model calls made while a tally is open, added as each call returns.

A served request reads its usage from the flow's outcome (its node results). A request that
never gets an outcome — cut by serve.timeout_seconds, or cancelled when its client went away —
has still paid for the model calls that finished before that; the tally is how the server
meters those tokens and that cost, and counts them against the consumer's tokens/min limit.

The tally lives in a ContextVar: the flow's tasks copy the request task's context, so every
call of the request adds to the same tally, and calls of other requests never do. Outside a
tally (run, batch, eval) adding is one ContextVar read.
"""

from __future__ import annotations

from contextvars import ContextVar


class Tally:
    __slots__ = ("prompt_tokens", "completion_tokens", "cost", "calls")

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost: float | None = None  # None while no call had a known price
        self.calls = 0


_current: ContextVar[Tally | None] = ContextVar("promptwise_usage_tally", default=None)


def open_tally() -> tuple[Tally, object]:
    """A new tally for the calls made from here on in this context; `close_tally(token)` ends it."""
    tally = Tally()
    return tally, _current.set(tally)


def close_tally(token) -> None:
    _current.reset(token)


def add_call(prompt_tokens: int | None, completion_tokens: int | None, cost: float | None) -> None:
    """One finished model call (a cached answer too, as its node result counts it)."""
    tally = _current.get()
    if tally is None:
        return
    tally.calls += 1
    tally.prompt_tokens += prompt_tokens or 0
    tally.completion_tokens += completion_tokens or 0
    if cost is not None:
        tally.cost = (tally.cost or 0.0) + cost
