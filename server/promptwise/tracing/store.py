"""The local span store: `<workspace>/.promptwise/traces.sqlite`, beside the run store.

Two tables. `spans` holds every finished span (times in Unix nanoseconds, all attributes as
JSON, plus the few columns that lists and charts filter or add up). `traces` holds one
summary row per trace, kept up to date as its spans arrive (in any order): the root span's
name, times and status, the flow / version / consumer / run it belongs to, and totals of
tokens, cost, model calls and cache hits over its model-call spans. Monitoring reads the
summary rows (indexed by time, flow, version, consumer and run) without touching the spans.

A separate file from runs.sqlite so span writes never wait on the run store's writer; WAL,
so `promptwise traces` and the editor read while a batch writes.

With `tracing.encrypt` (store/encryption.py) a keyring seals the content a span carries (content
attributes inside the attributes JSON, the events, the error message) as it is written, and
opens it in `get_trace`; every other column stays plain for SQL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from promptwise import span_attributes as attrs
from promptwise.json_text import encoder
from promptwise.store.encryption import is_sealed, sealed_key_id
from promptwise.store.schema import connect

DB_FILE = "traces.sqlite"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,        -- 32 lowercase hex digits, as OTLP shows it
    span_id TEXT NOT NULL,         -- 16 lowercase hex digits
    parent_id TEXT,                -- NULL for the trace's root (or when the parent is in another process)
    name TEXT NOT NULL,
    kind TEXT,                     -- promptwise.span.kind: request | flow | node | llm | function | evaluation
    start_ns INTEGER NOT NULL,     -- Unix epoch nanoseconds
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,          -- ok | error | unset
    error_type TEXT,               -- error.type
    error_message TEXT,            -- the span status description (secrets redacted)
    model TEXT,                    -- gen_ai.response.model, else gen_ai.request.model
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    attributes TEXT NOT NULL,      -- JSON object of every attribute
    events TEXT,                   -- JSON list of {name, time_ns, attributes}
    PRIMARY KEY (trace_id, span_id)
);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    root_span_id TEXT,
    name TEXT,                     -- the root span's name
    kind TEXT,                     -- the root span's kind
    service TEXT,                  -- service.name of the process that wrote the root
    flow TEXT,                     -- promptwise.flow.name
    flow_path TEXT,
    content_hash TEXT,             -- promptwise.flow.content_hash
    version TEXT,                  -- promptwise.version.id
    consumer TEXT,                 -- promptwise.consumer
    run_id TEXT,                   -- promptwise.run.id
    row_index INTEGER,             -- promptwise.row.index
    start_ns INTEGER,              -- the root span's (the earliest span's until the root arrives)
    end_ns INTEGER,
    duration_ms REAL,
    status TEXT,                   -- the root span's status
    error_type TEXT,
    span_count INTEGER NOT NULL DEFAULT 0,
    llm_calls INTEGER NOT NULL DEFAULT 0,
    cache_hits INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL                  -- NULL until a call with a known price arrives
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces(start_ns);
CREATE INDEX IF NOT EXISTS traces_by_flow ON traces(flow, start_ns);
CREATE INDEX IF NOT EXISTS traces_by_flow_path ON traces(flow_path, start_ns);
CREATE INDEX IF NOT EXISTS traces_by_version ON traces(version, start_ns);
CREATE INDEX IF NOT EXISTS traces_by_consumer ON traces(consumer, start_ns);
CREATE INDEX IF NOT EXISTS traces_by_run ON traces(run_id, row_index);
"""

