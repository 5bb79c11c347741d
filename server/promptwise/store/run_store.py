"""Read and write runs: the API the engine, the CLI, evaluation, costing and the editor use.

    store = RunStore.for_workspace(load_workspace(flow_path))
    store.list_runs(); store.get_run(name); store.get_rows(name); store.node_stats(flow)

Writes: `create_run`, `record_row` (one row and its node results, atomically),
`record_aggregation`, `finish_run`. Everything stored passes through secret redaction.
Each run's outputs also go to `.promptwise/runs/<name>/outputs.jsonl`.

With `tracing.pii_runs: true` the personal data in what a writer stores (row inputs and outputs,
node outputs, error texts; outputs.jsonl is written from them) goes through the `tracing.pii`
policy first, as traces do. Off by default: evaluations read stored outputs, and a redacted
output scores differently. Not encrypted by `tracing.encrypt` (see the README).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from promptwise.redaction import dumps_redacted, redact
from promptwise.store import DB_FILE  # noqa: F401  (here too: callers import it from run_store)
from promptwise.store.schema import connect

RUNS_DIR = "runs"


def _dumps(value: Any) -> str:
    return dumps_redacted(value)


def _loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    return json.loads(text)


@dataclass
class NodeResult:
    node: str
    status: str  # completed | failed | skipped
    output: Any = None
    error: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cost: float | None = None
    latency_ms: float | None = None
    attempts: int = 0
    cache_hit: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RowResult:
    line: int
    status: str  # completed | failed
    inputs: dict
    outputs: dict | None = None
    error: str | None = None
    nodes: list[NodeResult] = field(default_factory=list)
    latency_ms: float | None = None

    @property
    def prompt_tokens(self) -> int:
        return sum(n.prompt_tokens for n in self.nodes)

    @property
    def completion_tokens(self) -> int:
        return sum(n.completion_tokens for n in self.nodes)

    @property
    def total_tokens(self) -> int:
        return sum(n.total_tokens for n in self.nodes)

    @property
    def cached_tokens(self) -> int:
        return sum(n.cached_tokens for n in self.nodes)

    @property
    def cost(self) -> float | None:
        """Sum of the nodes' costs; None if any priced call's cost is unknown."""
        costs = [n.cost for n in self.nodes if n.model]
        if any(c is None for c in costs):
            return None
        return sum(costs) if costs else 0.0

    @property
    def llm_calls(self) -> int:
        return sum(1 for n in self.nodes if n.model)

    @property
    def cache_hits(self) -> int:
        return sum(1 for n in self.nodes if n.cache_hit)


@dataclass
class RowRecord:
    """A stored row, as readers see it."""

    line: int
    status: str
    inputs: dict
    outputs: dict | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    cost: float | None
    latency_ms: float | None
    llm_calls: int
    cache_hits: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunInfo:
    name: str
    flow: str
    kind: str
    # running | completed | failed | canceled; `interrupted` when the store says running but the
    # process that ran it (parameters pid + host) is gone
    status: str
    created_at: float
    finished_at: float | None
    data: str | None
    column_mapping: dict
    variants: dict
    parameters: dict
    connection: dict | None
    total_rows: int | None
    error: str | None
    metrics: dict | None
    outputs_path: str | None
    source_run: str | None
    content_hash: str | None = None  # what ran (documents.content_hash); None for runs stored before it
    # Totals over stored rows
    rows_completed: int = 0
    rows_failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = 0.0  # None when some call's price is unknown
    cost_known: float = 0.0  # the part of the cost that is known
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    cache_hits: int = 0
    llm_calls: int = 0

    @property
    def rows_done(self) -> int:
        return self.rows_completed + self.rows_failed

    def as_dict(self) -> dict:
        data = asdict(self)
        data["rows_done"] = self.rows_done
        return data


@dataclass
class NodeStats:
    """What a node did across stored runs of a flow (H3's estimate uses avg_completion_tokens)."""

    flow: str
    node: str
    calls: int
    avg_prompt_tokens: float
    avg_completion_tokens: float
    max_completion_tokens: int
    avg_latency_ms: float | None
    failures: int
    model: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # exists, owned by someone else (or not a pid we can ask about)
    return True


def _host() -> str:
    import socket  # here: a reader of the store (`check` estimating from stored runs) needs no socket module

    return socket.gethostname()


def owner_parameters() -> dict:
    """Who is running a run: stored with it, so readers can tell a live run from a killed one."""
    return {"pid": os.getpid(), "host": _host()}


def _owner_gone(parameters: dict) -> bool:
    """The run's process is gone (killed, crashed): only decidable on the host that ran it."""
    pid = parameters.get("pid")
    host = parameters.get("host")
    if not isinstance(pid, int) or (host and host != _host()):
        return False
    return not process_alive(pid)


def row_policy(workspace) -> Any:
    """The PII policy a writer applies to stored rows: `tracing.pii` (and `pii_key`) when the
    workspace's `tracing.pii_runs` is true, else None. The section's form is the tracing settings'
    to check (tracing/settings.py, which every traced command reads first); a hash key that is not
    exported is a ConfigError: rows are never stored unprocessed instead."""
    settings = getattr(workspace, "settings", None)
    section = settings.get("tracing") if isinstance(settings, dict) else None
    if not isinstance(section, dict) or section.get("pii_runs") is not True:
        return None
    from types import SimpleNamespace

    from promptwise.config import ConfigError
    from promptwise.evaluation.pii_policy import policy_from_settings

    try:
        return policy_from_settings(SimpleNamespace(pii=section.get("pii", "redact"), pii_key=section.get("pii_key")))
    except ValueError as error:  # PiiKeyError, or a mode the tracing settings refuse too
        line = getattr(workspace, "section_lines", {}).get("tracing")
        where = f"{workspace.source}:{line}" if line else str(getattr(workspace, "source", None) or "tracing settings")
        raise ConfigError(f"{where}: `tracing.pii_runs`: {error}") from None


class RunStore:
    """The workspace's run store. Safe to use from several threads; one writer process per run."""

    def __init__(self, state_dir: Path, *, readonly: bool = False, pii=None) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_FILE
        self.readonly = readonly
        self.pii = pii  # an evaluation.pii_policy.PiiPolicy applied to stored content (None: kept as is)
        self._lock = threading.RLock()
        self._db = connect(self.path, readonly=readonly)
        self._output_files: dict = {}  # run name -> open outputs JSONL (appended as rows finish)

    @classmethod
    def for_workspace(cls, workspace, *, readonly: bool = False) -> "RunStore":
        """From a `promptwise.config.WorkspaceConfig`; a writer applies its `tracing.pii_runs`."""
        return cls(workspace.state_dir, readonly=readonly, pii=None if readonly else row_policy(workspace))

    @classmethod
    def exists_in(cls, state_dir: Path) -> bool:
        return (Path(state_dir) / DB_FILE).is_file()

    def close(self) -> None:
        for run in list(self._output_files):
            self._close_output(run)
        with self._lock:
            self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_dir(self, name: str) -> Path:
        return self.state_dir / RUNS_DIR / name

    def outputs_path(self, name: str) -> Path:
        return self.run_dir(name) / "outputs.jsonl"

    # ----- writes -----

    def create_run(
        self,
        name: str,
        flow: str | Path,
        *,
        kind: str = "batch",
        data: str | Path | None = None,
        column_mapping: dict | None = None,
        variants: dict | None = None,
        parameters: dict | None = None,
        connection: dict | None = None,
        total_rows: int | None = None,
        source_run: str | None = None,
        content_hash: str | None = None,
    ) -> None:
        """Register a new run (status `running`). Fails if the name is taken."""
        with self._lock:
            self._db.execute(
                "INSERT INTO runs(name, flow, kind, status, created_at, data, column_mapping, variants, parameters,"
                " connection, total_rows, outputs_path, source_run, content_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (name, str(flow), kind, "running", time.time(), str(data) if data else None,
                 _dumps(column_mapping or {}), _dumps(variants or {}), _dumps(parameters or {}),
                 _dumps(connection) if connection else None, total_rows, str(self.outputs_path(name)),
                 source_run, content_hash),
            )
        self.run_dir(name).mkdir(parents=True, exist_ok=True)

    def run_exists(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone() is not None

    def mark_running(self, name: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET status='running', finished_at=NULL, error=NULL WHERE name=?", (name,))

    def update_parameters(self, name: str, changes: dict) -> None:
        with self._lock:
            record = self._db.execute("SELECT parameters FROM runs WHERE name=?", (name,)).fetchone()
            if record is None:
                return
            parameters = {**_loads(record["parameters"], {}), **changes}
            self._db.execute("UPDATE runs SET parameters=? WHERE name=?", (_dumps(parameters), name))

    def record_row(self, run: str, row: RowResult) -> None:
        """Store one finished row and its node results in a single transaction."""
        self.record_rows(run, [row])

    def record_rows(self, run: str, rows: list[RowResult]) -> None:
        """Store finished rows and their node results in a single transaction: all or none.

        Each commit is what lets a run killed with `kill -9` lose no row stored before it; in WAL
        mode with synchronous=NORMAL a commit is an append to the log, without an fsync. A batch
        commits a few rows at once (engine/row_writer.py): one commit per row was ~10% of a row's
        CPU against a fast endpoint. The completed rows' outputs lines are appended after the commit."""
        if not rows:
            return
        stored = [(row, _dumps(self._governed(row.outputs)) if row.outputs is not None else None) for row in rows]
        now = time.time()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO rows(run, line, status, inputs, outputs, error, prompt_tokens,"
                    " completion_tokens, total_tokens, cached_tokens, cost, latency_ms, llm_calls, cache_hits,"
                    " finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(run, row.line, row.status, _dumps(self._governed(row.inputs)), outputs,
                      self._governed(redact(row.error)) if row.error else None, row.prompt_tokens,
                      row.completion_tokens, row.total_tokens, row.cached_tokens, row.cost, row.latency_ms,
                      row.llm_calls, row.cache_hits, now) for row, outputs in stored])
                # INSERT OR REPLACE: a redone row overwrites its node results
                self._insert_node_rows(run, [(row.line, node) for row in rows for node in row.nodes])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._append_outputs(run, [(row.line, outputs) for row, outputs in stored if row.status == "completed"])

    def _insert_nodes(self, run: str, line: int, nodes: Iterable[NodeResult]) -> None:
        self._insert_node_rows(run, [(line, node) for node in nodes])

    def _insert_node_rows(self, run: str, nodes: list[tuple[int, NodeResult]]) -> None:
        """(line, node result) pairs, in one statement (caller holds the lock, in a transaction)."""
        self._db.executemany(
            "INSERT OR REPLACE INTO node_results(run, line, node, status, output, error, model, prompt_tokens,"
            " completion_tokens, total_tokens, cached_tokens, cost, latency_ms, attempts, cache_hit)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(run, line, n.node, n.status, _dumps(self._governed(n.output)) if n.output is not None else None,
              self._governed(redact(n.error)) if n.error else None, n.model, n.prompt_tokens, n.completion_tokens,
              n.total_tokens, n.cached_tokens, n.cost, n.latency_ms, n.attempts, int(n.cache_hit))
             for line, n in nodes],
        )

    def _governed(self, value: Any) -> Any:
        return self.pii.value(value) if self.pii is not None and value is not None else value

    def _append_outputs(self, run: str, lines: list[tuple[int, str | None]]) -> None:
        """Append to the run's outputs JSONL as rows finish (the store stays the truth: the file is
        rewritten in line order when the run finishes or resumes). Each item: a row's line and its
        outputs as stored (JSON text of an object, or None)."""
        if not lines:
            return
        text = "".join(f'{{"line_number": {line}' + (f", {fields}" if fields else "") + "}\n"
                       for line, outputs in lines
                       for fields in (outputs[1:-1].strip() if outputs and outputs.startswith("{") else "",))
        with self._lock:
            handle = self._output_files.get(run)
            if handle is None:
                path = self.outputs_path(run)
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = self._output_files[run] = path.open("a", encoding="utf-8")
            handle.write(text)
            handle.flush()

    def _close_output(self, run: str) -> None:
        with self._lock:
            handle = self._output_files.pop(run, None)
        if handle is not None:
            handle.close()

    def record_aggregation(self, run: str, nodes: list[NodeResult], metrics: dict | None) -> None:
        """Aggregation nodes (run once over all rows) are stored with line -1."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM node_results WHERE run=? AND line=-1", (run,))
                self._insert_nodes(run, -1, nodes)
                db.execute("UPDATE runs SET metrics=? WHERE name=?", (_dumps(metrics or {}), run))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def finish_run(self, name: str, status: str, error: str | None = None) -> None:
        """Set the final status and rewrite the outputs JSONL from the rows (ordered, no duplicates)."""
        with self._lock:
            self._db.execute("UPDATE runs SET status=?, finished_at=?, error=? WHERE name=?",
                             (status, time.time(), self._governed(redact(error)) if error else None, name))
        self.rewrite_outputs(name)

    def rewrite_outputs(self, name: str) -> Path:
        self._close_output(name)
        path = self.outputs_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".jsonl.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for line, outputs in self.iter_outputs(name):
                handle.write(json.dumps({"line_number": line, **outputs}, ensure_ascii=False, default=str) + "\n")
        os.replace(temporary, path)
        return path

    def forget_failed_rows(self, name: str) -> int:
        """Drop a run's failed rows (and their node results), so a resume does them again."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM node_results WHERE run=? AND line IN "
                           "(SELECT line FROM rows WHERE run=? AND status='failed')", (name, name))
                count = db.execute("DELETE FROM rows WHERE run=? AND status='failed'", (name,)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return count

    def delete_run(self, name: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM runs WHERE name=?", (name,))
        return cursor.rowcount > 0

    # ----- reads -----

    def _run_from_row(self, record) -> RunInfo:
        parameters = _loads(record["parameters"], {})
        status = record["status"]
        if status == "running" and _owner_gone(parameters):
            # Killed (even with kill -9) before it could say so: show it as what it is.
            status = "interrupted"
        return RunInfo(
            name=record["name"], flow=record["flow"], kind=record["kind"], status=status,
            created_at=record["created_at"], finished_at=record["finished_at"], data=record["data"],
            column_mapping=_loads(record["column_mapping"], {}), variants=_loads(record["variants"], {}),
            parameters=parameters, connection=_loads(record["connection"]),
            total_rows=record["total_rows"], error=record["error"], metrics=_loads(record["metrics"]),
            outputs_path=record["outputs_path"], source_run=record["source_run"],
            # a store of before lineage opened read-only has no such column
            content_hash=record["content_hash"] if "content_hash" in record.keys() else None,
        )

    def _add_totals(self, run: RunInfo) -> RunInfo:
        with self._lock:
            totals = self._db.execute(
                "SELECT SUM(status='completed') AS ok, SUM(status='failed') AS failed,"
                " SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c, SUM(total_tokens) AS t,"
                " SUM(cost) AS cost, SUM(cost IS NULL AND llm_calls > 0) AS unknown,"
                " SUM(cache_hits) AS hits, SUM(llm_calls) AS calls FROM rows WHERE run=?", (run.name,)).fetchone()
            aggregation = self._db.execute(
                "SELECT SUM(prompt_tokens) AS p, SUM(completion_tokens) AS c, SUM(total_tokens) AS t,"
                " SUM(cost) AS cost, SUM(cost IS NULL AND model IS NOT NULL) AS unknown"
                " FROM node_results WHERE run=? AND line=-1", (run.name,)).fetchone()
            run.latency_p50_ms, run.latency_p95_ms = self._latency_percentiles(run.name, (50, 95))
        run.rows_completed = totals["ok"] or 0
        run.rows_failed = totals["failed"] or 0
        run.prompt_tokens = (totals["p"] or 0) + (aggregation["p"] or 0)
        run.completion_tokens = (totals["c"] or 0) + (aggregation["c"] or 0)
        run.total_tokens = (totals["t"] or 0) + (aggregation["t"] or 0)
        run.cost_known = (totals["cost"] or 0.0) + (aggregation["cost"] or 0.0)
        run.cost = None if (totals["unknown"] or aggregation["unknown"]) else run.cost_known
        run.cache_hits = totals["hits"] or 0
        run.llm_calls = totals["calls"] or 0
        return run

    _LATENCIES = "FROM rows WHERE run=? AND status='completed' AND latency_ms IS NOT NULL"

    def _latency_percentiles(self, name: str, percents: tuple[int, ...]) -> list[float | None]:
        """Percentiles of the completed rows' latency (statistics.quantiles' inclusive method),
        each from the two order statistics around it, read by SQLite (caller holds the lock): a
        run of millions of rows is never loaded into a list to be sorted."""
        count = self._db.execute(f"SELECT COUNT(*) {self._LATENCIES}", (name,)).fetchone()[0]
        found: list[float | None] = []
        for percent in percents:
            if count == 0:
                found.append(None)
                continue
            below, weight = divmod(percent * (count - 1), 100)
            pair = [r[0] for r in self._db.execute(f"SELECT latency_ms {self._LATENCIES} ORDER BY latency_ms "
                                                   "LIMIT 2 OFFSET ?", (name, below))]
            found.append(pair[0] if len(pair) == 1 or weight == 0 else
                         (pair[0] * (100 - weight) + pair[1] * weight) / 100)
        return found

    def get_run(self, name: str) -> RunInfo | None:
        with self._lock:
            record = self._db.execute("SELECT * FROM runs WHERE name=?", (name,)).fetchone()
        return self._add_totals(self._run_from_row(record)) if record else None

    def list_runs(self, *, flow: str | Path | None = None, limit: int | None = None,
                  content_hash: str | None = None) -> list[RunInfo]:
        """Newest first, with totals; `content_hash`: only the runs of that exact flow content."""
        query, args = "SELECT * FROM runs", []
        if flow is not None:
            query += " WHERE flow=?"
            args.append(str(flow))
        if content_hash is not None:
            if "content_hash" not in self._run_columns():
                return []
            query += (" AND" if args else " WHERE") + " content_hash=?"
            args.append(content_hash)
        query += " ORDER BY created_at DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            records = self._db.execute(query, args).fetchall()
        return [self._add_totals(self._run_from_row(r)) for r in records]

    def _run_columns(self) -> set[str]:
        with self._lock:
            return {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}

    def latest_run(self, flow: str | Path | None = None) -> RunInfo | None:
        runs = self.list_runs(flow=flow, limit=1)
        return runs[0] if runs else None

    def get_rows(self, name: str, *, status: str | None = None) -> list[RowRecord]:
        query, args = "SELECT * FROM rows WHERE run=?", [name]
        if status:
            query += " AND status=?"
            args.append(status)
        query += " ORDER BY line"
        with self._lock:
            records = self._db.execute(query, args).fetchall()
        return [RowRecord(r["line"], r["status"], _loads(r["inputs"], {}), _loads(r["outputs"]), r["error"],
                          r["prompt_tokens"], r["completion_tokens"], r["total_tokens"], r["cached_tokens"],
                          r["cost"], r["latency_ms"], r["llm_calls"], r["cache_hits"]) for r in records]

    def iter_outputs(self, name: str) -> Iterator[tuple[int, dict]]:
        """(line, outputs) of the completed rows, for `${run.outputs.x}` mappings and evaluation;
        read a chunk at a time, so a run of millions of rows is never all in memory."""
        for records in self._chunks(name, "line, outputs", "AND status='completed'"):
            for record in records:
                yield record["line"], _loads(record["outputs"]) or {}

    def iter_completed(self, name: str) -> Iterator[tuple[int, dict, dict]]:
        """(line, inputs, outputs) of the completed rows in line order, a chunk at a time."""
        for records in self._chunks(name, "line, inputs, outputs", "AND status='completed'"):
            for record in records:
                yield record["line"], _loads(record["inputs"], {}), _loads(record["outputs"]) or {}

    def completed_row(self, name: str, line: int) -> tuple[dict, dict] | None:
        """(inputs, outputs) of one completed row, or None."""
        with self._lock:
            record = self._db.execute("SELECT inputs, outputs FROM rows WHERE run=? AND line=? AND status='completed'",
                                      (name, line)).fetchone()
        return None if record is None else (_loads(record["inputs"], {}), _loads(record["outputs"]) or {})

    def done_lines(self, name: str) -> set[int]:
        """Lines that have a stored result (completed or failed): a resumed run skips them."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT line FROM rows WHERE run=?", (name,))}

    def iter_done_lines(self, name: str, chunk: int = 10_000) -> Iterator[int]:
        """The lines `done_lines` holds, in ascending order, `chunk` at a time (a resumed batch
        walks them beside its data file instead of holding a set of millions)."""
        for records in self._chunks(name, "line", size=chunk):
            for record in records:
                yield record["line"]

    def _chunks(self, name: str, columns: str, condition: str = "", size: int = 1_000) -> Iterator[list]:
        """Rows of a run in line order, `size` at a time; each chunk is its own query (from the
        last line seen), so no statement stays open while the run goes on writing."""
        after = -1
        while True:
            with self._lock:
                records = self._db.execute(f"SELECT {columns} FROM rows WHERE run=? AND line>? {condition} "
                                           "ORDER BY line LIMIT ?", (name, after, size)).fetchall()
            if not records:
                return
            yield records
            after = records[-1]["line"]

    def get_node_results(self, name: str, line: int | None = None) -> list[NodeResult]:
        query, args = "SELECT * FROM node_results WHERE run=?", [name]
        if line is not None:
            query += " AND line=?"
            args.append(line)
        query += " ORDER BY line, node"
        with self._lock:
            records = self._db.execute(query, args).fetchall()
        return [NodeResult(r["node"], r["status"], _loads(r["output"]), r["error"], r["model"], r["prompt_tokens"],
                           r["completion_tokens"], r["total_tokens"], r["cached_tokens"], r["cost"],
                           r["latency_ms"], r["attempts"], bool(r["cache_hit"])) for r in records]

    def get_node_results_by_line(self, name: str) -> list[tuple[int, NodeResult]]:
        """(line, result) for every row-level node result of a run (aggregation excluded)."""
        with self._lock:
            records = self._db.execute("SELECT line, node, output FROM node_results WHERE run=? AND line >= 0"
                                       " ORDER BY line", (name,)).fetchall()
        return [(r["line"], NodeResult(r["node"], "completed", _loads(r["output"]))) for r in records]

    def node_stats(self, flow: str | Path, node: str | None = None, by_model: bool = False) -> list[NodeStats]:
        """Per LLM node of `flow`: observed token use over every stored run of that flow (with
        `by_model`, one entry per node and model called, most calls first)."""
        query = (
            "SELECT nr.node AS node, COUNT(*) AS calls, AVG(nr.prompt_tokens) AS p, AVG(nr.completion_tokens) AS c,"
            " MAX(nr.completion_tokens) AS cmax, AVG(nr.latency_ms) AS lat, MAX(nr.model) AS model"
            " FROM node_results nr JOIN runs r ON r.name = nr.run"
            " WHERE r.flow=? AND nr.status='completed' AND nr.model IS NOT NULL")
        args: list[Any] = [str(flow)]
        if node is not None:
            query += " AND nr.node=?"
            args.append(node)
        query += (" GROUP BY nr.node, nr.model ORDER BY nr.node, calls DESC" if by_model
                  else " GROUP BY nr.node ORDER BY nr.node")
        failures_query = ("SELECT nr.node, COUNT(*) FROM node_results nr JOIN runs r ON r.name = nr.run"
                          " WHERE r.flow=? AND nr.status='failed' GROUP BY nr.node")
        with self._lock:
            records = self._db.execute(query, args).fetchall()
            failures = dict(self._db.execute(failures_query, (str(flow),)).fetchall())
        return [NodeStats(str(flow), r["node"], r["calls"], r["p"] or 0.0, r["c"] or 0.0, r["cmax"] or 0,
                          r["lat"], failures.get(r["node"], 0), r["model"]) for r in records]

    def average_output_tokens(self, flow: str | Path, node: str) -> float | None:
        """Observed mean completion tokens of one node, or None if it never ran."""
        stats = self.node_stats(flow, node)
        return stats[0].avg_completion_tokens if stats else None
