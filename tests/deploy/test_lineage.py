"""Runs and evaluations record the content hash of the flow they ran (the evidence a packaged
version carries), and run stores made before lineage gain the column when opened."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from types import SimpleNamespace

from promptwise.documents.content_hash import flow_content_hash
from promptwise.engine.batch import run_batch
from promptwise.engine.runner import run_flow
from promptwise.evaluation.results_store import EvalStore
from promptwise.store.run_store import RunStore
from promptwise.store.schema import SCHEMA


def test_single_and_batch_runs_record_the_flows_content_hash_and_evaluations_inherit_it(workspace):
    expected = flow_content_hash(workspace / "triage")
    asyncio.run(run_flow(workspace / "triage", name="one"))
    asyncio.run(run_batch(workspace / "triage", workspace / "triage" / "data.jsonl", name="many"))
    state = workspace / ".promptwise"
    with RunStore(state) as store:
        assert store.get_run("many").status == "completed"
        assert store.get_run("one").content_hash == expected
        assert store.get_run("many").content_hash == expected
        assert [r.name for r in store.list_runs(content_hash=expected)] == ["many", "one"]
        assert store.list_runs(content_hash="sha256:other") == []
    result = SimpleNamespace(evaluators=[], metrics={"m": {"mean": 1.0}}, summary={"rows": 2}, rows=[])
    with EvalStore(state) as evals:
        name = evals.save("many", result, flow=str(workspace / "triage"), config=None, data=None)
        assert evals.get(name).content_hash == expected
        assert [e.name for e in evals.list_for_content(expected)] == [name]
    # An edit to a behaviour file changes the hash: the next run is not evidence for the old one.
    (workspace / "triage" / "chat.jinja2").write_text("system:\nAnswer in French.\nuser:\n{{question}}\n")
    asyncio.run(run_flow(workspace / "triage", name="two"))
    with RunStore(state) as store:
        assert store.get_run("two").content_hash not in (None, expected)
        assert [r.name for r in store.list_runs(content_hash=expected)] == ["many", "one"]


def test_a_store_made_before_lineage_gains_the_columns_and_keeps_its_runs(tmp_path):
    state = tmp_path / ".promptwise"
    state.mkdir()
    old = sqlite3.connect(state / "runs.sqlite")
    # Version 1's schema: today's without the lineage column.
    version1 = re.sub(r"source_run TEXT,(.*)\n\s*content_hash TEXT[^\n]*", r"source_run TEXT \1", SCHEMA)
    old.executescript(version1)
    old.executescript("""
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO runs(name, flow, kind, status, created_at) VALUES ('old', '/f', 'batch', 'completed', 1.0);
        CREATE TABLE evaluations (name TEXT PRIMARY KEY, run TEXT NOT NULL, flow TEXT, config TEXT, data TEXT,
            created_at REAL NOT NULL, evaluators TEXT NOT NULL, metrics TEXT NOT NULL, summary TEXT NOT NULL);
        INSERT INTO evaluations VALUES ('old.eval1', 'old', '/f', NULL, NULL, 2.0, '[]', '{}', '{}');
    """)
    assert "content_hash" not in {row[1] for row in old.execute("PRAGMA table_info(runs)")}
    old.commit()
    old.close()
    # Read-only readers of an old store see no hash and no error.
    with RunStore(state, readonly=True) as store:
        assert store.get_run("old").content_hash is None
        assert store.list_runs(content_hash="sha256:x") == []
    with EvalStore(state, readonly=True) as evals:
        assert evals.get("old.eval1").content_hash is None
        assert evals.list_for_content("sha256:x") == []
    with RunStore(state) as store:
        assert store.get_run("old").status == "completed"
        store.create_run("new", "/f", content_hash="sha256:abc")
        assert [r.name for r in store.list_runs(content_hash="sha256:abc")] == ["new"]
    with EvalStore(state) as evals:
        assert evals.get("old.eval1").content_hash is None
    check = sqlite3.connect(state / "runs.sqlite")
    assert check.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    columns = {row[1] for row in check.execute("PRAGMA table_info(evaluations)")}
    assert "content_hash" in columns
    check.close()


def test_a_new_store_has_the_lineage_column_and_its_index(tmp_path):
    with RunStore(tmp_path / ".promptwise"):
        pass
    check = sqlite3.connect(tmp_path / ".promptwise" / "runs.sqlite")
    indexes = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "runs_by_content" in indexes
    assert check.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    check.close()
