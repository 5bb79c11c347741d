"""Figures per flow and version / consumer / day over a span store written by its own writer."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from promptwise.cli import main
from promptwise.monitoring.aggregates import Selection, figures, percentiles
from promptwise.monitoring.source import open_traces


def nearest_rank(values, q):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_percentiles_are_nearest_rank_over_the_histogram():
    values = [5, 1, 3, 3, 9, 7, 2, 8, 8, 8, 4]
    histogram = [(v, values.count(v)) for v in set(values)]
    result = percentiles(histogram)
    assert result == {"p50": nearest_rank(values, 0.5), "p95": nearest_rank(values, 0.95),
                      "p99": nearest_rank(values, 0.99)}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


def test_figures_per_version_count_errors_latency_tokens_cost_and_cache(request_spans, workspace):
    root, write = workspace
    durations = [float(d) for d in range(100, 1100, 10)]  # 100 requests, 100..1090 ms
    write([request_spans(version="v1", duration_ms=d, status="error" if i % 10 == 0 else "ok", cache_hit=i % 4 == 0)
           for i, d in enumerate(durations)]
          + [request_spans(version="v2", duration_ms=50.0, cost=None) for _ in range(3)])
    connection = open_traces(root)
    groups = {g.key: g for g in figures(connection, Selection(), by="version")}
    v1, v2 = groups["v1"], groups["v2"]
    assert (v1.requests, v1.errors, v2.requests, v2.errors) == (100, 10, 3, 0)
    assert v1.error_rate == pytest.approx(0.1)
    assert v1.latency_ms == {"p50": nearest_rank(durations, 0.5), "p95": nearest_rank(durations, 0.95),
                             "p99": nearest_rank(durations, 0.99)}
    assert v1.input_tokens == 100 * 100 and v1.output_tokens == 100 * 10
    assert v1.cost_usd == pytest.approx(0.1) and v2.cost_usd is None
    assert (v1.llm_calls, v1.cache_hits) == (100, 25)
    connection.close()


def test_time_to_first_token_only_for_streams_and_window_filters(request_spans, workspace):
    root, write = workspace
    write([request_spans(streamed_ttft_ms=float(t)) for t in (20, 40, 60, 80)]
          + [request_spans() for _ in range(4)]
          + [request_spans(age_s=3 * 86400)])  # outside a 24h window
    connection = open_traces(root)
    import time
    [group] = figures(connection, Selection(since_ns=time.time_ns() - 86400 * 10**9), by="flow")
    assert group.requests == 8 and group.streams == 4
    assert group.time_to_first_token_ms["p50"] == 40.0 and group.time_to_first_token_ms["p99"] == 80.0
    [everything] = figures(connection, Selection(), by="flow")
    assert everything.requests == 9
    connection.close()


def test_grouping_by_consumer_puts_batch_rows_apart(request_spans, workspace):
    root, write = workspace
    write([request_spans(consumer="billing") for _ in range(2)] + [request_spans(consumer="claims")]
          + [request_spans(run_id="nightly") for _ in range(3)])
    connection = open_traces(root)
    groups = {g.key: g.requests for g in figures(connection, Selection(), by="consumer")}
    assert groups == {"billing": 2, "claims": 1, "(batch)": 3}
    only = figures(connection, Selection(consumer="claims"), by="consumer")
    assert [(g.key, g.requests) for g in only] == [("claims", 1)]
    connection.close()


def test_cli_json_text_and_html(request_spans, workspace, capsys, tmp_path):
    root, write = workspace
    write([request_spans(flow="triage", duration_ms=200.0), request_spans(flow="triage", status="error"),
           request_spans(flow="summary", duration_ms=900.0), request_spans(flow="<b>odd</b>")])
    assert main(["monitor", "triage", "--workspace", str(root), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["totals"]["requests"] == 2 and document["totals"]["errors"] == 1
    assert [g["flow"] for g in document["groups"]] == ["triage"]
    assert main(["monitor", "--workspace", str(root), "--by", "day"]) == 0
    text = capsys.readouterr().out
    assert "summary" in text and "triage" in text and "4 requests" in text
    page = tmp_path / "monitor.html"
    assert main(["monitor", "--workspace", str(root), "--format", "html", "--out", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "<svg" in html
    assert "<b>odd</b>" not in html and "&lt;b&gt;odd&lt;/b&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html


def test_cli_without_traces_and_bad_options(tmp_path, capsys):
    (tmp_path / "promptwise.yaml").write_text("{}\n")
    assert main(["monitor", "--workspace", str(tmp_path)]) == 0
    assert "no traces yet" in capsys.readouterr().out
    assert main(["monitor", "--workspace", str(tmp_path), "--format", "html"]) != 0
    assert "--out" in capsys.readouterr().err
    assert main(["monitor", "--workspace", str(tmp_path), "--since", "yesterday-ish"]) != 0
    assert "--since" in capsys.readouterr().err


def test_chargeback_is_each_consumers_cost_per_utc_day(request_spans, workspace, capsys):
    import time

    root, write = workspace
    midnight = (time.time_ns() // (86400 * 10**9)) * 86400 * 10**9
    today, yesterday = (time.strftime("%Y-%m-%d", time.gmtime(ns / 1e9)) for ns in (midnight, midnight - 86400e9))
    write([request_spans(consumer="billing", cost=0.25, now_ns=midnight + 60 * 10**9, age_s=0) for _ in range(2)]
          + [request_spans(consumer="billing", cost=1.0, now_ns=midnight, age_s=3600)]
          + [request_spans(consumer="claims", cost=0.5, now_ns=midnight + 60 * 10**9, age_s=0)])
    connection = open_traces(root)
    cost = {g.key: g.cost_usd for g in figures(connection, Selection(), by="consumer-day")}
    connection.close()
    assert cost == pytest.approx({f"billing {yesterday}": 1.0, f"billing {today}": 0.5, f"claims {today}": 0.5})
    assert main(["monitor", "--workspace", str(root), "--since", "3d", "--by", "consumer-day"]) == 0
    text = capsys.readouterr().out
    assert f"billing {yesterday}" in text and "CONSUMER-DAY" in text
