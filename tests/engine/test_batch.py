"""Batch runs: concurrency bound, failures recorded, retries, cache, column mapping, chaining,
cancel and resume, and a run killed with SIGKILL resumed to exactly one result per row."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from promptwise.engine.batch import run_batch
from promptwise.engine.errors import FlowError
from promptwise.engine.providers import RetryPolicy
from promptwise.store import RunStore

from engine_flows import ONE_LLM_NODE_FLOW

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, timeout=5)

FLOW = ONE_LLM_NODE_FLOW


def data_file(root, count: int, name: str = "data.jsonl", text=lambda i: f"question {i}"):
    path = root / name
    path.write_text("".join(json.dumps({"question": text(i), "id": i}) + "\n" for i in range(count)))
    return path


def asked(server) -> collections.Counter:
    return collections.Counter(r.body["messages"][-1]["content"] for r in server.requests if r.fault is None)


async def test_bounded_concurrency_and_outputs_file(workspace):
    root = workspace(FLOW)
    workspace.server.latency = 0.1
    snapshots = []
    result = await run_batch(root / "flow", data_file(root, 30), concurrency=5, use_cache=False,
                             on_progress=snapshots.append)
    assert (result.status, result.completed, result.failed, result.rows) == ("completed", 30, 0, 30)
    assert workspace.server.stats.peak_in_flight == 5
    assert snapshots[-1].done == 30 and snapshots[-1].tokens == result.tokens["total"] > 0
    lines = [json.loads(line) for line in open(result.outputs_path)]
    assert [line["line_number"] for line in lines] == list(range(30))
    assert lines[7]["answer"] == "echo: question 7"


async def test_failing_rows_recorded_and_run_goes_on(workspace):
    root = workspace(FLOW)
    workspace.server.inject("server_error", count=None, match="poison")
    workspace.server.inject("rate_limit", count=2, retry_after=0.05, match="question 1$")
    retries = []
    result = await run_batch(root / "flow", data_file(root, 6, text=lambda i: "poison" if i == 3 else f"question {i}"),
                             use_cache=False, retry=FAST_RETRY, on_progress=lambda p: retries.append(p.retries))
    assert (result.status, result.completed, result.failed) == ("completed", 5, 1)
    assert retries[-1] >= 2 + 2  # two 429s on line 1, two retried 500s on line 3
    with RunStore(root / ".promptwise") as store:
        [failed] = store.get_rows(result.run, status="failed")
        assert failed.line == 3 and "server error (HTTP 500)" in failed.error and "after 3 attempts" in failed.error
        assert store.get_rows(result.run)[1].outputs == {"answer": "echo: question 1"}


async def test_cache_makes_repeat_free_and_no_cache_calls_again(workspace):
    root = workspace(FLOW)
    data = data_file(root, 8)
    await run_batch(root / "flow", data)
    assert workspace.server.stats.requests == 8
    again = await run_batch(root / "flow", data)
    assert workspace.server.stats.requests == 8 and again.cost == 0.0 and again.completed == 8
    with RunStore(root / ".promptwise") as store:
        assert store.get_run(again.run).cache_hits == 8
    await run_batch(root / "flow", data, use_cache=False)
    assert workspace.server.stats.requests == 16


async def test_csv_with_column_mapping_and_chaining_runs(workspace):
    root = workspace(FLOW)
    (root / "data.csv").write_text('id,text\n1,"first, with comma"\n2,second\n')
    first = await run_batch(root / "flow", root / "data.csv", column_mapping=["question=${data.text}"], name="first")
    assert first.completed == 2
    chained = await run_batch(root / "flow", None, source_run="first", name="second",
                              column_mapping={"question": "${run.outputs.answer}"})
    with RunStore(root / ".promptwise") as store:
        outputs = [row.outputs["answer"] for row in store.get_rows("second")]
    assert outputs == ["echo: echo: first, with comma", "echo: echo: second"]


async def test_bad_mapping_is_explained_before_any_call(workspace):
    root = workspace(FLOW)
    with pytest.raises(FlowError, match=r"data.jsonl has no column `nope` \(columns: `question`, `id`\)"):
        await run_batch(root / "flow", data_file(root, 2), column_mapping=["question=${data.nope}"])
    assert workspace.server.stats.requests == 0


async def test_cancel_then_resume_does_each_remaining_row_once(workspace):
    root = workspace(FLOW)
    workspace.server.latency = 0.05
    cancel = asyncio.Event()

    def progress(snapshot):
        if snapshot.done >= 10:
            cancel.set()

    first = await run_batch(root / "flow", data_file(root, 40), name="resumable", concurrency=4, use_cache=False,
                            on_progress=progress, cancel=cancel)
    assert first.status == "canceled" and 10 <= first.completed < 40
    with RunStore(root / ".promptwise") as store:
        done_before = store.done_lines("resumable")
    before = asked(workspace.server)
    resumed = await run_batch(resume="resumable", workspace_path=root)
    assert (resumed.status, resumed.completed, resumed.rows) == ("completed", 40, 40)
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == 0 for line in done_before)  # finished rows never redone
    assert all(after[f"question {line}"] == 1 for line in range(40) if line not in done_before)


def test_resume_of_unknown_or_complete_run_is_explained(workspace):
    root = workspace(FLOW)
    with pytest.raises(FlowError, match="no runs in"):
        asyncio.run(run_batch(resume="nope", workspace_path=root))
    asyncio.run(run_batch(root / "flow", data_file(root, 2), name="done"))
    with pytest.raises(FlowError, match="already complete"):
        asyncio.run(run_batch(resume="done", workspace_path=root))
    with pytest.raises(FlowError, match="no such run"):
        asyncio.run(run_batch(resume="nope", workspace_path=root))


def _rows_done(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM rows WHERE run='crash'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_half_way_then_resume_gives_exactly_one_result_per_row(workspace):
    root = workspace(FLOW)
    workspace.server.latency = 0.05
    rows = 120
    data_file(root, rows)
    command = [sys.executable, "-m", "promptwise", "batch", "flow", "--data", "data.jsonl", "--name", "crash",
               "--concurrency", "4", "--no-cache", "--no-progress"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db_path = root / ".promptwise" / "runs.sqlite"
    deadline = time.time() + 60
    while _rows_done(db_path) < rows // 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = _rows_done(db_path)
    assert rows // 3 <= killed_at < rows, "the batch must be killed half way"
    with RunStore(root / ".promptwise", readonly=True) as store:
        done_before = store.done_lines("crash")
        # The store still says running; readers see the process is gone.
        assert store.get_run("crash").status == "interrupted"
    before = asked(workspace.server)

    resumed = subprocess.run([sys.executable, "-m", "promptwise", "batch", "--resume", "crash", "--no-progress"],
                             cwd=root, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "120/120 rows completed" in resumed.stdout
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == 0 for line in done_before)
    assert all(after[f"question {line}"] == 1 for line in range(rows) if line not in done_before)
    with RunStore(root / ".promptwise", readonly=True) as store:
        stored = store.get_rows("crash")
        assert [row.line for row in stored] == list(range(rows))
        assert all(row.status == "completed" and row.outputs == {"answer": f"echo: question {row.line}"}
                   for row in stored)
        assert store.get_run("crash").status == "completed"
        outputs_file = store.outputs_path("crash")
    numbers = [json.loads(line)["line_number"] for line in outputs_file.read_text().splitlines()]
    assert numbers == list(range(rows))  # the outputs JSONL has each row exactly once, in order


async def test_resume_with_retry_failed_redoes_only_failed_rows(workspace):
    root = workspace(FLOW)
    workspace.server.inject("server_error", count=None, match="question 2$")
    first = await run_batch(root / "flow", data_file(root, 4), name="flaky", use_cache=False, retry=FAST_RETRY)
    assert (first.completed, first.failed) == (3, 1)
    with pytest.raises(FlowError, match="add --retry-failed"):
        await run_batch(resume="flaky", workspace_path=root)
    workspace.server.clear_faults()
    before = asked(workspace.server)
    again = await run_batch(resume="flaky", retry_failed=True, workspace_path=root)
    assert (again.completed, again.failed) == (4, 0)
    assert asked(workspace.server) - before == collections.Counter({"question 2": 1})


async def test_row_timeout_fails_the_row_and_the_run_goes_on(workspace):
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs: {question: {type: string}}
            outputs: {answer: {reference: "${slow.output}"}}
            nodes:
            - {name: slow, type: python, source: {type: code, path: slow.py}, inputs: {q: "${inputs.question}"}}
        """,
        "flow/slow.py": (
            "import asyncio\nfrom promptflow.core import tool\n\n@tool\nasync def slow(q: str) -> str:\n"
            "    if q.endswith('1'):\n        await asyncio.sleep(30)\n    return q\n"),
    })
    result = await run_batch(root / "flow", data_file(root, 3), row_timeout=0.5)
    assert (result.completed, result.failed) == (2, 1)
    with RunStore(root / ".promptwise") as store:
        assert "timed out after 0.5 s" in store.get_rows(result.run, status="failed")[0].error