# Folds one span into its trace's summary row; the root span sets the trace's own fields.
_UPSERT_TRACE = """
INSERT INTO traces (trace_id, root_span_id, name, kind, service, flow, flow_path, content_hash, version,
                    consumer, run_id, row_index, start_ns, end_ns, duration_ms, status, error_type,
                    span_count, llm_calls, cache_hits, input_tokens, output_tokens, cost_usd)
VALUES (:trace_id, :root_span_id, :name, :kind, :service, :flow, :flow_path, :content_hash, :version,
        :consumer, :run_id, :row_index, :start_ns, :end_ns, :duration_ms, :status, :error_type,
        :span_count, :llm_calls, :cache_hits, :input_tokens, :output_tokens, :cost_usd)
ON CONFLICT(trace_id) DO UPDATE SET
    root_span_id = COALESCE(excluded.root_span_id, root_span_id),
    name = COALESCE(excluded.name, name),
    kind = COALESCE(excluded.kind, kind),
    service = COALESCE(excluded.service, service),
    flow = COALESCE(flow, excluded.flow),
    flow_path = COALESCE(flow_path, excluded.flow_path),
    content_hash = COALESCE(content_hash, excluded.content_hash),
    version = COALESCE(version, excluded.version),
    consumer = COALESCE(consumer, excluded.consumer),
    run_id = COALESCE(run_id, excluded.run_id),
    row_index = COALESCE(row_index, excluded.row_index),
    start_ns = CASE WHEN excluded.root_span_id IS NOT NULL THEN excluded.start_ns
                    WHEN root_span_id IS NOT NULL THEN start_ns ELSE min(start_ns, excluded.start_ns) END,
    end_ns = CASE WHEN excluded.root_span_id IS NOT NULL THEN excluded.end_ns
                  WHEN root_span_id IS NOT NULL THEN end_ns ELSE max(end_ns, excluded.end_ns) END,
    duration_ms = CASE WHEN excluded.root_span_id IS NOT NULL THEN excluded.duration_ms ELSE duration_ms END,
    status = COALESCE(excluded.status, status),
    error_type = COALESCE(excluded.error_type, error_type),
    span_count = span_count + excluded.span_count,
    llm_calls = llm_calls + excluded.llm_calls,
    cache_hits = cache_hits + excluded.cache_hits,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cost_usd = CASE WHEN excluded.cost_usd IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + excluded.cost_usd END
"""

