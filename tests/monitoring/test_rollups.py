"""Hourly rollups: figures read from them match the exact ones (sums exactly, percentiles within
the stated histogram error), and stay right as traces are added and as retention deletes them."""

from __future__ import annotations

import random

import pytest

from promptwise.monitoring import aggregates, rollups
from promptwise.monitoring.aggregates import Selection, figures
from promptwise.monitoring.source import open_traces
from promptwise.tracing.store import SpanStore

NOW = 1_765_000_000 * 10**9 + 1234 * 10**6  # a fixed clock, not on an hour boundary
HOUR = 3600.0


@pytest.fixture(autouse=True)
def rollups_for_any_window(monkeypatch):
    """Use the rollups for small test stores too (by default only windows of 50k+ requests)."""
    monkeypatch.setattr(aggregates, "EXACT_BELOW", 1)


def traffic(request_spans, count: int, *, oldest_s: float, newest_s: float, seed: int) -> list:
    rng = random.Random(seed)
    return [request_spans(
        flow=rng.choice(("triage", "summary")), version=rng.choice(("v1", "v2")),
        consumer=rng.choice(("billing", "ops", None)), run_id="batch-1" if rng.random() < 0.1 else None,
        duration_ms=round(rng.lognormvariate(6.0, 0.8), 1), age_s=rng.uniform(newest_s, oldest_s),
        status="error" if rng.random() < 0.05 else "ok", cache_hit=rng.random() < 0.2,
        cost=None if rng.random() < 0.1 else rng.uniform(0.0001, 0.01), input_tokens=rng.randrange(10, 500),
        streamed_ttft_ms=round(rng.uniform(5, 400), 1) if rng.random() < 0.3 else None, now_ns=NOW)
        for _ in range(count)]


def assert_match(connection, selection: Selection, by: str, *, now_ns: int = NOW) -> list:
    exact = {(g.flow, g.key): g for g in figures(connection, selection, by=by, exact=True)}
    rolled = {(g.flow, g.key): g for g in figures(connection, selection, by=by, now_ns=now_ns)}
    assert exact and rolled.keys() == exact.keys()
    for name, want in exact.items():
        got = rolled[name]
        assert got.percentile_error == pytest.approx(rollups.RELATIVE_ERROR, abs=1e-5)
        for field in ("requests", "errors", "streams", "input_tokens", "output_tokens", "llm_calls", "cache_hits",
                      "first_ns", "last_ns"):
            assert getattr(got, field) == getattr(want, field), (name, field)
        assert got.cost_usd == pytest.approx(want.cost_usd)
        for figure in ("latency_ms", "time_to_first_token_ms"):
            for p, value in getattr(want, figure).items():
                if value is None:
                    assert getattr(got, figure)[p] is None
                else:
                    assert getattr(got, figure)[p] == pytest.approx(value, rel=rollups.RELATIVE_ERROR + 1e-9, abs=1e-3)
    return list(rolled.values())


def test_every_bucket_reads_back_within_the_stated_error():
    for ms in [0, 1, 2, 3, *range(4, 200_000, 7)]:
        shown = rollups.value(rollups.bucket(ms))
        assert abs(shown - ms) <= rollups.RELATIVE_ERROR * ms + 1e-9
    assert rollups.RELATIVE_ERROR < 0.01


def test_rollup_figures_match_exact_ones_for_every_grouping_and_window(request_spans, workspace):
    root, write = workspace
    write(traffic(request_spans, 1500, oldest_s=50 * HOUR, newest_s=10, seed=1))
    connection = open_traces(root)
    windows = [Selection(), Selection(since_ns=NOW - int(26.5 * HOUR * 1e9)),
               Selection(since_ns=NOW - int(30.2 * HOUR * 1e9), until_ns=NOW - int(3.7 * HOUR * 1e9), flow="triage"),
               Selection(consumer="ops", version="v2")]
    for selection in windows:
        for by in aggregates.GROUPINGS:
            assert_match(connection, selection, by)
    # The settled hours really came from the rollups: they hold every trace older than an hour.
    rolled = connection.execute("SELECT sum(requests) FROM monitor_rollups").fetchone()[0]
    settled = connection.execute("SELECT count(*) FROM traces WHERE start_ns < ?",
                                 (rollups.hour_floor(NOW - rollups.SETTLE_NS),)).fetchone()[0]
    assert rolled == settled > 1000
    connection.close()


