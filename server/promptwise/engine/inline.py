"""Model calls made from inside the user's Python code (flex flows), through the engine.

Flex code written for Prompt flow calls `Prompty.load(source=..., model=...)(**inputs)` from
`promptflow.core`. The shim's Prompty lands here: the call runs on the run's event loop with
the run's connections, cache and prices, and its tokens and cost are added to the row that made
it (as extra node results), so flex runs report usage like DAG runs do.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.engine.errors import FlowError
from promptwise.engine.executable import RunContext
from promptwise.store.run_store import NodeResult


@dataclass
class InlineRun:
    loop: asyncio.AbstractEventLoop
    context: RunContext
    nodes: list[NodeResult] = field(default_factory=list)
    folder: Path | None = None  # the flow's folder: Prompt flow runs flex code from there


active: contextvars.ContextVar[InlineRun | None] = contextvars.ContextVar("promptwise_inline_run", default=None)


def _current() -> InlineRun:
    run = active.get()
    if run is None:
        raise RuntimeError("Prompty from the promptflow stand-in runs only inside `promptwise run`/`promptwise batch`")
    return run


async def call_prompty(source: str | Path, model: Any, inputs: dict, run: InlineRun | None = None) -> Any:
    from promptwise.documents.load import load_document
    from promptwise.engine.prompty import PromptyExecutable

    run = run or _current()
    path = Path(source)
    if not path.is_absolute() and run.folder is not None and (run.folder / path).exists():
        path = run.folder / path  # relative to the flow's folder, Prompt flow's working directory
    path = path.resolve()
    key = ("inline-prompty", str(path), repr(model))
    executable = run.context.instances.get(key)
    if executable is None:
        document = load_document(path)
        if getattr(document, "kind", None) != "prompty":
            raise FlowError(f"{path}: Prompty.load needs a .prompty file")
        from promptwise.engine.secrets import refuse_literal_secrets

        refuse_literal_secrets(document, path)
        override = model if isinstance(model, dict) else ({"configuration": model} if model is not None else None)
        executable = PromptyExecutable(document, run.context.llm, override)
        run.context.instances[key] = executable
    outcome = await executable.run_line(executable.bind(inputs), run.context)
    run.nodes.extend(outcome.nodes)
    if outcome.status != "completed":
        raise RuntimeError(outcome.error)
    return next(iter(outcome.node_outputs.values()))


def call_prompty_sync(source: str | Path, model: Any, inputs: dict) -> Any:
    run = _current()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # a worker thread, as sync tools run: hand the call to the run's loop
    else:
        raise RuntimeError("a sync Prompty was called from async code; use `await AsyncPrompty.load(...)(...)`")
    return asyncio.run_coroutine_threadsafe(call_prompty(source, model, inputs, run), run.loop).result()
