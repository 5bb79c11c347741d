"""Opening the span store for monitoring: the store's own connect (one place for SQLite
settings and the damaged-file error), plus the monitor's indexes when the file is writable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from promptwise.monitoring.aggregates import ensure_indexes
from promptwise.store.schema import connect
from promptwise.tracing.store import SCHEMA, SCHEMA_VERSION, store_path


def open_traces(workspace_root: Path) -> sqlite3.Connection | None:
    """A connection to the workspace's traces.sqlite, or None when nothing was traced yet.
    Opened for writing only to add the monitor's indexes; falls back to read-only when the
    file or folder cannot be written (a copied store, a read-only mount)."""
    path = store_path(workspace_root)
    if not path.is_file():
        return None
    try:
        connection = connect(path, schema=SCHEMA, version=SCHEMA_VERSION, what="no figures can be computed")
        ensure_indexes(connection)
    except sqlite3.OperationalError:
        connection = connect(path, readonly=True, schema=SCHEMA, version=SCHEMA_VERSION,
                             what="no figures can be computed")
    # The monitor's GROUP BY sorts every row of the window: keep the sorter's runs in memory
    # rather than in temporary files.
    connection.execute("PRAGMA temp_store = MEMORY")
    return connection