_INSERT_SPAN = """
INSERT OR REPLACE INTO spans (trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, error_type,
                              error_message, model, input_tokens, output_tokens, cost_usd, attributes, events)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# Summary fields copied from any span of the trace that carries them (first one wins).
_TRACE_FIELDS = {
    "flow": attrs.FLOW_NAME, "flow_path": attrs.FLOW_PATH, "content_hash": attrs.FLOW_CONTENT_HASH,
    "version": attrs.VERSION_ID, "consumer": attrs.CONSUMER, "run_id": attrs.RUN_ID, "row_index": attrs.ROW_INDEX,
}


_TRACE_ATTRIBUTES = frozenset(_TRACE_FIELDS.values())


def store_path(workspace_root: Path) -> Path:
    from promptwise.config import STATE_DIR  # here: the writer process (tracing/writer.py) never loads settings

    return Path(workspace_root) / STATE_DIR / DB_FILE


@dataclass
class SpanRecord:
    """One finished span as the store keeps it: plain data, independent of the SDK."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: str = "unset"  # ok | error | unset
    error_message: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    is_root: bool = False  # no parent, or a parent in another process
    service: str | None = None

    @property
    def kind(self) -> str | None:
        return self.attributes.get(attrs.SPAN_KIND)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class SpanStore:
    """Writes finished spans and reads traces back. One connection per store object; the
    writer is the span processor's background thread, readers are commands and the editor."""

    def __init__(self, path: Path, *, readonly: bool = False, keyring=None):
        self.path = Path(path)
        self.readonly = readonly
        self.keyring = keyring  # store.encryption.Keyring: seals content when writing, opens it when reading
        self._connection = connect(self.path, readonly=readonly, schema=SCHEMA, version=SCHEMA_VERSION,
                                   what="the traces it held will not be listed")

    @classmethod
    def for_workspace(cls, workspace_root: Path, *, readonly: bool = False, keyring=None) -> "SpanStore":
        return cls(store_path(workspace_root), readonly=readonly, keyring=keyring)

    def close(self) -> None:
        self._connection.close()

    def tune_for_writing(self, cache_mb: int = 16) -> None:
        """For the span processor's writer connection. Every span and trace lands at a random
        place in the trace-id indexes, so a batch dirties pages all over the file: a 16 MB page
        cache (SQLite's default is 2 MB) keeps those indexes' pages at hand instead of reading
        them again, and checkpointing the WAL every 8,000 pages (32 MB) instead of 1,000 writes
        a page touched by several batches once. Together ~15-20 % of the writer's SQLite time on
        a 250 MB store (benchmarks/README.md, "Tracing overhead"). The cache fills up to its size
        whatever the store's size: `promptwise serve`'s writer processes (one per worker) ask
        for less (tracing/writer.py)."""
        self._connection.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")
        self._connection.execute("PRAGMA wal_autocheckpoint = 8000")

    # --- writing ---------------------------------------------------------------------
    def write(self, records: Iterable[SpanRecord]) -> int:
        """Store finished spans in one transaction; returns how many."""
        span_rows = []
        summaries: dict[str, dict] = {}  # one upsert per trace and batch, not one per span
        keyring = self.keyring if self.keyring is not None and self.keyring.sealing else None
        for record in records:
            span_rows.append(_span_row(record, keyring))
            _summarize(record, summaries)
        trace_rows = list(summaries.values())
        if not span_rows:
            return 0
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(_INSERT_SPAN, span_rows)
            connection.executemany(_UPSERT_TRACE, trace_rows)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return len(span_rows)

    def delete_older_than(self, days: float, *, now: float | None = None, chunk: int = 5000) -> int:
        """Delete traces that started more than `days` ago (and their spans), in chunks so a
        large purge never holds the writer lock for long. Returns the number of traces."""
        cutoff = int(((now if now is not None else time.time()) - days * 86400) * 1e9)
        deleted = 0
        while True:
            ids = [row[0] for row in self._connection.execute(
                "SELECT trace_id FROM traces WHERE start_ns < ? LIMIT ?", (cutoff, chunk))]
            if not ids:
                self._delete_old_scores(cutoff)
                return deleted
            marks = ",".join("?" * len(ids))
            self._connection.execute("BEGIN IMMEDIATE")
            self._connection.execute(f"DELETE FROM spans WHERE trace_id IN ({marks})", ids)
            self._connection.execute(f"DELETE FROM traces WHERE trace_id IN ({marks})", ids)
            self._connection.execute("COMMIT")
            deleted += len(ids)

    def _delete_old_scores(self, cutoff: int) -> None:
        """Online evaluation's scores (monitoring/online_eval.py) live in this file: same retention."""
        try:
            self._connection.execute("DELETE FROM scores WHERE time_ns < ?", (cutoff,))
        except sqlite3.OperationalError:  # no scores table: online evaluation never ran here
            pass

    def reseal(self, chunk: int = 2000) -> dict[str, int]:
        """Seal every span's content (and online evaluation's error texts) under the keyring's
        current key: values sealed under a previous key are opened and sealed again, plain ones
        (written before `tracing.encrypt` was set) are sealed. Values no key here opens are left as
        they are and counted. Then the file is rewritten (VACUUM, WAL truncated), so no page keeps
        the old bytes. For `traces rekey`."""
        keyring = self.keyring
        if keyring is None or not keyring.sealing:
            raise ValueError("resealing needs the current key (tracing.encrypt.key)")
        counts = {"spans": 0, "resealed": 0, "unreadable": 0}

        def resealed(value, name: str):
            """`value` under the current key; None when it already is, or when no key opens it."""
            if value is None or sealed_key_id(value) == keyring.current.id:
                return None
            before = keyring.unreadable
            plain = keyring.open(value, name)
            if keyring.unreadable != before:
                counts["unreadable"] += 1
                return None
            counts["resealed"] += 1
            return keyring.seal(plain, name)

        for rows in self._chunks("SELECT rowid, attributes, events, error_message FROM spans", chunk):
            updates = []
            for rowid, attributes, events, error_message in rows:
                counts["spans"] += 1
                stored = json.loads(attributes or "{}")
                values = {name: value for name, value in stored.items() if name in attrs.CONTENT_ATTRIBUTES}
                values.update(events=json.loads(events) if events else None, error_message=error_message)
                changed = {name: new for name, value in values.items()
                           if (new := resealed(value, name)) is not None}
                if changed:
                    stored.update((name, value) for name, value in changed.items() if name in attrs.CONTENT_ATTRIBUTES)
                    updates.append((_encode(stored), _encode(changed["events"]) if "events" in changed else events,
                                    changed.get("error_message", error_message), rowid))
            self._update("UPDATE spans SET attributes = ?, events = ?, error_message = ? WHERE rowid = ?", updates)
        try:
            for rows in self._chunks("SELECT rowid, error FROM scores WHERE error IS NOT NULL", chunk):
                self._update("UPDATE scores SET error = ? WHERE rowid = ?",
                             [(new, rowid) for rowid, error in rows if (new := resealed(error, "scores.error"))])
        except sqlite3.OperationalError as error:  # no scores table: online evaluation never ran here
            if "no such table" not in str(error):
                raise
        connection = self._connection
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        # Busy when another process still reads an older snapshot: the write-ahead log then keeps
        # old pages until a later checkpoint (the caller says so).
        counts["wal_truncated"] = int(connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0)
        return counts

    def _chunks(self, select: str, size: int):
        """The rows of `select` (which names rowid first) in rowid order, `size` at a time."""
        last = 0
        where = " AND " if " WHERE " in select else " WHERE "
        while rows := self._connection.execute(f"{select}{where}rowid > ? ORDER BY rowid LIMIT ?",
                                               (last, size)).fetchall():
            last = rows[-1][0]
            yield rows

    def _update(self, sql: str, rows: list[tuple]) -> None:
        if not rows:
            return
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            self._connection.executemany(sql, rows)
            self._connection.execute("COMMIT")
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise

    def add_counter(self, name: str, amount: int) -> None:
        """Add to a counter kept in `meta` (e.g. spans dropped because the queue was full)."""
        self._connection.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)", (name, str(amount)))

    def counter(self, name: str) -> int:
        row = self._connection.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    # --- reading ---------------------------------------------------------------------
    def list_traces(self, *, run: str | None = None, flow: str | None = None, since_ns: int | None = None,
                    until_ns: int | None = None, version: str | None = None, consumer: str | None = None,
                    limit: int | None = 50) -> list[dict]:
        """Trace summaries, newest first. `flow` is the flow's name, or the absolute path of its
        flow file (flow.dag.yaml, flow.flex.yaml, x.prompty) as its spans record it."""
        conditions = (("run_id = ?", run), ("version = ?", version), ("consumer = ?", consumer),
                      ("start_ns >= ?", since_ns), ("start_ns < ?", until_ns))
        clauses = [clause for clause, value in conditions if value is not None]
        params: list = [value for _, value in conditions if value is not None]
        if flow is not None:  # one indexed column: a path names the flow file, anything else its name
            clauses.append("flow_path = ?" if "/" in flow or "\\" in flow else "flow = ?")
            params.append(flow)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM traces {where} ORDER BY start_ns DESC, trace_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [dict(row) for row in self._connection.execute(sql, params)]

    def get_trace(self, trace_id: str) -> dict | None:
        """A trace summary with its spans (each with attributes and events decoded), in start order.
        `trace_id` may be a unique prefix of at least 6 hex digits."""
        trace_id = trace_id.strip().lower()
        rows = self._connection.execute(
            "SELECT * FROM traces WHERE trace_id >= ? AND trace_id < ? ORDER BY trace_id LIMIT 2",
            (trace_id, trace_id + "g")).fetchall() if len(trace_id) >= 6 else []
        if not rows or (len(rows) > 1 and rows[0]["trace_id"] != trace_id):
            return None
        summary = dict(rows[0])
        spans = []
        for row in self._connection.execute(
                "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns, span_id", (summary["trace_id"],)):
            span = dict(row)
            span["attributes"] = json.loads(span["attributes"] or "{}")
            span["events"] = json.loads(span["events"] or "[]")
            spans.append(_opened(span, self))
        summary["spans"] = spans
        return summary

    def trace_of_request(self, request_id: str) -> str | None:
        """The trace id of the served request answered with this id (its x-request-id header, an
        error answer's `id`); the request itself rather than its shadow copies, the newest first."""
        row = self._connection.execute(
            "SELECT trace_id FROM spans WHERE kind = 'request' AND "
            "json_extract(attributes, '$.\"promptwise.request.id\"') = ? "
            "ORDER BY json_extract(attributes, '$.\"promptwise.shadow\"') IS NOT NULL, start_ns DESC LIMIT 1",
            (request_id,)).fetchone()
        return row[0] if row else None

    def reading_keyring(self):
        """The keyring content is opened with: the one given, else the workspace's (settings and
        environment as they are now; placeholders say what to set when a key is missing)."""
        if self.keyring is None:
            from promptwise.tracing.settings import store_keyring

            self.keyring = store_keyring(self.path.parent.parent)  # the workspace that holds .promptwise/
        return self.keyring

    def ambiguous(self, prefix: str) -> bool:
        prefix = prefix.strip().lower()
        return len(self._connection.execute(
            "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? LIMIT 2",
            (prefix, prefix + "g")).fetchall()) > 1


