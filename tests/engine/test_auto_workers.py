"""`workers="auto"` (the CLI's default): a batch starts in one process and moves the rows left to
worker processes only when it is CPU-bound with idle cores and enough rows left; it says so,
and every row is still stored exactly once. Real openai client, real fake server."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from promptwise.engine import auto_workers
from promptwise.engine.auto_workers import CpuProbe
from promptwise.engine.batch import run_batch
from promptwise.store import RunStore

from test_batch import data_file


@dataclass
class Clocks:
    """What the probe reads, moved by hand: wall and process CPU seconds, idle core-seconds."""

    wall: float = 100.0
    cpu: float = 10.0
    idle: float | None = 1000.0

    def perf_counter(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.cpu


@pytest.fixture
def clocks(monkeypatch):
    clocks = Clocks()
    monkeypatch.setattr(auto_workers, "time", clocks)
    monkeypatch.setattr(auto_workers, "_idle_core_seconds", lambda: clocks.idle)
    return clocks


# (cores, busy share of a core, idle cores, rows done in the 2 s, rows left) -> workers or None
CASES = [
    pytest.param(2, 0.97, 1.0, 4000, 100_000, 2, id="cpu-bound, a core idle, long run: 2 workers"),
    pytest.param(8, 0.95, 6.5, 4000, 100_000, 7, id="6.5 idle cores: this one and 6 more"),
    pytest.param(2, 0.30, 1.0, 400, 100_000, None, id="waiting on the endpoint: stays"),
    pytest.param(2, 0.97, 0.2, 4000, 100_000, None, id="no idle core (a local endpoint on it): stays"),
    pytest.param(2, 0.97, 1.0, 4000, 1000, None, id="too few rows left to pay for start-up: stays"),
    pytest.param(1, 0.99, 0.0, 4000, 100_000, None, id="one core: stays"),
]


@pytest.mark.parametrize("cores, busy, idle_cores, rows, left, expected", CASES)
def test_probe_moves_only_cpu_bound_batches_with_idle_cores_and_rows_left(clocks, cores, busy, idle_cores, rows,
                                                                           left, expected):
    probe = CpuProbe(cores)
    clocks.wall += 2.0
    clocks.cpu += busy * 2.0
    clocks.idle += idle_cores * 2.0
    decision = probe.check(rows, left)
    assert (decision.workers if decision else None) == expected
    if decision:
        assert f"{busy:.0%} of a core" in decision.reason and f"{left} rows are left" in decision.reason


def test_probe_measures_each_look_afresh(clocks):
    probe = CpuProbe(2)
    clocks.wall, clocks.cpu = clocks.wall + 2, clocks.cpu + 0.2  # waiting on the endpoint
    clocks.idle += 2.0
    assert probe.check(200, 100_000) is None
    clocks.wall, clocks.cpu = clocks.wall + 2, clocks.cpu + 1.9  # now CPU-bound: the last 2 s count
    clocks.idle += 2.0
    assert probe.check(4200, 96_000).workers == 2


def test_without_proc_the_load_average_decides_and_without_either_it_stays(clocks, monkeypatch):
    clocks.idle = None
    monkeypatch.setattr(os, "getloadavg", lambda: (1.1, 1.0, 1.0), raising=False)
    probe = CpuProbe(4)
    clocks.wall, clocks.cpu = clocks.wall + 2, clocks.cpu + 1.9
    assert probe.check(4000, 100_000).workers == 4  # 4 cores, load 1.1 (this batch): 2.9 idle, 3 more
    monkeypatch.delattr(os, "getloadavg")
    clocks.wall, clocks.cpu = clocks.wall + 2, clocks.cpu + 1.9
    assert probe.check(8000, 96_000) is None  # Windows: cannot tell, stays in one process


# A python node that tells which process ran the row; until the batch has moved to worker
# processes (switched.marker) it is slow, so the rows cannot run out before the move.
PID_FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          pid: {reference: "${where.output}"}
        nodes:
        - name: where
          type: python
          source: {type: code, path: where.py}
          inputs: {question: "${inputs.question}"}
    """,
    "flow/where.py": """
        import os
        import time
        from pathlib import Path

        from promptflow.core import tool


        @tool
        def where(question: str) -> int:
            if not Path(__file__).with_name("switched.marker").exists():
                time.sleep(0.1)
            return os.getpid()
    """,
}


async def test_auto_moves_a_cpu_bound_batch_to_worker_processes_and_says_so(workspace, monkeypatch):
    root = workspace(PID_FLOW)
    # Every look finds the batch CPU-bound with a core to spare (the probe's own rules are above).
    monkeypatch.setattr(auto_workers, "PROBE_SECONDS", 0.1)
    monkeypatch.setattr(auto_workers, "BUSY", 0.0)
    monkeypatch.setattr(auto_workers, "SPARE_CORES", 0.0)
    monkeypatch.setattr(auto_workers, "MIN_WORK_SECONDS", 0.0)
    monkeypatch.setattr(auto_workers, "usable_cores", lambda: 2)
    notices = []

    def notice(message: str) -> None:
        notices.append(message)
        if message.startswith("rows now run in"):
            (root / "flow" / "switched.marker").write_text("")

    result = await run_batch(root / "flow", data_file(root, 400), name="auto", workers="auto", concurrency=4,
                             use_cache=False, on_notice=notice)
    assert (result.status, result.completed, result.failed) == ("completed", 400, 0)
    assert len(notices) == 2
    assert notices[0].startswith("the batch is CPU-bound (") and "starting 2 worker processes" in notices[0]
    assert notices[1] == "rows now run in 2 worker processes"
    with RunStore(root / ".promptwise") as store:
        rows = store.get_rows("auto")
        assert store.get_run("auto").parameters["workers"] == "auto"  # a resume probes again
    assert sorted(row.line for row in rows) == list(range(400))  # each row once
    pids = [row.outputs["pid"] for row in sorted(rows, key=lambda row: row.line)]
    assert pids[0] == os.getpid()  # the first rows ran here
    assert len(set(pids) - {os.getpid()}) >= 1  # the last ones in worker processes


async def test_auto_keeps_a_batch_waiting_on_its_endpoint_in_one_process(workspace, monkeypatch):
    root = workspace(PID_FLOW)
    (root / "flow" / "switched.marker").write_text("")
    monkeypatch.setattr(auto_workers, "PROBE_SECONDS", 0.05)
    notices = []
    workspace.server.latency = 0.05
    result = await run_batch(root / "flow", data_file(root, 30), workers="auto", concurrency=2, use_cache=False,
                             on_notice=notices.append)
    assert (result.status, result.completed) == ("completed", 30) and notices == []
    with RunStore(root / ".promptwise") as store:
        assert {row.outputs["pid"] for row in store.get_rows(result.run)} == {os.getpid()}
