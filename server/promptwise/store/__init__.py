"""The run store: runs, rows, node results, tokens, cost, latency and errors in SQLite."""

from promptwise.store.run_store import NodeResult, NodeStats, RowRecord, RowResult, RunInfo, RunStore

__all__ = ["NodeResult", "NodeStats", "RowRecord", "RowResult", "RunInfo", "RunStore"]
