"""The event loop a batch runs on: uvloop's when it is installed, else asyncio's own.

    result = run(run_batch(...))

Why: against a fast endpoint a batch is bound by its own CPU, and a good part of it is the
event loop (timers, callbacks, socket reads and writes). uvloop (libuv, in C) does that work
for less: measured with benchmarks/batch_speed.py at 5 ms and 64 in flight, about a tenth less
CPU per row. It comes with `promptwise[serve]` (uvicorn uses it too) and is optional: without
it (or on Windows, where it does not exist) asyncio's loop runs the same code.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Coroutine

# PROMPTWISE_EVENT_LOOP=asyncio forces asyncio's own loop (to compare, or to rule uvloop out).
_CHOICE = "PROMPTWISE_EVENT_LOOP"


def loop_factory():
    """uvloop's loop factory when it is installed and not turned off, else None (asyncio's)."""
    if os.environ.get(_CHOICE, "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run(main), on uvloop's loop when it is available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def loop_name() -> str:
    """The loop run() would use, for reports: "uvloop" or "asyncio"."""
    return "uvloop" if loop_factory() is not None else "asyncio"
