"""Evaluation results, stored with the run in the workspace's one database file.

Two tables beside the run store's own (`runs.sqlite`, opened through the store's `connect`,
so the same WAL settings apply and the language server can read while an evaluation
writes): `evaluations` (one per evaluation of a run: evaluators, aggregates, summary) and
`eval_scores` (one per row and evaluator). Deleting a run deletes its evaluations.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptwise.evaluation.base import Score
from promptwise.evaluation.runner import EvalResult, RowScores

EVAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS evaluations (
    name TEXT PRIMARY KEY,
    run TEXT NOT NULL REFERENCES runs(name) ON DELETE CASCADE,
    flow TEXT,                 -- the run's flow (absolute path), for the editor's look-ups
    config TEXT,               -- the eval.yaml used
    data TEXT,                 -- the data file
    created_at REAL NOT NULL,
    evaluators TEXT NOT NULL,  -- JSON list: name, type, threshold, higher_is_better, inputs, outputs
    metrics TEXT NOT NULL,     -- JSON: evaluator -> aggregates
    summary TEXT NOT NULL,     -- JSON: rows, latency p50/p95, cost per row, evaluation cost
    content_hash TEXT          -- the evaluated run's flow content hash (lineage of packaged versions)
);
CREATE TABLE IF NOT EXISTS eval_scores (
    evaluation TEXT NOT NULL REFERENCES evaluations(name) ON DELETE CASCADE,
    line INTEGER NOT NULL,     -- the row's index in the run
    data_line INTEGER,         -- 1-based line in the data file, when known
    evaluator TEXT NOT NULL,
    value REAL,
    passed INTEGER,            -- 1, 0 or NULL (no threshold / not scored)
    reason TEXT,
    error TEXT,
    details TEXT,              -- JSON
    cost REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (evaluation, line, evaluator)
);
CREATE INDEX IF NOT EXISTS evaluations_by_flow ON evaluations(flow, created_at);
CREATE INDEX IF NOT EXISTS evaluations_by_run ON evaluations(run, created_at);
"""


@dataclass
class StoredEvaluation:
    name: str
    run: str
    flow: str | None
    config: str | None
    data: str | None
    created_at: float
    evaluators: list[dict]
    metrics: dict
    summary: dict
    content_hash: str | None = None  # the evaluated flow's content; None for evaluations stored before it

    def to_json(self) -> dict:
        return {"name": self.name, "run": self.run, "flow": self.flow, "config": self.config, "data": self.data,
                "created_at": self.created_at, "evaluators": self.evaluators, "metrics": self.metrics,
                "summary": self.summary, "content_hash": self.content_hash}


def _redacted(value: Any) -> str:
    try:
        from promptwise.engine.secrets import redact_value

        value = redact_value(value)
    except ImportError:
        pass
    return json.dumps(value, ensure_ascii=False, default=str)


