"""Run flows: the engine (DAG, flex, prompty), providers, batch runs, cache.

Entry points for the CLI and the language server:

    from promptwise.engine import run_flow, run_batch, FlowError
    result = await run_flow(path, inputs, variants)        # -> FlowRunResult (.as_dict())
    result = await run_batch(path, data, concurrency=16,   # -> BatchResult (.as_dict())
                             on_progress=callback, cancel=asyncio.Event())

Both raise FlowError (one line: file:line, what is wrong, what to do) for flows that cannot
start; rows that fail are recorded with their error and the run goes on.
"""

import importlib

# Loaded on first use: the openai client should not be imported by everything that touches
# this package.
_EXPORTS = {
    "BatchProgress": "promptwise.engine.batch",
    "BatchResult": "promptwise.engine.batch",
    "run_batch": "promptwise.engine.batch",
    "FlowError": "promptwise.engine.errors",
    "FlowRunResult": "promptwise.engine.runner",
    "resolve_flow_path": "promptwise.engine.flow_path",
    "run_flow": "promptwise.engine.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'promptwise.engine' has no attribute {name!r}")