# Built once (promptwise/json_text.py): the attribute column is encoded for every span. Span
# attributes are OTel values (no container holds itself), so no marker table is needed.
_encode = encoder(str)


def _span_row(record: SpanRecord, keyring=None) -> tuple:
    a = record.attributes
    stored, events, error_message = a, record.events, record.error_message
    if keyring is not None:  # content sealed; the columns below read from the plain attributes
        stored = keyring.seal_fields(a, attrs.CONTENT_ATTRIBUTES)
        events = keyring.seal(events, "events") if events else events
        error_message = keyring.seal(error_message, "error_message")
    return (record.trace_id, record.span_id, record.parent_id, record.name, a.get(attrs.SPAN_KIND), record.start_ns,
            record.end_ns, record.status, _text(a.get(attrs.ERROR_TYPE)), error_message,
            _text(a.get(attrs.GEN_AI_RESPONSE_MODEL) or a.get(attrs.GEN_AI_REQUEST_MODEL)),
            _int(a.get(attrs.GEN_AI_USAGE_INPUT_TOKENS)), _int(a.get(attrs.GEN_AI_USAGE_OUTPUT_TOKENS)),
            _float(a.get(attrs.COST_USD)), _encode(stored), _encode(events) if events else None)


def _opened(span: dict, store: SpanStore) -> dict:
    """A span row read back with its sealed content opened (placeholders where no key opens it).
    The keyring is only looked for when something is sealed."""
    if not (is_sealed(span["events"]) or is_sealed(span["error_message"])
            or any(map(is_sealed, span["attributes"].values()))):
        return span
    keyring = store.reading_keyring()
    span["attributes"] = keyring.open_fields(span["attributes"])
    events = keyring.open(span["events"], "events")
    span["events"] = events if isinstance(events, list) else [{"name": "encrypted", "attributes": {"events": events}}]
    span["error_message"] = keyring.open(span["error_message"], "error_message")
    return span