class EvalStore:
    """Read and write evaluations. `state_dir` is the workspace's `.promptwise/`."""

    def __init__(self, state_dir: Path, *, readonly: bool = False) -> None:
        from promptwise.store.run_store import DB_FILE
        from promptwise.store.schema import connect

        self.path = Path(state_dir) / DB_FILE
        self._lock = threading.RLock()
        self._db = connect(self.path, readonly=readonly)
        if not readonly:
            from promptwise.store.schema import add_column

            self._db.executescript(EVAL_SCHEMA)
            add_column(self._db, "evaluations", "content_hash", "TEXT")  # stores made before lineage
            self._db.execute("CREATE INDEX IF NOT EXISTS evaluations_by_content ON evaluations(content_hash, created_at)")
        self.readonly = readonly

    @classmethod
    def for_workspace(cls, workspace, *, readonly: bool = False) -> "EvalStore":
        return cls(workspace.state_dir, readonly=readonly)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "EvalStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _has_tables(self) -> bool:
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='evaluations'").fetchone()
        return row is not None

    # ----- writes -----

    def new_name(self, run: str) -> str:
        with self._lock:
            count = self._db.execute("SELECT COUNT(*) FROM evaluations WHERE run=?", (run,)).fetchone()[0]
        return f"{run}.eval{count + 1}"

    def save(self, run: str, result: EvalResult, *, flow: str | None, config: str | None, data: str | None,
             name: str | None = None) -> str:
        """Store one evaluation and all its row scores in a single transaction; returns its name."""
        name = name or self.new_name(run)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO evaluations(name, run, flow, config, data, created_at, evaluators, metrics, summary,"
                    " content_hash) VALUES (?,?,?,?,?,?,?,?,?,(SELECT content_hash FROM runs WHERE name=?))",
                    (name, run, flow, config, data, time.time(), _redacted(result.evaluators),
                     _redacted(result.metrics), _redacted(result.summary), run))
                db.executemany(
                    "INSERT INTO eval_scores(evaluation, line, data_line, evaluator, value, passed, reason, error,"
                    " details, cost, tokens) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [(name, row.line, row.data_line, evaluator, score.value,
                      None if score.passed is None else int(score.passed), score.reason, score.error,
                      _redacted(score.details), score.cost, score.tokens)
                     for row in result.rows for evaluator, score in row.scores.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return name

    # ----- reads -----

    def _from_record(self, record) -> StoredEvaluation:
        return StoredEvaluation(record["name"], record["run"], record["flow"], record["config"], record["data"],
                                record["created_at"], json.loads(record["evaluators"]),
                                json.loads(record["metrics"]), json.loads(record["summary"]),
                                record["content_hash"] if "content_hash" in record.keys() else None)

    def get(self, name: str) -> StoredEvaluation | None:
        with self._lock:
            if not self._has_tables():
                return None
            record = self._db.execute("SELECT * FROM evaluations WHERE name=?", (name,)).fetchone()
        return self._from_record(record) if record else None

    def latest_for_run(self, run: str) -> StoredEvaluation | None:
        with self._lock:
            if not self._has_tables():
                return None
            record = self._db.execute("SELECT * FROM evaluations WHERE run=? ORDER BY created_at DESC, rowid DESC"
                                      " LIMIT 1", (run,)).fetchone()
        return self._from_record(record) if record else None

    def list_for_flow(self, flow: str, limit: int = 20) -> list[StoredEvaluation]:
        """Newest first."""
        return self._newest_where("flow", flow, limit)

    def list_for_run(self, run: str, limit: int = 20) -> list[StoredEvaluation]:
        """Newest first."""
        return self._newest_where("run", run, limit)

    def list_for_content(self, content_hash: str, limit: int = 20) -> list[StoredEvaluation]:
        """Newest first: the evaluations of runs of exactly this flow content (a version's evidence)."""
        with self._lock:
            if not self._has_tables():
                return []
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(evaluations)")}
        if "content_hash" not in columns:  # a store of before lineage, opened read-only
            return []
        return self._newest_where("content_hash", content_hash, limit)

    def list_for_data(self, data: str, limit: int = 20) -> list[StoredEvaluation]:
        """Newest first."""
        return self._newest_where("data", data, limit)

    def _newest_where(self, column: str, value: str, limit: int) -> list[StoredEvaluation]:
        # `column` is one of our own column names, never caller text: the value is a parameter.
        with self._lock:
            if not self._has_tables():
                return []
            records = self._db.execute(f"SELECT * FROM evaluations WHERE {column}=?"
                                       " ORDER BY created_at DESC, rowid DESC LIMIT ?", (value, limit)).fetchall()
        return [self._from_record(r) for r in records]

    def row_count(self, evaluation: str) -> int:
        with self._lock:
            if not self._has_tables():
                return 0
            return self._db.execute("SELECT COUNT(DISTINCT line) FROM eval_scores WHERE evaluation=?",
                                    (evaluation,)).fetchone()[0]

    def known_names(self) -> tuple[list[str], list[str], list[str]]:
        """(every run, the runs that have an evaluation, every evaluation), for did-you-mean
        messages; runs newest first."""
        with self._lock:
            runs = [r[0] for r in self._db.execute("SELECT name FROM runs ORDER BY created_at DESC")]
            if not self._has_tables():
                return runs, [], []
            evaluations = self._db.execute("SELECT name, run FROM evaluations ORDER BY created_at DESC").fetchall()
        evaluated = list(dict.fromkeys(r["run"] for r in evaluations))
        return runs, evaluated, [r["name"] for r in evaluations]

    def scores(self, evaluation: str, *, details: bool = True, first_rows: int | None = None) -> list[RowScores]:
        """Row scores in line order. `details=False` skips the details JSON (raw judge answers,
        findings): the editor's lenses do not need them and reading them is most of the cost.
        `first_rows`: only the rows with the lowest lines (the results panel's bounded list)."""
        columns = "*" if details else "line, data_line, evaluator, value, passed, reason, error, cost, tokens"
        query, args = f"SELECT {columns} FROM eval_scores WHERE evaluation=?", [evaluation]
        if first_rows is not None:
            query += (" AND line IN (SELECT DISTINCT line FROM eval_scores WHERE evaluation=?"
                      " ORDER BY line LIMIT ?)")
            args += [evaluation, max(0, int(first_rows))]
        with self._lock:
            records = self._db.execute(query + " ORDER BY line, rowid", args).fetchall()
        rows: dict[int, RowScores] = {}
        for r in records:
            row = rows.setdefault(r["line"], RowScores(r["line"], {}, r["data_line"]))
            row.scores[r["evaluator"]] = Score(
                value=r["value"], passed=None if r["passed"] is None else bool(r["passed"]), reason=r["reason"] or "",
                error=r["error"], details=json.loads(r["details"]) if details and r["details"] else {}, cost=r["cost"],
                tokens=r["tokens"])
        return list(rows.values())
