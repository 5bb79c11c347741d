"""The run store: runs, rows, node results, tokens, cost, latency and errors in SQLite.

`promptwise.store.RunStore` (and the record types) import `run_store` on first use, so that
code which only needs to know where the store lives (`DB_FILE`, e.g. the cost estimate looking
for past runs) does not pay for importing it.
"""

DB_FILE = "runs.sqlite"  # in the workspace's state folder (.promptwise/)

__all__ = ["DB_FILE", "NodeResult", "NodeStats", "RowRecord", "RowResult", "RunInfo", "RunStore"]


def __getattr__(name: str):
    if name in __all__:
        from promptwise.store import run_store

        return getattr(run_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