def test_later_runs_add_only_new_hours_and_count_new_traces(request_spans, workspace):
    root, write = workspace
    write(traffic(request_spans, 600, oldest_s=30 * HOUR, newest_s=10, seed=2))
    connection = open_traces(root)
    assert_match(connection, Selection(), "version")
    built = dict(connection.execute("SELECT hour_ns, requests FROM monitor_rollups WHERE flow = 'triage' "
                                    "AND version = 'v1' AND consumer = 'billing'").fetchall())
    # Five hours later: new traffic in those hours, plus a late trace in the still-unsettled window.
    later = NOW + int(5 * HOUR * 1e9)
    write(traffic(request_spans, 400, oldest_s=0, newest_s=-5 * HOUR + 10, seed=3))
    groups = assert_match(connection, Selection(), "consumer", now_ns=later)
    assert sum(g.requests for g in groups) == 1000
    again = dict(connection.execute("SELECT hour_ns, requests FROM monitor_rollups WHERE flow = 'triage' "
                                    "AND version = 'v1' AND consumer = 'billing' AND hour_ns < ?",
                                    (max(built) + 1,)).fetchall())
    assert again == built  # hours rolled up before were not touched
    until = int(connection.execute("SELECT value FROM meta WHERE key = 'monitor.rollups_until_ns'").fetchone()[0])
    assert until == rollups.hour_floor(later - rollups.SETTLE_NS)
    connection.close()


def test_retention_drops_the_rollups_of_deleted_traces(request_spans, workspace):
    root, write = workspace
    write(traffic(request_spans, 800, oldest_s=40 * HOUR, newest_s=10, seed=4))
    connection = open_traces(root)
    assert_match(connection, Selection(), "flow")
    store = SpanStore.for_workspace(root)
    assert store.delete_older_than(20.5 / 24, now=NOW / 1e9) > 100
    store.close()
    groups = assert_match(connection, Selection(), "flow")
    assert sum(g.requests for g in groups) == connection.execute(
        "SELECT count(*) FROM traces WHERE kind IN ('request', 'flow')").fetchone()[0]
    connection.close()


def test_small_windows_and_exact_requests_read_every_row(request_spans, workspace, monkeypatch):
    root, write = workspace
    write(traffic(request_spans, 300, oldest_s=10 * HOUR, newest_s=10, seed=5))
    connection = open_traces(root)
    monkeypatch.setattr(aggregates, "EXACT_BELOW", 50_000)
    assert all(g.percentile_error == 0.0 for g in figures(connection, Selection(), now_ns=NOW))
    monkeypatch.setattr(aggregates, "EXACT_BELOW", 1)
    assert all(g.percentile_error == 0.0 for g in figures(connection, Selection(), exact=True, now_ns=NOW))
    assert all(g.percentile_error > 0.0 for g in figures(connection, Selection(), now_ns=NOW))
    connection.close()


def test_cli_says_when_percentiles_come_from_rollups_and_exact_reads_every_row(request_spans, workspace, capsys):
    from promptwise.cli import main

    root, write = workspace
    write(traffic(request_spans, 200, oldest_s=10 * HOUR, newest_s=2 * HOUR, seed=6))
    assert main(["monitor", "--workspace", str(root), "--since", "3000d"]) == 0
    assert "percentiles from hourly rollups: within 1.0%" in capsys.readouterr().out
    assert main(["monitor", "--workspace", str(root), "--since", "3000d", "--exact"]) == 0
    text = capsys.readouterr().out
    assert "200 requests" in text and "rollups" not in text


def test_a_read_only_store_uses_current_rollups_and_reads_exactly_when_hours_are_missing(request_spans, workspace):
    from promptwise.store.schema import connect
    from promptwise.tracing.store import SCHEMA, SCHEMA_VERSION, store_path

    root, write = workspace
    write(traffic(request_spans, 300, oldest_s=10 * HOUR, newest_s=10, seed=7))
    writable = open_traces(root)
    figures(writable, Selection(), now_ns=NOW)  # builds the rollups up to NOW's settled hour
    writable.close()
    readonly = connect(store_path(root), readonly=True, schema=SCHEMA, version=SCHEMA_VERSION)
    assert all(g.percentile_error > 0.0 for g in figures(readonly, Selection(), now_ns=NOW))
    later = NOW + int(3 * HOUR * 1e9)  # hours to add, but the store cannot be written
    assert all(g.percentile_error == 0.0 for g in figures(readonly, Selection(), now_ns=later))
    readonly.close()
