"""Batch data is streamed: memory stays bounded whatever the file's length, while the row count,
malformed-row messages (file:line), column checks before any call, and resume (stored rows
skipped) work as before."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from promptwise.engine.batch import _not_done, run_batch
from promptwise.engine.data import DataRow, iter_data, survey_data
from promptwise.engine.errors import FlowError
from promptwise.store import RunStore

PYTHON_FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {type: string, reference: "${echo.output}"}
        nodes:
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {q: "${inputs.question}"}
    """,
    "flow/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(q: str) -> str:
            return q[:12]
    """,
}


def jsonl(path, count: int, width: int = 40):
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps({"question": f"q{i} " + "x" * width, "id": i}) + "\n")
    return path


def peak_bytes(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_a_file_takes_memory_independent_of_its_length(tmp_path):
    small, large = jsonl(tmp_path / "small.jsonl", 1_000), jsonl(tmp_path / "large.jsonl", 30_000)

    def read(path):
        def action():
            survey = survey_data(path)
            assert survey.rows == survey.readable and survey.columns == ["question", "id"]
            assert sum(1 for _ in _not_done(iter_data(path), iter(range(0, survey.rows, 2)))) == survey.rows // 2
        return action

    small_peak, large_peak = peak_bytes(read(small)), peak_bytes(read(large))
    # Held whole, 30,000 rows would take over 10 MB; streamed, the peak is one row and buffers.
    assert large_peak < 1_000_000 and large_peak < small_peak * 2 + 200_000, (small_peak, large_peak)


async def test_a_batch_of_big_rows_runs_in_bounded_memory(workspace):
    root = workspace(PYTHON_FLOW)
    # 200 rows of 100 KB (20 MB): held in memory as before, the peak would pass 20 MB.
    data = jsonl(root / "big.jsonl", 200, width=100_000)
    result = None

    async def run():
        nonlocal result
        result = await run_batch(root / "flow", data, concurrency=4)

    tracemalloc.start()
    try:
        await run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.status, result.rows, result.completed) == ("completed", 200, 200)
    assert peak < 8_000_000, peak


async def test_malformed_rows_count_and_fail_alone_with_their_line(workspace):
    root = workspace(PYTHON_FLOW)
    data = root / "data.jsonl"
    data.write_text('{"question": "a"}\n\n{"question": \n[1, 2]\n{"question": "d"}\n')
    result = await run_batch(root / "flow", data)
    assert (result.rows, result.completed, result.failed) == (4, 2, 2)
    with RunStore(root / ".promptwise") as store:
        errors = {row.line: row.error for row in store.get_rows(result.run, status="failed")}
    assert errors[1].startswith("data.jsonl line 3: invalid JSON")
    assert errors[2].startswith("data.jsonl line 4: expected a JSON object, got list")


async def test_columns_are_checked_before_any_row_runs(workspace):
    root = workspace(PYTHON_FLOW)
    data = root / "data.csv"
    data.write_text("questoin,id\n" + "".join(f"q{i},{i}\n" for i in range(50)))
    with pytest.raises(FlowError, match="no column `question`.*did you mean `questoin`"):
        await run_batch(root / "flow", data)
    with RunStore(root / ".promptwise") as store:
        assert store.list_runs() == []


async def test_an_unreadable_line_late_in_the_file_fails_before_any_row(workspace):
    root = workspace(PYTHON_FLOW)
    data = root / "data.csv"
    data.write_bytes(b"question,id\n" + b"".join(b"q%d,%d\n" % (i, i) for i in range(3000)) + b"\xff\xfe,1\n")
    with pytest.raises(FlowError, match="cannot read the data file"):
        await run_batch(root / "flow", data)
    with RunStore(root / ".promptwise") as store:
        assert store.list_runs() == []


async def test_resume_skips_stored_rows_while_streaming(workspace):
    root = workspace(PYTHON_FLOW)
    data = jsonl(root / "data.jsonl", 300, width=5)
    first = await run_batch(root / "flow", data, name="big", concurrency=8)
    with RunStore(root / ".promptwise") as store:
        db = store._db  # drop every third stored row, as a run killed part way would have left them
        db.execute("DELETE FROM rows WHERE run='big' AND line % 3 = 1")
        db.execute("UPDATE runs SET status='failed' WHERE name='big'")
        db.commit()
        # the stored lines are walked in order, a chunk at a time, across chunk boundaries
        assert list(store.iter_done_lines("big", chunk=7)) == [line for line in range(300) if line % 3 != 1]
    resumed = await run_batch(resume="big", workspace_path=root)
    assert first.completed == 300 and resumed.completed == 300 and resumed.rows == 300
    with RunStore(root / ".promptwise") as store:
        rows = store.get_rows("big")
        assert store.get_run("big").status == "completed"
    assert [row.line for row in rows] == list(range(300))
    assert all(row.outputs == {"answer": f"q{row.line} xxxxx"[:12]} for row in rows)
    assert len((root / ".promptwise" / "runs" / "big" / "outputs.jsonl").read_text().splitlines()) == 300


def test_not_done_walks_stored_lines_beside_the_rows():
    rows = [DataRow(i, i + 1, {"question": str(i)}) for i in range(10)]
    kept = [row.index for row in _not_done(iter(rows), iter([0, 3, 4, 9, 12]))]
    assert kept == [1, 2, 5, 6, 7, 8]
