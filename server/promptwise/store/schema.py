"""The run store's SQLite schema and how a connection to it is opened.

One file, `<workspace>/.promptwise/runs.sqlite`, in WAL mode so the language server can read
while a run writes. Each finished row is written in one transaction together with its node
results, so a run killed at any moment (even `kill -9`) leaves only whole rows behind.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 2  # 2: runs.content_hash (lineage of packaged versions)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY,
    flow TEXT NOT NULL,            -- absolute path of the flow file or folder
    kind TEXT NOT NULL,            -- single | batch
    status TEXT NOT NULL,          -- running | completed | failed | canceled (readers show a running run
                                   -- whose process is gone as `interrupted`)
    created_at REAL NOT NULL,
    finished_at REAL,
    data TEXT,                     -- the data file of a batch
    column_mapping TEXT,           -- JSON
    variants TEXT,                 -- JSON: node -> variant id
    parameters TEXT,               -- JSON: concurrency, cache, ...
    connection TEXT,               -- JSON: name, type, endpoint (never a secret)
    total_rows INTEGER,
    error TEXT,
    metrics TEXT,                  -- JSON: outputs of aggregation nodes
    outputs_path TEXT,             -- the run's outputs JSONL file
    source_run TEXT,               -- the run whose outputs fed this one (${run.outputs.x})
    content_hash TEXT              -- documents.content_hash.flow_content_hash of what ran (lineage)
);
CREATE TABLE IF NOT EXISTS rows (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    line INTEGER NOT NULL,         -- 0-based index of the input row (messages show the 1-based file line)
    status TEXT NOT NULL,          -- completed | failed
    inputs TEXT NOT NULL,          -- JSON
    outputs TEXT,                  -- JSON
    error TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,                     -- US dollars; NULL when a model's price is unknown
    latency_ms REAL,
    llm_calls INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0,
    finished_at REAL NOT NULL,
    PRIMARY KEY (run, line)
);
CREATE TABLE IF NOT EXISTS node_results (
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    line INTEGER NOT NULL,         -- -1 for aggregation nodes (run once over all rows)
    node TEXT NOT NULL,
    status TEXT NOT NULL,          -- completed | failed | skipped
    output TEXT,                   -- JSON
    error TEXT,
    model TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL,
    latency_ms REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, line, node)
);
CREATE INDEX IF NOT EXISTS node_results_by_node ON node_results(node, run);
CREATE INDEX IF NOT EXISTS runs_by_flow ON runs(flow, created_at);
"""


class DamagedDatabase(sqlite3.DatabaseError):
    """A file of ours under .promptwise/ that SQLite cannot read: named, with what to do."""

    def __init__(self, path: Path, error: Exception, what: str) -> None:
        super().__init__(f"{path}: not a readable SQLite database ({error}); it is damaged or was overwritten: move "
                         f"it aside and run again (Promptwise starts a new one; {what})")
        self.path = path


def connect(path: Path, *, readonly: bool = False, schema: str = SCHEMA, version: int = SCHEMA_VERSION,
            what: str = "the runs it held will not be listed", shared: bool = False) -> sqlite3.Connection:
    """Open the store (creating it unless read-only) with the settings every user needs. The
    span store (tracing/store.py) opens its own file the same way, with its own `schema`.
    `shared`: a file other machines open too (a registry in a shared folder): a rollback
    journal, since WAL needs shared memory on one host and does not work over a network file system."""
    try:
        return _connect(path, readonly=readonly, schema=schema, version=version, shared=shared)
    except sqlite3.DatabaseError as error:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            raise  # busy, not damaged
        raise DamagedDatabase(path, error, what) from None


def _connect(path: Path, *, readonly: bool = False, schema: str = SCHEMA,
             version: int = SCHEMA_VERSION, shared: bool = False) -> sqlite3.Connection:
    if readonly:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 30000")
    connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the header: a damaged file fails here
    if not readonly:
        # WAL: readers never block the writer; NORMAL sync survives a killed process (not power loss).
        connection.execute(f"PRAGMA journal_mode = {'DELETE' if shared else 'WAL'}")
        connection.execute(f"PRAGMA synchronous = {'FULL' if shared else 'NORMAL'}")
        connection.execute("PRAGMA foreign_keys = ON")
        connection.executescript(schema)
        connection.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(version),))
        if schema is SCHEMA:
            _migrate(connection)
    return connection


def add_column(connection: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Add `column` to a store made by an older Promptwise (CREATE TABLE IF NOT EXISTS leaves an
    existing table as it was). Two processes may race here: the loser's duplicate is harmless."""
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    if column in columns:
        return
    try:
        connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    except sqlite3.OperationalError as error:
        if "duplicate column" not in str(error):
            raise


def _migrate(connection: sqlite3.Connection) -> None:
    """Version 1 -> 2: runs record the content hash of the flow they ran. A store already at the
    current version costs one read here, no write."""
    done = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'runs_by_content'")
    if done.fetchone() is not None:  # made by this version, or migrated already
        return
    add_column(connection, "runs", "content_hash", "TEXT")
    connection.execute("CREATE INDEX IF NOT EXISTS runs_by_content ON runs(content_hash, created_at)")
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?",
                       (str(SCHEMA_VERSION), SCHEMA_VERSION))
