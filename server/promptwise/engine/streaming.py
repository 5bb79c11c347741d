"""Token streaming out of a running flow, for callers that want a reply as it is written.

A caller (the server answering `Accept: text/event-stream`) sets `active` to a `TokenSink` for
the row it runs. The model call that produces the streamed output (any call of a prompty; in a
DAG, the llm node the sink names) then asks the endpoint for a stream and hands each piece of
text to the sink as it arrives; the row itself finishes exactly as it would without a sink,
with the whole reply, tokens and cost. One code path: `run` and `serve` execute the same nodes.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar

# The sink of the row being run (None: nobody is listening, calls are not streamed).
active: ContextVar["TokenSink | None"] = ContextVar("promptwise_token_sink", default=None)
# The DAG node whose code is running (set by the DAG executor around each node).
current_node: ContextVar[str | None] = ContextVar("promptwise_current_node", default=None)


class TokenSink:
    """Receives the text of one model call as it streams. `nodes`: the node names whose call
    may stream (None: the first call, as for a prompty)."""

    def __init__(self, nodes: frozenset[str] | None = None) -> None:
        self.nodes = nodes
        self.queue: asyncio.Queue = asyncio.Queue()
        self.claimed = False
        self.first_token_at: float | None = None  # time.perf_counter() of the first piece
        self.received: list[str] = []  # the text so far: a call cut before its usage is billed by it

    def claim(self, node: str | None) -> bool:
        """Whether the call about to start (in `node`) is the one to stream; only one is."""
        if self.claimed or (self.nodes is not None and node not in self.nodes):
            return False
        self.claimed = True
        return True

    def emit(self, text: str) -> None:
        if text:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self.queue.put_nowait(text)
            self.received.append(text)


def sink_for_call() -> TokenSink | None:
    """The sink the model call starting now should stream to, if any."""
    sink = active.get()
    if sink is not None and sink.claim(current_node.get()):
        return sink
    return None


# --- generator outputs ---------------------------------------------------------------------
async def join_generators(outcome, executor):
    """A row's outputs with each generator (a python node's or a flex entry's `yield`) read to
    its end and joined, as Prompt flow does outside serving: "".join when every item is text,
    else the list. `run`, `batch` and evaluations store and print that; `serve` streams the
    generator itself instead. A sync generator is read in `executor` (user code may block)."""
    from collections.abc import AsyncIterator, Iterator

    outputs = outcome.outputs
    if not outputs or not any(isinstance(value, (Iterator, AsyncIterator)) and not isinstance(value, (str, bytes))
                              for value in outputs.values()):
        return outcome
    import contextvars
    import functools

    joined: dict[int, object] = {}
    for value in outputs.values():
        if isinstance(value, AsyncIterator):
            items = [item async for item in value]
        elif isinstance(value, Iterator) and not isinstance(value, (str, bytes)):
            # the caller's context goes along: spans the generator's code opens nest in the row's
            run = functools.partial(contextvars.copy_context().run, list, value)
            items = await asyncio.get_running_loop().run_in_executor(executor, run)
        else:
            continue
        joined[id(value)] = "".join(items) if all(isinstance(item, str) for item in items) else items

    def swap(value):
        return joined.get(id(value), value)

    outcome.outputs = {key: swap(value) for key, value in outputs.items()}
    outcome.node_outputs = {key: swap(value) for key, value in outcome.node_outputs.items()}
    for node in outcome.nodes:
        node.output = swap(node.output)
    return outcome

