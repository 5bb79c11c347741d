"""Grouped commits of finished rows (engine/row_writer.py): a row counts as done only once stored;
groups are committed when full, after the wait, on cancel and Ctrl-C; a failed commit is raised,
not lost; a run killed mid-group resumes running only the rows its store does not hold."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from promptwise.engine import row_writer
from promptwise.engine.batch import run_batch
from promptwise.engine.row_writer import RowWriter
from promptwise.store import RunStore
from promptwise.store.run_store import NodeResult, RowResult

from engine_flows import ONE_LLM_NODE_FLOW
from test_batch import asked, data_file


def _row(line: int) -> RowResult:
    return RowResult(line, "completed", {"question": f"q{line}"}, {"answer": f"a{line}"},
                     nodes=[NodeResult("chat", "completed", f"a{line}")])


def _stored_lines(state_dir, run: str) -> list[int]:
    with sqlite3.connect(f"file:{state_dir / 'runs.sqlite'}?mode=ro", uri=True) as db:
        return [line for (line,) in db.execute("SELECT line FROM rows WHERE run=? ORDER BY line", (run,))]


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / ".promptwise") as store:
        store.create_run("r", "flow.dag.yaml", total_rows=10)
        yield store


async def test_full_group_is_one_commit_and_rows_count_only_once_stored(store):
    counted = []

    def on_stored(row):  # when a row is reported done, another reader already sees it stored
        assert row.line in _stored_lines(store.state_dir, "r")
        counted.append(row.line)

    writer = RowWriter(store, "r", on_stored, max_rows=3, max_wait=3600)
    writer.add(_row(0))
    writer.add(_row(1))
    assert counted == [] and _stored_lines(store.state_dir, "r") == []
    writer.add(_row(2))
    assert counted == [0, 1, 2]
    writer.add(_row(3))
    writer.flush()  # the end of a run: what waits is stored
    assert counted == [0, 1, 2, 3] == _stored_lines(store.state_dir, "r")
    assert [r.line for r in store.get_rows("r")] == [0, 1, 2, 3]
    assert RowWriter(store, "r", print, in_flight=4).max_rows == 4  # waiting rows: no more than running ones
    assert RowWriter(store, "r", print, in_flight=1000).max_rows == row_writer.MAX_ROWS
    assert [n.output for n in store.get_node_results("r")] == ["a0", "a1", "a2", "a3"]
    assert store.outputs_path("r").read_text().splitlines()[3] == '{"line_number": 3, "answer": "a3"}'


async def test_a_group_not_full_is_committed_after_the_wait(store):
    counted = []
    writer = RowWriter(store, "r", lambda row: counted.append(row.line), max_rows=100, max_wait=0.01)
    writer.add(_row(5))
    assert counted == []
    for _ in range(500):  # the loop's timer commits it: no flush called
        if counted:
            break
        await asyncio.sleep(0.01)
    assert counted == [5] == _stored_lines(store.state_dir, "r")


async def test_a_failed_commit_stores_nothing_and_is_raised_by_the_next_call(store, tmp_path):
    store.create_run("other", "flow.dag.yaml")
    with RunStore(tmp_path / ".promptwise", readonly=True) as readonly:  # a real write failure
        counted = []
        writer = RowWriter(readonly, "r", lambda row: counted.append(row.line), max_rows=100, max_wait=0.01)
        writer.add(_row(1))
        for _ in range(500):
            if writer._failure is not None:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(sqlite3.OperationalError):
            writer.add(_row(2))
        with pytest.raises(sqlite3.OperationalError):
            RowWriter(readonly, "r", counted.append, max_rows=1).add(_row(3))
    assert counted == [] and _stored_lines(store.state_dir, "r") == []


@pytest.fixture
def long_groups(monkeypatch):
    """Groups that are only committed when the run stops (none fills, no timer fires)."""
    monkeypatch.setattr(row_writer, "group_size", lambda in_flight: 10_000)
    monkeypatch.setattr(row_writer, "MAX_WAIT", 3600)


async def test_cancel_stores_the_waiting_group_and_resume_does_each_other_row_once(workspace, long_groups):
    root = workspace(ONE_LLM_NODE_FLOW)
    workspace.server.latency = 0.02
    cancel = asyncio.Event()
    progress = []

    def on_progress(snapshot):
        progress.append(snapshot.done)
        if workspace.server.stats.requests >= 10:
            cancel.set()

    first = await run_batch(root / "flow", data_file(root, 40), name="grouped", concurrency=4, use_cache=False,
                            on_progress=on_progress, cancel=cancel)
    assert first.status == "canceled" and 6 <= first.completed < 40  # 10 asked, at most 4 in flight
    assert set(progress[:-1]) == {0}  # nothing was reported done before its group was stored
    assert progress[-1] == first.completed == len(_stored_lines(root / ".promptwise", "grouped"))
    with RunStore(root / ".promptwise") as store:
        done_before = store.done_lines("grouped")
    before = asked(workspace.server)
    resumed = await run_batch(resume="grouped", workspace_path=root)
    assert (resumed.status, resumed.completed) == ("completed", 40)
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == 0 for line in done_before)
    assert all(after[f"question {line}"] == 1 for line in range(40) if line not in done_before)


async def test_ctrl_c_stores_the_waiting_group_before_the_run_is_marked_canceled(workspace, long_groups):
    root = workspace(ONE_LLM_NODE_FLOW)
    workspace.server.latency = 0.02
    task = asyncio.ensure_future(run_batch(root / "flow", data_file(root, 200), name="interrupted", concurrency=4,
                                           use_cache=False))
    for _ in range(1000):
        if workspace.server.stats.requests >= 12:
            break
        await asyncio.sleep(0.01)
    task.cancel()  # what asyncio.run does on Ctrl-C
    with pytest.raises(asyncio.CancelledError):
        await task
    with RunStore(root / ".promptwise") as store:
        info = store.get_run("interrupted")
        assert info.status == "canceled" and info.rows_completed >= 8  # the finished rows were kept
        done_before = store.done_lines("interrupted")
    before = asked(workspace.server)
    resumed = await run_batch(resume="interrupted", workspace_path=root)
    assert (resumed.status, resumed.completed) == ("completed", 200)
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == (line not in done_before) for line in range(200))


# The CLI, with groups of 5 rows and no timer: a kill lands with finished rows not yet committed.
GROUPS_OF_FIVE = """
import runpy, sys
import promptwise.engine.row_writer as row_writer
row_writer.group_size, row_writer.MAX_WAIT = (lambda in_flight: 5), 3600
sys.argv = ["promptwise", *sys.argv[1:]]
runpy.run_module("promptwise", run_name="__main__", alter_sys=True)
"""


def test_sigkill_mid_group_then_resume_runs_only_the_uncommitted_rows(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    workspace.server.latency = 0.03
    rows = 100
    data_file(root, rows)
    process = subprocess.Popen([sys.executable, "-c", GROUPS_OF_FIVE, "batch", "flow", "--data", "data.jsonl",
                                "--name", "crash", "--concurrency", "4", "--no-cache", "--no-progress"],
                               cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        try:
            if len(_stored_lines(root / ".promptwise", "crash")) >= 30:
                break
        except sqlite3.OperationalError:
            pass  # not created yet
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stored = _stored_lines(root / ".promptwise", "crash")
    assert 30 <= len(stored) < rows and len(stored) % 5 == 0  # whole groups only
    asked_before_kill = asked(workspace.server)
    lost = [line for line in range(rows) if asked_before_kill[f"question {line}"] and line not in stored]
    resumed = subprocess.run([sys.executable, "-m", "promptwise", "batch", "--resume", "crash", "--no-progress"],
                             cwd=root, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    again = asked(workspace.server) - asked_before_kill
    assert all(again[f"question {line}"] == 0 for line in stored)  # committed rows are never re-run
    assert all(again[f"question {line}"] == 1 for line in range(rows) if line not in stored)
    assert all(again[f"question {line}"] == 1 for line in lost)  # finished, not committed: run again once
    with RunStore(root / ".promptwise", readonly=True) as store:
        assert [row.line for row in store.get_rows("crash", status="completed")] == list(range(rows))
    assert collections.Counter(again.values()) == collections.Counter({1: rows - len(stored)})
