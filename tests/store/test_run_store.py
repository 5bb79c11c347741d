"""The run store: writes are whole rows, readers see totals, concurrent readers work."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from promptwise.engine.secrets import register_secret
from promptwise.store import NodeResult, RowResult, RunStore


def llm(node: str, prompt: int, completion: int, cost: float | None = 0.001, **kwargs) -> NodeResult:
    return NodeResult(node, "completed", output=f"{node} says hi", model="gpt-4o-mini", prompt_tokens=prompt,
                      completion_tokens=completion, total_tokens=prompt + completion, cost=cost,
                      latency_ms=50.0, attempts=1, **kwargs)


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / ".promptwise") as opened:
        yield opened


def test_rows_and_totals(store):
    store.create_run("r1", "/w/flow", data="/w/data.jsonl", total_rows=3, variants={"summarize": "variant_1"})
    store.record_row("r1", RowResult(0, "completed", {"q": "a"}, {"answer": "A"},
                                     nodes=[llm("chat", 10, 5), NodeResult("post", "completed", "A")], latency_ms=60))
    store.record_row("r1", RowResult(1, "completed", {"q": "b"}, {"answer": "B"}, nodes=[llm("chat", 20, 7)],
                                     latency_ms=80))
    store.record_row("r1", RowResult(2, "failed", {"q": "c"}, error="rate limited after 6 attempts",
                                     nodes=[NodeResult("chat", "failed", error="rate limited")]))
    run = store.get_run("r1")
    assert (run.rows_completed, run.rows_failed, run.rows_done, run.total_rows) == (2, 1, 3, 3)
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (30, 12, 42)
    assert run.cost == pytest.approx(0.002)
    assert run.variants == {"summarize": "variant_1"} and run.status == "running"
    assert store.done_lines("r1") == {0, 1, 2}
    assert [r.outputs for r in store.get_rows("r1", status="completed")] == [{"answer": "A"}, {"answer": "B"}]
    assert store.get_rows("r1", status="failed")[0].error == "rate limited after 6 attempts"
    nodes = store.get_node_results("r1", line=0)
    assert [(n.node, n.status) for n in nodes] == [("chat", "completed"), ("post", "completed")]


def test_unknown_price_makes_cost_unknown_but_keeps_known_part(store):
    store.create_run("r", "/w/flow")
    store.record_row("r", RowResult(0, "completed", {}, {}, nodes=[llm("a", 1, 1, cost=0.5)]))
    store.record_row("r", RowResult(1, "completed", {}, {}, nodes=[llm("a", 1, 1, cost=None)]))
    run = store.get_run("r")
    assert run.cost is None and run.cost_known == pytest.approx(0.5)


def test_finish_rewrites_outputs_jsonl_in_line_order_without_duplicates(store):
    store.create_run("r", "/w/flow")
    for line in (2, 0, 1, 0):  # line 0 written twice, as after a crash between commit and resume
        store.record_row("r", RowResult(line, "completed", {}, {"n": line}))
    store.finish_run("r", "completed")
    lines = [json.loads(l) for l in store.outputs_path("r").read_text().splitlines()]
    assert lines == [{"line_number": 0, "n": 0}, {"line_number": 1, "n": 1}, {"line_number": 2, "n": 2}]
    run = store.get_run("r")
    assert run.status == "completed" and run.finished_at is not None


def test_aggregation_metrics_and_list_order(store):
    store.create_run("old", "/w/flow")
    store.create_run("new", "/w/flow")
    store.record_aggregation("new", [NodeResult("aggregate", "completed", {"accuracy": 0.5})], {"accuracy": 0.5})
    assert store.get_run("new").metrics == {"accuracy": 0.5}
    assert [r.name for r in store.list_runs()] == ["new", "old"]
    assert store.latest_run("/w/flow").name == "new"
    assert store.list_runs(flow="/elsewhere") == []


def test_node_stats_average_output_tokens(store):
    store.create_run("r1", "/w/flow")
    store.create_run("r2", "/w/other")
    store.record_row("r1", RowResult(0, "completed", {}, {}, nodes=[llm("chat", 10, 4)]))
    store.record_row("r1", RowResult(1, "completed", {}, {}, nodes=[llm("chat", 10, 8)]))
    store.record_row("r1", RowResult(2, "failed", {}, nodes=[NodeResult("chat", "failed", error="x")]))
    store.record_row("r2", RowResult(0, "completed", {}, {}, nodes=[llm("chat", 10, 100)]))
    [stats] = store.node_stats("/w/flow")
    assert (stats.node, stats.calls, stats.avg_completion_tokens, stats.max_completion_tokens, stats.failures) == \
        ("chat", 2, 6.0, 8, 1)
    assert store.average_output_tokens("/w/flow", "chat") == 6.0
    assert store.average_output_tokens("/w/flow", "missing") is None


def test_duplicate_run_name_refused(store):
    store.create_run("r", "/w/flow")
    with pytest.raises(sqlite3.IntegrityError):
        store.create_run("r", "/w/flow")


def test_secrets_never_stored(store, tmp_path):
    secret = "sk-store-secret-98765"
    register_secret(secret)
    store.create_run("r", "/w/flow", parameters={"note": f"key {secret}"})
    store.record_row("r", RowResult(0, "failed", {"q": secret}, error=f"401 for key {secret}",
                                    nodes=[NodeResult("chat", "failed", error=f"bad {secret}")]))
    store.record_row("r", RowResult(1, "completed", {}, {"echo": secret}))
    store.finish_run("r", "failed", error=f"boom {secret}")
    store.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_reader_sees_rows_while_writer_writes(tmp_path):
    writer = RunStore(tmp_path / ".promptwise")
    writer.create_run("r", "/w/flow")
    reader = RunStore(tmp_path / ".promptwise", readonly=True)
    seen = []

    def read() -> None:
        for _ in range(50):
            seen.append(reader.get_run("r").rows_done)

    thread = threading.Thread(target=read)
    thread.start()
    for line in range(200):
        writer.record_row("r", RowResult(line, "completed", {}, {"n": line}))
    thread.join()
    assert reader.get_run("r").rows_done == 200
    assert seen == sorted(seen)  # never a partial or shrinking view
    writer.close()
    reader.close()


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("parameters, expected", [
    ("alive", "running"),  # this very process: a live run
    ("dead", "interrupted"),  # killed (kill -9) before it could record its end
    ("dead elsewhere", "running"),  # another host's process: cannot tell, so say what the store says
    ("no owner", "running"),  # runs stored before owners were recorded
])
def test_running_run_whose_process_is_gone_reads_as_interrupted(store, parameters, expected):
    import os
    import socket

    owner = {"alive": {"pid": os.getpid(), "host": socket.gethostname()},
             "dead": {"pid": _dead_pid(), "host": socket.gethostname()},
             "dead elsewhere": {"pid": _dead_pid(), "host": "some-other-host"},
             "no owner": {}}[parameters]
    store.create_run("r", "/w/flow", parameters=owner)
    assert store.get_run("r").status == expected
    assert store.list_runs()[0].status == expected
    store.finish_run("r", "completed")
    assert store.get_run("r").status == "completed"  # only running runs are checked


def test_outputs_jsonl_has_each_finished_row_before_the_run_ends(store):
    store.create_run("live", "/w/flow")
    store.record_row("live", RowResult(3, "completed", {}, {"answer": "A", "line_number": 99, "n": [1, 2]}))
    store.record_row("live", RowResult(4, "completed", {}, {}))
    store.record_row("live", RowResult(5, "failed", {}, error="boom"))
    lines = [json.loads(line) for line in store.outputs_path("live").read_text().splitlines()]
    # as the rewrite at the end would write them: the row's own keys win, failed rows are left out
    assert lines == [{"line_number": 99, "answer": "A", "n": [1, 2]}, {"line_number": 4}]
    assert lines[0] == {"line_number": 3, **{"answer": "A", "line_number": 99, "n": [1, 2]}}


def test_secret_with_json_escaped_characters_is_masked_in_stored_values(store, tmp_path):
    secret = 'pw"quoted\\secret-4242'
    register_secret(secret)
    store.create_run("q", "/w/flow")
    store.record_row("q", RowResult(0, "completed", {"q": f"use {secret}"}, {"echo": {"nested": [secret]}}))
    store.finish_run("q", "completed")
    stored = store.get_rows("q")[0]
    assert stored.inputs == {"q": "use ***"} and stored.outputs == {"echo": {"nested": ["***"]}}
    store.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and json.dumps(secret)[1:-1].encode() not in data, path


@pytest.mark.parametrize("latencies", [[], [42.0], [10.0, 30.0], [float(v) for v in (7, 1, 9, 3, 3, 12, 250, 5, 8)]])
def test_latency_percentiles_match_statistics_quantiles(store, latencies):
    import statistics

    store.create_run("r", "/w/flow", total_rows=len(latencies) + 1)
    for line, latency in enumerate(latencies):
        store.record_row("r", RowResult(line, "completed", {}, {}, latency_ms=latency))
    store.record_row("r", RowResult(len(latencies), "failed", {}, error="x", latency_ms=10_000.0))  # not counted
    run = store.get_run("r")
    if not latencies:
        assert (run.latency_p50_ms, run.latency_p95_ms) == (None, None)
    elif len(latencies) == 1:
        assert run.latency_p50_ms == run.latency_p95_ms == latencies[0]
    else:
        expected = statistics.quantiles(latencies, n=100, method="inclusive")
        assert run.latency_p50_ms == pytest.approx(expected[49])
        assert run.latency_p95_ms == pytest.approx(expected[94])
