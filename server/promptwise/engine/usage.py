"""Tokens and cost of the model calls made while a tally is open, added as each call returns.

A served request reads its usage from the flow's outcome (its node results). A request that
never gets an outcome — cut by serve.timeout_seconds, or cancelled when its client went away —
has still paid for the model calls that finished before that; the tally is how the server
meters those tokens and that cost, and counts them against the consumer's tokens/min limit.

The tally lives in a ContextVar: the flow's tasks copy the request task's context, so every
call of the request adds to the same tally, and calls of other requests never do. Outside a
tally (run, batch, eval) adding is one ContextVar read.

A streamed call cut before its end (client gone, stream closed, timeout) never gets the usage the
endpoint sends last, yet the endpoint bills the prompt it read and the text it wrote: such a call
is counted by `estimate_cut_call` (tiktoken counts of the rendered messages and the text received,
the catalog's price), and its span says the figures are estimated. Only the cut path tokenizes.
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


def estimate_cut_call(entry, messages: list[dict], params: dict, received: list[str]) -> tuple[int, int, float | None]:
    """(prompt tokens, completion tokens, cost) of a streamed call cut before its usage arrived:
    the messages as sent (with tools / response_format, OpenAI's counting rule) and the text
    received so far, counted with the model's tokenizer (`entry`: its catalog entry, or None:
    the fallback encoding, no price). The endpoint may have written more than we received."""
    from promptwise.costing.catalog import FALLBACK_ENCODING
    from promptwise.costing.counting import count_chat, count_text

    encoding = entry.counting_encoding if entry is not None else FALLBACK_ENCODING
    prompt = count_chat(messages, encoding, tools=params.get("tools"),
                        response_format=params.get("response_format")).total
    completion = count_text("".join(received), encoding) if received else 0
    cost = entry.cost(prompt, completion) if entry is not None else None
    return prompt, completion, cost
