"""Batches whose rows run in worker processes (`workers=N`): the same stored results, order and
failed rows as one process; a worker that dies stops the run with a clear error and loses no
row (a resume does the rest, each remaining row once). Real openai client, real fake server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys

import pytest

from promptwise.engine.batch import run_batch
from promptwise.engine.errors import FlowError
from promptwise.engine.providers import RetryPolicy
from promptwise.store import RunStore

from engine_flows import ONE_LLM_NODE_FLOW
from test_batch import asked, data_file

FAST_RETRY = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=5)

# An llm node, then a Python node that kills its process on the row "die" while die.marker exists.
DYING_FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${shout.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          api: chat
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {answer: "${chat.output}", question: "${inputs.question}"}
    """,
    "flow/chat.jinja2": "user:\n{{question}}\n",
    "flow/shout.py": """
        import os
        from pathlib import Path

        from promptflow.core import tool


        @tool
        def shout(answer: str, question: str) -> str:
            if question == "die" and Path(__file__).with_name("die.marker").exists():
                os._exit(3)
            return answer.upper()
    """,
}


def stored_rows(root, run: str) -> dict[int, tuple]:
    with RunStore(root / ".promptwise") as store:
        return {row.line: (row.status, row.outputs, row.error, row.total_tokens) for row in store.get_rows(run)}


async def test_workers_store_what_one_process_stores(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    workspace.server.inject("server_error", count=None, match="poison")
    data = data_file(root, 30, text=lambda i: "poison" if i == 11 else f"question {i}")
    with data.open("a") as file:
        file.write("{not json\n")  # line 31: a malformed row fails, the run goes on
    progress = []
    many = await run_batch(root / "flow", data, name="many", workers=2, concurrency=8, use_cache=False,
                           retry=FAST_RETRY, on_progress=progress.append)
    one = await run_batch(root / "flow", data, name="one", concurrency=8, use_cache=False, retry=FAST_RETRY)
    assert (many.status, many.rows, many.completed, many.failed) == ("completed", 31, 29, 2)
    assert (one.completed, one.failed, one.tokens) == (many.completed, many.failed, many.tokens)
    assert stored_rows(root, "many") == stored_rows(root, "one")
    failed = stored_rows(root, "many")
    assert "data.jsonl line 12" in failed[11][2] and "server error (HTTP 500)" in failed[11][2]
    assert failed[30][0] == "failed" and "data.jsonl line 31" in failed[30][2]
    lines = [json.loads(line) for line in open(many.outputs_path)]
    assert [line["line_number"] for line in lines] == [i for i in range(30) if i != 11]
    assert lines[5]["answer"] == "echo: question 5"
    assert progress[-1].done == 31 and progress[-1].failed == 2 and progress[-1].retries >= 1
    assert many.cpu_seconds > 0
    with RunStore(root / ".promptwise") as store:
        assert store.get_run("many").parameters["workers"] == 2


async def test_a_dying_worker_stops_the_run_and_resume_does_each_remaining_row_once(workspace):
    root = workspace(DYING_FLOW)
    (root / "flow" / "die.marker").write_text("")
    data = data_file(root, 24, text=lambda i: "die" if i == 15 else f"question {i}")
    first = await run_batch(root / "flow", data, name="dies", workers=2, concurrency=4, use_cache=False)
    assert first.status == "failed"
    assert "worker process" in first.error and "exited with code 3" in first.error
    assert "promptwise batch --resume dies" in first.error
    done_before = stored_rows(root, "dies")
    assert 15 not in done_before and all(status == "completed" for status, *_ in done_before.values())
    before = asked(workspace.server)

    (root / "flow" / "die.marker").unlink()
    resumed = await run_batch(resume="dies", workspace_path=root)  # with the run's own 2 workers
    assert (resumed.status, resumed.completed, resumed.failed, resumed.rows) == ("completed", 24, 0, 24)
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == 0 for line in done_before)  # finished rows never redone
    assert all(after[f"question {line}"] == 1 for line in range(24) if line not in done_before and line != 15)
    assert stored_rows(root, "dies")[15][1] == {"answer": "ECHO: DIE"}


async def test_a_worker_that_cannot_start_is_explained(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    with pytest.raises(FlowError, match="worker process 1 exited while starting"):
        await run_batch(root / "flow", data_file(root, 4), name="nostart", workers=2, use_cache=False,
                        worker_setup="promptwise.no_such_module:setup")
    assert not asked(workspace.server)


async def test_workers_must_be_at_least_one(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    with pytest.raises(FlowError, match="--workers must be at least 1"):
        await run_batch(root / "flow", data_file(root, 2), workers=0)


def test_cli_workers_trace_every_row_and_print_the_run(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    data_file(root, 12)
    batch = subprocess.run([sys.executable, "-m", "promptwise", "batch", "flow", "--data", "data.jsonl", "--name",
                            "cli-workers", "--workers", "2", "--no-cache", "--no-progress", "--format", "json"],
                           cwd=root, capture_output=True, text=True, timeout=300)
    assert batch.returncode == 0, batch.stderr
    result = json.loads(batch.stdout)
    assert (result["status"], result["completed"], result["failed"]) == ("completed", 12, 0)
    assert sorted(asked(workspace.server)) == sorted(f"question {i}" for i in range(12))
    with sqlite3.connect(root / ".promptwise" / "traces.sqlite") as traces:  # written by the workers
        rows = traces.execute("SELECT count(*) FROM traces WHERE run_id = ?", ("cli-workers",)).fetchone()[0]
    assert rows == 12


def test_cli_refuses_workers_below_one(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    data_file(root, 2)
    batch = subprocess.run([sys.executable, "-m", "promptwise", "batch", "flow", "--data", "data.jsonl",
                            "--workers", "0"], cwd=root, capture_output=True, text=True, timeout=120)
    assert batch.returncode == 2 and "--workers" in batch.stderr and "Traceback" not in batch.stderr


async def test_cancel_with_workers_then_resume_does_each_remaining_row_once(workspace):
    root = workspace(ONE_LLM_NODE_FLOW)
    workspace.server.latency = 0.05
    cancel = asyncio.Event()

    def progress(snapshot):
        if snapshot.done >= 10:
            cancel.set()

    first = await run_batch(root / "flow", data_file(root, 40), name="stopped", workers=2, concurrency=4,
                            use_cache=False, on_progress=progress, cancel=cancel)
    assert first.status == "canceled" and 10 <= first.completed < 40
    done_before = set(stored_rows(root, "stopped"))
    before = asked(workspace.server)
    resumed = await run_batch(resume="stopped", workspace_path=root)
    assert (resumed.status, resumed.completed, resumed.rows) == ("completed", 40, 40)
    after = asked(workspace.server) - before
    assert all(after[f"question {line}"] == 0 for line in done_before)
    assert all(after[f"question {line}"] == 1 for line in range(40) if line not in done_before)