def _summarize(record: SpanRecord, summaries: dict[str, dict]) -> None:
    """Fold one span into its trace's summary row for this batch (the upsert then folds the
    row into what is stored, the same way): the root sets the trace's own fields, model-call
    spans add their tokens, cost and cache hit, the first span naming a flow, run, version
    or consumer names the trace's."""
    summary = summaries.get(record.trace_id)
    if summary is None:
        summary = summaries[record.trace_id] = {
            "trace_id": record.trace_id, "root_span_id": None, "name": None, "kind": None, "service": None,
            "start_ns": record.start_ns, "end_ns": record.end_ns, "duration_ms": None, "status": None,
            "error_type": None, "span_count": 0, "llm_calls": 0, "cache_hits": 0, "input_tokens": 0,
            "output_tokens": 0, "cost_usd": None, **dict.fromkeys(_TRACE_FIELDS)}
    elif summary["root_span_id"] is None:
        summary["start_ns"] = min(summary["start_ns"], record.start_ns)
        summary["end_ns"] = max(summary["end_ns"], record.end_ns)
    a = record.attributes
    summary["span_count"] += 1
    kind = a.get(attrs.SPAN_KIND)
    if record.is_root:
        summary.update(root_span_id=record.span_id, name=record.name, kind=kind, service=record.service,
                       start_ns=record.start_ns, end_ns=record.end_ns, duration_ms=record.duration_ms,
                       status=record.status, error_type=_text(a.get(attrs.ERROR_TYPE)))
    if kind == attrs.SPAN_KIND_LLM:
        summary["llm_calls"] += 1
        summary["cache_hits"] += 1 if a.get(attrs.CACHE_HIT) else 0
        summary["input_tokens"] += _int(a.get(attrs.GEN_AI_USAGE_INPUT_TOKENS)) or 0
        summary["output_tokens"] += _int(a.get(attrs.GEN_AI_USAGE_OUTPUT_TOKENS)) or 0
        cost = _float(a.get(attrs.COST_USD))
        if cost is not None:
            summary["cost_usd"] = (summary["cost_usd"] or 0.0) + cost
    if _TRACE_ATTRIBUTES.isdisjoint(a):  # most spans (nodes, model calls) name none of them
        return
    for column, name in _TRACE_FIELDS.items():
        if summary[column] is None:
            value = a.get(name)
            if value is not None:
                summary[column] = _int(value) if column == "row_index" else str(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
